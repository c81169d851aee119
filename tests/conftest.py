"""Shared fixtures: where the data is, how to run a row, and what each row's tests cost."""

import fcntl
import os
import subprocess
import tempfile
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


def run_row(project: Project, *args, data_root: Path | None = None, timeout: float = 900,
            threads: int | None = 1) -> Result:
    """Run a row as the runner does (executor.launch: built, from the repository root) on the chosen kernels."""
    build_once(project)
    env = {**KERNELS, **kernels.thread_env(threads)}
    if data_root is not None:
        env["MNIST_DATA_DIR"] = str(data_root)
    return executor.launch(project, args, env=env, timeout=timeout)


# ---------------------------------------------------------------- what each row's tests cost

ROW_KEY = "row"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Tag each test of a row (the `project` parameter) so the controller can add up its cost per row."""
    outcome = yield
    project = getattr(getattr(item, "callspec", None), "params", {}).get("project")
    if isinstance(project, Project) and not any(key == ROW_KEY for key, _ in item.user_properties):
        item.user_properties.append((ROW_KEY, project.name))
    return outcome


_cost: dict[str, float] = defaultdict(float)
_count: dict[str, int] = defaultdict(int)


def pytest_runtest_logreport(report):
    row = dict(report.user_properties).get(ROW_KEY)
    if row is not None:
        _cost[row] += report.duration  # setup (the shared runs a fixture makes), call and teardown
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
