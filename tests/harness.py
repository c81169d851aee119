"""How the tests run a row: built once, on the chosen kernels, single-threaded unless asked, and
holding the cores while a run uses all of them. A plain module, so that the tests and conftest.py's
cost hooks share one record of the time spent waiting for the cores."""

import fcntl
import os
import subprocess
import tempfile
import time
from pathlib import Path

from mnist_runner import executor, kernels
from mnist_runner.registry import Project

# Tests check behaviour, not speed (that is the benchmarks' job), and run rows side by side on
# pytest-xdist workers: one thread per row keeps thread pools from fighting over the cores. The tests
# that a thread count can change (the accuracy bar, determinism) run the rows as users do: threads=None.

# `MNIST_KERNELS=avx2 invoke test` runs every row on the kernels an AVX2-only machine runs (on an
# AVX-512 machine), so one machine can check both kernel families (mnist_runner/kernels.py).
KERNELS = kernels.family_env(os.environ.get("MNIST_KERNELS") or "native")

_built: set[str] = set()


def build_once(project: Project) -> None:
    """Build a row once per test process; a file lock keeps parallel workers from building it together."""
    if project.name in _built:
        return
    with open(Path(tempfile.gettempdir()) / f"mnist-build-{project.directory.name}.lock", "w") as lock:
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
waited = [0.0]  # seconds this process's runs waited for the cores lock, since the last report


def run_row(project: Project, *args, data_root: Path | None = None, timeout: float = 900,
            threads: int | None = 1) -> executor.Completed:
    """Run a row as the runner does (executor.launch: built, from the repository root) on the chosen kernels."""
    build_once(project)
    env = {**KERNELS, **kernels.thread_env(threads)}
    if data_root is not None:
        env["MNIST_DATA_DIR"] = str(data_root)
    with open(CORES_LOCK, "w") as lock:
        asked = time.perf_counter()
        fcntl.flock(lock, fcntl.LOCK_EX if threads is None else fcntl.LOCK_SH)
        waited[0] += time.perf_counter() - asked
        return executor.launch(project, args, env=env, timeout=timeout)
