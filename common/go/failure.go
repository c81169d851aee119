// Package contract is the SPEC.md contract for Go rows, so that a row's own file holds only the learning:
// the flags (SPEC.md §4), the IDX files (§1), the safetensors weights file (§5), the log lines on stdout and the
// progress lines on stderr (§6), errors and exit statuses (§7), and the seeded order of an epoch. A row's main is
//
//	func main() {
//		contract.Main("go", "Train the SPEC.md MLP with ...", func(args contract.Args) error {
//			contract.LogStart("go", "gonum/v0.17.0", "cpu")
//			contract.LogConfig(args)
//			splits := contract.Must(contract.LoadData(args))
//			// ... contract.LogData(splits), training, contract.LogTest(...)
//			return nil
//		})
//	}
package contract

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// Exit statuses (SPEC.md §7).
const (
	ExitInternal = 1
	ExitBadInput = 2
	ExitDiverged = 3
)

// Failure is why a run stopped early; Main turns it into one `error: ...` line and its exit status.
type Failure struct {
	Status  int
	Message string
}

func (f *Failure) Error() string { return OneLine(f.Message) }

// BadInput is a user's mistake: exit status 2.
func BadInput(format string, a ...any) error {
	return &Failure{ExitBadInput, fmt.Sprintf(format, a...)}
}

// CheckFinite ends the run with exit status 3 when an epoch's training loss is not finite (SPEC.md §3).
func CheckFinite(epoch int, trainLoss float64) error {
	if math.IsNaN(trainLoss) || math.IsInf(trainLoss, 0) {
		return &Failure{ExitDiverged, fmt.Sprintf(
			"training diverged in epoch %d: the training loss is %v; try a smaller --lr", epoch, trainLoss)}
	}
	return nil
}

// OneLine is the first line of a message, so that an error stays on one line.
func OneLine(message string) string {
	line, _, _ := strings.Cut(message, "\n")
	return strings.TrimRight(line, " \t\r")
}

// Main parses the flags (--help prints the usage with about under it), prints the start progress line, calls
// run, and exits with the contract's status: a *Failure becomes its one error line, any other error (or panic)
// an `error: internal error: ...` line with status 1.
func Main(row, about string, run func(Args) error) {
	os.Exit(execute(row, about, os.Args[1:], os.Getenv("MNIST_DATA_DIR"), run))
}

// Must returns v, or stops the row with err: Main turns a *Failure into its error line and status, like an
// error returned from the row (the standard library's Must functions, regexp.MustCompile, panic the same way).
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Check stops the row with err, unless it is nil (see Must).
func Check(err error) {
	if err != nil {
		panic(err)
	}
}

func execute(row, about string, argv []string, envDataDir string, run func(Args) error) (status int) {
	defer func() {
		caught := recover()
		var failure *Failure
		if err, isError := caught.(error); isError && errors.As(err, &failure) {
			status = fail(failure.Error(), failure.Status)
		} else if caught != nil {
			status = fail(fmt.Sprintf("internal error: %v", caught), ExitInternal)
		}
	}()
	args, help, err := ParseArgs(argv, about, envDataDir)
	if err == nil && help != "" {
		fmt.Fprint(stdout, help)
		return 0
	}
	if err == nil {
		ProgressStart(row)
		err = run(args)
	}
	var failure *Failure
	switch {
	case err == nil:
		return 0
	case errors.As(err, &failure):
		return fail(failure.Error(), failure.Status)
	default:
		return fail("internal error: "+OneLine(err.Error()), ExitInternal)
	}
}

func fail(message string, status int) int {
	fmt.Fprintln(stderr, "error: "+OneLine(message))
	return status
}
