"""Shared fixtures, and what each row's tests cost (tests/harness.py runs the rows)."""

from collections import defaultdict

import os

import pytest

from mnist_runner.registry import Project
from tests import harness

# ---------------------------------------------------------------- what each row's tests cost

ROW_KEY, WAITED_KEY, WORKER_KEY = "row", "waited for the cores", "worker"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Tag each phase's report of a row's test (the `project` parameter) with the row and the time its
    runs waited for the cores, so that the controller can add up the row's cost (xdist sends both)."""
    outcome = yield
    report = outcome.get_result()
    project = getattr(getattr(item, "callspec", None), "params", {}).get("project")
    if isinstance(project, Project):
        report.user_properties.append((ROW_KEY, project.name))
        report.user_properties.append((WAITED_KEY, harness.waited[0]))
        report.user_properties.append((WORKER_KEY, os.environ.get("PYTEST_XDIST_WORKER", "main")))
    harness.waited[0] = 0.0


_cost: dict[str, float] = defaultdict(float)
_count: dict[str, int] = defaultdict(int)
_workers: dict[str, set[str]] = defaultdict(set)


def pytest_runtest_logreport(report):
    properties = dict(report.user_properties)
    row = properties.get(ROW_KEY)
    if row is not None:
        # setup (the shared runs a fixture makes), call and teardown, less waiting for the cores
        _cost[row] += report.duration - properties.get(WAITED_KEY, 0.0)
        if report.when == "call":
            _count[row] += 1
        _workers[row].add(properties.get(WORKER_KEY, "main"))


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
    for row, workers in sorted(_split_rows().items()):
        write(f"error: {row}'s tests ran on {len(workers)} workers ({', '.join(sorted(workers))}): its shared runs "
              "ran once on each, and its cost is not the suite's (is --dist loadgroup grouping?)", red=True)


def _split_rows() -> dict[str, set[str]]:
    return {row: workers for row, workers in _workers.items() if len(workers) > 1}


def pytest_sessionfinish(session):
    """A row's tests must share one worker (its xdist_group), or its shared runs (the short run, the runs
    from the shared init) run again on every worker it lands on. pytest-xdist's --dist loadgroup has
    stopped grouping silently before (with pytest 9.2, pytest-xdist#1386), so a split fails the run."""
    if _split_rows() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def test_images(data_root):
    """The 10,000 MNIST test images, uint8 [n, 28, 28]."""
    from mnist_common.data import read_idx_images

    return read_idx_images(data_root / "mnist" / "t10k-images-idx3-ubyte.gz")
