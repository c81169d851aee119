"""`invoke run` on a terminal: the row's progress lines (SPEC.md §6) as a live bar, its log lines above it.

Elsewhere (a pipe, a log file, CI) the runner copies the row's lines as they come (executor.Echo):
progress lines are plain logfmt lines already.
"""

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnist_runner.executor import Echo, PROGRESS

STAGES = {"start": "starting", "data": "reading {dataset}", "warmup": "compiling (warm-up)"}


class Live(Echo):
    """One bar for the row: what it is doing, then batch k of n of epoch e with the running loss."""

    def __init__(self, row: str, console: Console | None = None):
        super().__init__()
        self.row = row
        self.console = console or Console(stderr=True)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[loss]}"), TimeElapsedColumn(), console=self.console,
                            transient=True)
        self.task = self.bar.add_task(f"{row}: launching", total=None, loss="")

    def __enter__(self):
        self.bar.start()
        return self

    def __exit__(self, *exc):
        self.bar.stop()

    def line(self, stream: str, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip("\n")
        if stream == "stderr" and text.startswith(PROGRESS):
            return  # progress() shows it in the bar
        if stream == "stdout" and not sys.stdout.isatty():
            super().line(stream, line)  # `invoke run … > log`: the log lines go to the file, unchanged
            return
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)  # above the bar

    def progress(self, record: dict) -> None:
        stage = record.get("stage")
        if stage == "train":
            self.bar.update(self.task, description=f"{self.row}: epoch {record['epoch']}/{record['epochs']}",
                            total=record["batches"], completed=record["batch"], loss=f"loss {record['loss']:.4f}")
        elif stage in STAGES:
            self.bar.update(self.task, description=f"{self.row}: " + STAGES[stage].format(**record), total=None,
                            completed=0, loss="")
