"""Shared fixtures, and what each row's tests cost (tests/harness.py runs the rows)."""

from collections import defaultdict

import pytest

from mnist_runner.registry import Project
from tests import harness

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
        report.user_properties.append((WAITED_KEY, harness.waited[0]))
    harness.waited[0] = 0.0


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
