"""The contract's progress lines (SPEC.md §6, "Progress (stderr)"): logfmt on stderr, for a person watching.

    progress.start("numpy")                  # as soon as the flags are parsed
    progress.data("mnist")                   # before the data files are read
    progress.warmup()                        # before compilation or tracing
    progress.train(epoch, epochs, batch, batches, loss)   # after every training batch

`train` prints only when at least INTERVAL seconds have passed since the previous progress line,
so a row may call it after every batch: the clock is all a batch pays for. Its `loss` (the epoch's
running mean) may be a number, a device scalar (a torch tensor, a JAX array) or a function that
returns one; it is turned into a float only for a line that is printed, so a row whose loss lives
on a GPU does not wait for it every batch.
"""

import sys
import time
from typing import Callable

INTERVAL = 0.25  # seconds between progress lines, at least: at most four a second


class Progress:
    """Prints the progress lines of one run and remembers when it printed the last."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter, interval: float = INTERVAL):
        self.clock = clock
        self.interval = interval
        self.last: float | None = None  # the clock when the previous line was printed

    def emit(self, stage: str, **fields) -> None:
        """Print one line now; keyword order is the field order."""
        parts = ["event=progress", f"stage={stage}", *(f"{key}={value}" for key, value in fields.items())]
        print(" ".join(parts), file=sys.stderr, flush=True)
        self.last = self.clock()

    def start(self, row: str) -> None:
        self.emit("start", row=row)

    def data(self, dataset: str) -> None:
        self.emit("data", dataset=dataset)

    def warmup(self) -> None:
        self.emit("warmup")

    def train(self, epoch: int, epochs: int, batch: int, batches: int, loss) -> bool:
        """Batch `batch` of `batches` (from 1) of epoch `epoch` is done; `loss` is the epoch's running mean
        loss, or a function returning it. Returns whether a line was printed."""
        if self.last is not None and self.clock() - self.last < self.interval:
            return False
        value = float(loss() if callable(loss) else loss)
        self.emit("train", epoch=epoch, epochs=epochs, batch=batch, batches=batches, loss=f"{value:.6f}")
        return True


_progress = Progress()  # the run's one progress stream; the functions below print to it
start = _progress.start
data = _progress.data
warmup = _progress.warmup
train = _progress.train
