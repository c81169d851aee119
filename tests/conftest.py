"""Shared fixtures: where the data is, how to run a row, and what each row's tests cost."""

import fcntl
import os
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

from mnist_runner import executor, kernels
from mnist_runner.registry import Project

# Tests check behaviour, not speed (that is the benchmarks' job), and run rows side by side on
# pytest-xdist workers: one thread per row keeps thread pools from fighting over the cores. The tests
# that a thread count can change (the accuracy bar, determinism) run the rows as users do: threads=None.
SINGLE_THREADED = kernels.SINGLE_THREAD_ENV

# `MNIST_KERNELS=avx2 invoke test` runs every row on the kernels an AVX2-only machine runs (on an
# AVX-512 machine), so one machine can check both kernel families (mnist_runner/kernels.py).
KERNELS = kernels.family_env(os.environ.get("MNIST_KERNELS") or "native")

Result = executor.Completed

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


# A run on every core (threads=None) beside another worker's run oversubscribes the cores, and thread
# pools that spin while they wait (OpenMP's, by default) then slow down threefold and more: measured,
# the PyTorch row's tests took 507 worker-seconds beside other rows and 159 alone. So such a run takes
# the machine for itself (an exclusive lock), single-threaded runs share it (a shared lock), and the
# time spent waiting for the lock is not counted as the row's cost.
CORES_LOCK = Path(tempfile.gettempdir()) / "mnist-tests-cores.lock"
_waited = [0.0]


def run_row(project: Project, *args, data_root: Path | None = None, timeout: float = 900,
            threads: int | None = 1) -> Result:
    """Run a row as the runner does (executor.launch: built, from the repository root) on the chosen kernels."""
    build_once(project)
    env = {**KERNELS, **kernels.thread_env(threads)}
    if data_root is not None:
        env["MNIST_DATA_DIR"] = str(data_root)
    with open(CORES_LOCK, "w") as lock:
        asked = time.perf_counter()
        fcntl.flock(lock, fcntl.LOCK_EX if threads is None else fcntl.LOCK_SH)
        _waited[0] += time.perf_counter() - asked
        return executor.launch(project, args, env=env, timeout=timeout)


# ---------------------------------------------------------------- what each row's tests cost

ROW_KEY, WAITED_KEY = "row", "waited for the cores"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Tag each phase's report of a row's test (the `project` parameter) with the row and the time its
    runs waited for the cores, so that the controller can add up the row's cost (xdist sends both)."""
    outcome = yield
    report = outcome.get_result()
    project = getattr(getattr(item, "callspec", None), "params", {}).get("project")
    if isinstance(project, Project):
        report.user_properties.append((ROW_KEY, project.name))
        report.user_properties.append((WAITED_KEY, _waited[0]))
    _waited[0] = 0.0


_cost: dict[str, float] = defaultdict(float)
_count: dict[str, int] = defaultdict(int)


def pytest_runtest_logreport(report):
    properties = dict(report.user_properties)
    row = properties.get(ROW_KEY)
    if row is not None:
        # setup (the shared runs a fixture makes), call and teardown, less waiting for the cores
        _cost[row] += report.duration - properties.get(WAITED_KEY, 0.0)
        if report.when == "call":
            _count[row] += 1


def pytest_terminal_summary(terminalreporter):
    """The conformance suite's cost per row (the README's test budget): seconds of worker time, all phases."""
    if not _cost:
        return
    write = terminalreporter.write_line
    terminalreporter.section("conformance cost per row (worker seconds)")
    for row, seconds in sorted(_cost.items(), key=lambda item: -item[1]):
        write(f"{row:<12} {seconds:7.1f} s  {_count[row]:3d} tests")
    total = sum(_cost.values())
    write(f"{'all rows':<12} {total:7.1f} s  ({total / len(_cost):.1f} s per row on average)")


@pytest.fixture(scope="session")
def test_images(data_root):
    """The 10,000 MNIST test images, uint8 [n, 28, 28]."""
    from mnist_common.data import read_idx_images

    return read_idx_images(data_root / "mnist" / "t10k-images-idx3-ubyte.gz")
