"""Shared fixtures: where the data is, and how to run a row and parse what it printed."""

import fcntl
import gzip
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from mnist_runner import ROOT, kernels, normalize
from mnist_runner.registry import Project


# Tests check behaviour, not speed (that is the benchmarks' job), and run rows side by side on
# pytest-xdist workers: one thread per row keeps thread pools from fighting over the cores. The tests
# that a thread count can change (the accuracy bar, determinism) run the rows as users do: threads=None.
SINGLE_THREADED = kernels.SINGLE_THREAD_ENV

# `MNIST_KERNELS=avx2 invoke test` runs every row on the kernels an AVX2-only machine runs (on an
# AVX-512 machine), so one machine can check both kernel families (mnist_runner/kernels.py).
KERNELS = kernels.family_env(os.environ.get("MNIST_KERNELS") or "native")


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


_built: set[str] = set()


def build_once(project: Project) -> None:
    """Build a row once per test process; a file lock keeps parallel workers from building it together."""
    if project.name in _built:
        return
    with open(Path(tempfile.gettempdir()) / f"mnist-build-{project.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for command in project.build_commands:
            built = subprocess.run(project.argv(command), cwd=project.directory, capture_output=True, text=True)
            assert built.returncode == 0, f"{project.name}: build failed:\n{built.stdout}{built.stderr}"
    _built.add(project.name)


def row_environment(project: Project, threads: int | None = 1) -> dict:
    """The environment a test runs a row in: the chosen kernel family; one thread, or (None) the defaults."""
    return {**os.environ, **KERNELS, **kernels.thread_env(threads), **project.env()}


def run_row(project: Project, *args, data_root: Path | None = None, timeout: float = 900,
            threads: int | None = 1) -> Result:
    """Run a row the way the runner does (built, from the repository root) and parse its stdout."""
    build_once(project)
    environment = row_environment(project, threads)
    if data_root is not None:
        environment["MNIST_DATA_DIR"] = str(data_root)
    completed = subprocess.run(project.argv(project.run_command) + [str(a) for a in args], cwd=ROOT,
                               env=environment, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
    return Result(completed.returncode, completed.stdout, completed.stderr, normalize.parse_log(completed.stdout))



@pytest.fixture(scope="session")
def test_images(data_root):
    """The 10,000 MNIST test images, uint8 [n, 28, 28]."""
    raw = gzip.decompress((data_root / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
