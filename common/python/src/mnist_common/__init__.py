"""Plumbing shared by the Python rows, so each row's main.py holds only its framework's code.

The contract these helpers implement is SPEC.md at the repository root:
flags (cli), IDX data (data), safetensors weights (weights), log lines (log),
progress lines (progress), the exit statuses for bad input and divergence (errors),
reading all of a run's inputs before the framework loads (inputs), and the
workarounds that keep a framework's start-up chatter quiet (quiet), its compiled
programs cached (cache) and its CBLAS calls on a fast OpenBLAS (openblas).
"""

from mnist_common.errors import DataError, Diverged, UsageError, check_finite, run_main
from mnist_common.inputs import Inputs, read_inputs

__all__ = ["DataError", "Diverged", "Inputs", "UsageError", "check_finite", "read_inputs", "run_main"]
