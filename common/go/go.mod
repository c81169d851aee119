module mnist/contract

go 1.22
