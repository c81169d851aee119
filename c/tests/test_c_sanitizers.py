"""The C row under AddressSanitizer + UBSan and under valgrind (c/tests/run_sanitizers.sh):
a short training that saves and reloads its weights, then every bad-input case, each with
the exact exit status expected; a sanitizer report, a leak or a valgrind error changes it."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "run_sanitizers.sh"


@pytest.mark.parametrize("tool", ["asan", "valgrind"])
def test_c_row_is_clean_under(tool, data_root):
    result = subprocess.run(["bash", str(SCRIPT), tool], capture_output=True, text=True, timeout=900,
                            env={**os.environ, "MNIST_DATA_DIR": str(data_root)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
