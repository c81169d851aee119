module mnist/go

go 1.24.0

require (
	gonum.org/v1/gonum v0.17.0
	mnist/contract v0.0.0
)

// The Go contract library lives in this repository (common/go), not in a module proxy.
replace mnist/contract => ../common/go
