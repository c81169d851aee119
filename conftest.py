"""Fixtures for every test in the repository, the shared suite (tests/) and each row's own (<row>/tests/)."""

import os
from pathlib import Path

import pytest

from mnist_runner import ROOT


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The datasets tests train on: $MNIST_DATA_DIR (CI points it at ../shared/data), else data/."""
    root = Path(os.environ.get("MNIST_DATA_DIR") or ROOT / "data")
    if not (root / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"no MNIST data under {root}: set MNIST_DATA_DIR or run `invoke data`", pytrace=False)
    return root.resolve()
