"""Shared fixtures: where the data is, and how to run a row and parse what it printed."""

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mnist_runner import ROOT, normalize
from mnist_runner.registry import Project


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The datasets tests train on: $MNIST_DATA_DIR (CI points it at ../shared/data), else data/."""
    root = Path(os.environ.get("MNIST_DATA_DIR") or ROOT / "data")
    if not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"no MNIST data under {root}: set MNIST_DATA_DIR or run `invoke data`", pytrace=False)
    return root.resolve()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    records: list = field(default_factory=list)

    def last(self, event: str) -> dict:
        found = [r for r in self.records if r["event"] == event]
        assert found, f"no event={event} line in stdout:\n{self.stdout}\nstderr:\n{self.stderr[-3000:]}"
        return found[-1]

    def events(self, event: str) -> list[dict]:
        return [r for r in self.records if r["event"] == event]

    @property
    def error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_row(project: Project, *args, data_root: Path | None = None, timeout: float = 900) -> Result:
    """Run a row the way the runner does (built, from the repository root) and parse its stdout."""
    for command in project.build_commands:
        subprocess.run(project.argv(command), cwd=project.directory, check=True, capture_output=True)
    environment = {**os.environ, **project.env()}
    if data_root is not None:
        environment["MNIST_DATA_DIR"] = str(data_root)
    completed = subprocess.run(project.argv(project.run_command) + [str(a) for a in args], cwd=ROOT,
                               env=environment, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
    return Result(completed.returncode, completed.stdout, completed.stderr, normalize.parse_log(completed.stdout))
