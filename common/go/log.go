package contract

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// Where the log lines (stdout) and the progress and error lines (stderr) go; the tests replace them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
)

// The log lines on stdout (SPEC.md §6). os.Stdout is unbuffered in Go: each line is written as it is printed.
func emit(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

// LogStart is the first line: the row, Go's version, the framework and the device.
func LogStart(row, framework, device string) {
	emit("event=start row=%s language=go/%s framework=%s device=%s", row,
		strings.TrimPrefix(runtime.Version(), "go"), framework, device)
}

// LogConfig is the flags as the row runs them.
func LogConfig(a Args) {
	emit("event=config dataset=%s epochs=%d batch_size=%d lr=%s momentum=%s seed=%d limit_train=%d shuffle=%d init=%d",
		a.Dataset, a.Epochs, a.BatchSize, pyNumber(a.LR), pyNumber(a.Momentum), a.Seed, a.LimitTrain,
		flag01(a.Shuffle), flag01(a.Init != ""))
}

// LogData is the splits' sizes and the seconds reading them took.
func LogData(s Splits) {
	emit("event=data train=%d val=%d test=%d seconds=%.3f", s.Train.Len(), s.Val.Len(), s.Test.Len(), s.Seconds)
}

// LogWarmup is compilation done before epoch 1 (rows that compile).
func LogWarmup(seconds float64) { emit("event=warmup seconds=%.3f", seconds) }

// LogEpoch is one epoch's results; seconds cover its training steps only.
func LogEpoch(epoch int, trainLoss, trainAcc, valLoss, valAcc, seconds float64) {
	emit("event=epoch epoch=%d train_loss=%.6f train_acc=%.6f val_loss=%.6f val_acc=%.6f seconds=%.3f",
		epoch, trainLoss, trainAcc, valLoss, valAcc, seconds)
}

// LogTest is the test split's results.
func LogTest(testLoss, testAcc, seconds float64) {
	emit("event=test test_loss=%.6f test_acc=%.6f seconds=%.3f", testLoss, testAcc, seconds)
}

// LogPredict is one image's class (the most probable digit, the lowest on a tie) and its ten probabilities.
func LogPredict(index int, probabilities []float32) {
	best := 0
	for d, p := range probabilities {
		if p > probabilities[best] {
			best = d
		}
	}
	var line strings.Builder
	fmt.Fprintf(&line, "event=predict index=%d class=%d", index, best)
	for d, p := range probabilities {
		fmt.Fprintf(&line, " p%d=%.6f", d, p)
	}
	emit("%s", line.String())
}

func flag01(b bool) int {
	if b {
		return 1
	}
	return 0
}

// pyNumber writes a flag's number as Python's repr() does: 0.05, 1e-05, 1000000.0.
func pyNumber(v float64) string {
	text := strconv.FormatFloat(v, 'g', -1, 64)
	if mantissa, exponent, found := strings.Cut(text, "e"); found {
		sign, digits := exponent[:1], strings.TrimLeft(exponent[1:], "0")
		if len(digits) < 2 {
			digits = strings.Repeat("0", 2-len(digits)) + digits
		}
		if v >= 1e16 || v < 1e-4 {
			return mantissa + "e" + sign + digits
		}
	}
	text = strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(text, ".") {
		text += ".0"
	}
	return text
}

// ModuleVersion is the version of a module built into this program ("v0.17.0"), for the start line's framework.
func ModuleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, module := range info.Deps {
			if module.Path == path {
				return module.Version
			}
		}
	}
	return "unknown"
}
