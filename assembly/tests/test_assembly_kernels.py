"""The assembly kernels' unit tests (tests/test_kernels.c, both ISA paths) under pytest:

    pytest assembly/tests        (same as `make -C assembly test`)
"""

import platform
import subprocess
from pathlib import Path

import pytest

ROW = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the kernels are x86-64 code")
def test_kernels_match_c_reference():
    result = subprocess.run(["make", "-C", str(ROW), "--quiet", "test"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
