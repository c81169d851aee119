"""OpenBLAS for rows whose framework calls CBLAS: its kernel family, and Debian's library in place of a
slower BLAS a wheel bundles.

OpenBLAS chooses its kernels as it loads, from the CPUs it knows. A release older than the CPU (Debian
12's 0.3.21 on a 2023 Xeon) falls back to its slowest, SSE3 ("Prescott") kernels, several times slower;
OPENBLAS_CORETYPE, read at load time, names the family instead. A user's own setting always wins, so
`invoke test --kernels avx2` (OPENBLAS_CORETYPE=Haswell) selects the AVX2 kernels on purpose.
"""

import ctypes
import os
from pathlib import Path

DEBIAN_OPENBLAS = Path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0")  # libopenblas0-pthread


def kernel_family(cpu_flags: set[str]) -> str | None:
    """The newest OpenBLAS kernel family these CPU flags allow: SkylakeX (AVX-512), Haswell (AVX2+FMA), or
    None (leave it to OpenBLAS)."""
    if {"avx512f", "avx512bw", "avx512vl"} <= cpu_flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= cpu_flags:
        return "Haswell"
    return None


def name_kernels(cpuinfo: Path = Path("/proc/cpuinfo")) -> None:
    """Set OPENBLAS_CORETYPE from the CPU's flags, unless it is set; an OpenBLAS loaded afterwards uses it."""
    if os.environ.get("OPENBLAS_CORETYPE") or not cpuinfo.exists():
        return
    family = kernel_family(set(cpuinfo.read_text().split()))
    if family:
        os.environ["OPENBLAS_CORETYPE"] = family


def load_system_openblas(path: Path = DEBIAN_OPENBLAS) -> bool:
    """Load the system's OpenBLAS, with its kernels named, into the global symbol namespace, so that a
    framework loaded after it finds cblas_sgemm there before the BLAS it bundles. False when it is absent."""
    if not path.exists():
        return False
    name_kernels()
    ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    return True
