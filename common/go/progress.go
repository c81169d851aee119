package contract

import (
	"fmt"
	"sync"
	"time"
)

// ProgressInterval is the least time between two train progress lines (SPEC.md §6).
const ProgressInterval = 250 * time.Millisecond

var progress struct {
	sync.Mutex
	last    time.Time
	printed bool
}

// ProgressStart is printed as soon as the flags are parsed (Main does it).
func ProgressStart(row string) { printProgress(time.Now(), "event=progress stage=start row="+row) }

// ProgressData is printed before the data files are read (LoadData does it).
func ProgressData(dataset string) {
	printProgress(time.Now(), "event=progress stage=data dataset="+dataset)
}

// ProgressWarmup is printed before compilation (rows that print a warmup line).
func ProgressWarmup() { printProgress(time.Now(), "event=progress stage=warmup") }

// ProgressTrain is called after every training batch (from 1); it prints a line only when ProgressInterval has
// passed since the previous progress line, and only then calls loss for the epoch's running mean loss.
func ProgressTrain(epoch, epochs, batch, batches int, loss func() float64) {
	progressTrainAt(time.Now(), epoch, epochs, batch, batches, loss)
}

func progressTrainAt(now time.Time, epoch, epochs, batch, batches int, loss func() float64) {
	progress.Lock()
	due := !progress.printed || now.Sub(progress.last) >= ProgressInterval
	progress.Unlock()
	if due {
		printProgress(now, fmt.Sprintf("event=progress stage=train epoch=%d epochs=%d batch=%d batches=%d loss=%.6f",
			epoch, epochs, batch, batches, loss()))
	}
}

func printProgress(now time.Time, line string) {
	progress.Lock()
	defer progress.Unlock()
	progress.last, progress.printed = now, true
	fmt.Fprintln(stderr, line)
}
