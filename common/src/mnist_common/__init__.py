"""Plumbing shared by the Python rows, so each row's main.py holds only its framework's code.

The contract these helpers implement is SPEC.md at the repository root:
flags (cli), IDX data (data), safetensors weights (weights), log lines (log),
and the exit statuses for bad input and divergence (errors).
"""

from mnist_common.errors import DataError, Diverged, UsageError, check_finite, run_main

__all__ = ["DataError", "Diverged", "UsageError", "check_finite", "run_main"]
