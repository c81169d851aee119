"""Fixtures for mnist_common's unit tests."""

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real datasets: $MNIST_DATA_DIR, else data/ at the repository root (`invoke data` fetches them).

    The repository's conftest.py has the same fixture; this one keeps the library's tests whole when
    pytest runs inside common/python/, where the repository's conftest is out of pytest's reach."""
    root = Path(os.environ.get("MNIST_DATA_DIR") or REPOSITORY / "data")
    if not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"no MNIST data under {root}: set MNIST_DATA_DIR or run `invoke data`", pytrace=False)
    return root.resolve()


@pytest.fixture(autouse=True)
def fresh_progress(monkeypatch):
    """Each test starts with no progress line printed yet, so the rate limit of one does not reach the next."""
    from mnist_common import progress

    monkeypatch.setattr(progress._progress, "last", None)
