"""The two things that change a row's float32 rounding on one machine: the kernel family and the thread count.

The same row, seed and flags give different (equally correct) numbers on an AVX2 machine and an
AVX-512 machine, because the libraries under the rows pick their kernels from the CPU: OpenBLAS
its Haswell or SkylakeX kernels, the assembly row its AVX2 or AVX-512 kernel set, oneDNN, MKL,
PyTorch and XLA their own ISA paths. Each of those libraries has its own documented switch that
caps it at AVX2, so an AVX-512 machine can run what an AVX2-only machine runs. `family_env("avx2")`
sets all of them; the tests (`MNIST_KERNELS=avx2`), `invoke spread` and `invoke bench --kernels`
use it. `native` sets nothing: every library picks for itself, as for a user.

Thread counts change the order of some sums too; `thread_env(1)`, with the process pinned to one CPU
(executor.run's `cpus`), gives the single-threaded configuration.
"""

import os
import re
from pathlib import Path

# Each library's own switch to the AVX2 + FMA kernels (they are the best on an AVX2-only CPU, so this
# is exactly what such a machine runs). candle's gemm crate has no switch: it detects the CPU itself.
FAMILIES: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {
        "OPENBLAS_CORETYPE": "Haswell",  # NumPy's, Debian's and Julia's OpenBLAS (DYNAMIC_ARCH builds)
        "MNIST_ASM_ISA": "avx2",  # the assembly row's kernel set
        "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own vectorised kernels
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # PyTorch's sgemm (MKL)
        "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN, in PyTorch and TensorFlow
        "DNNL_MAX_CPU_ISA": "AVX2",  # the same for the oneDNN 2.4 inside MXNet, which reads only the old name
        "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",  # JAX's XLA CPU code generation
    },
}

# Every thread pool the rows use: OpenMP (PyTorch, OpenBLAS), OpenBLAS's own, MKL, rayon (candle),
# TensorFlow's, Julia's. Pinning to one CPU covers the runtimes that size their pools from the affinity.
SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                             "RAYON_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                             "TF_NUM_INTEROP_THREADS", "JULIA_NUM_THREADS")}


class KernelError(Exception):
    pass


def family_env(family: str) -> dict[str, str]:
    if family not in FAMILIES:
        raise KernelError(f"unknown kernel family {family!r}; choose {' or '.join(FAMILIES)}")
    if family == "avx2" and not {"avx2", "fma"} <= cpu_flags():
        raise KernelError("the avx2 kernel family needs a CPU with AVX2 and FMA")
    return dict(FAMILIES[family])


def thread_env(threads: int | None) -> dict[str, str]:
    """None: the libraries' defaults (all cores). 1: every pool single-threaded."""
    if threads is None:
        return {}
    if threads != 1:
        raise KernelError("threads is either the default (all cores) or 1")
    return dict(SINGLE_THREAD_ENV)


def _cpuinfo(key: str) -> str | None:
    """The first CPU's `key` field in /proc/cpuinfo, or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    return set((_cpuinfo("flags") or "").split())


def isa() -> dict:
    """What the CPU offers that the rows' kernels care about, and the family `native` therefore means."""
    flags = cpu_flags()
    avx512 = {"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"} <= flags
    avx2 = {"avx2", "fma"} <= flags
    amx = sorted(flag for flag in flags if flag.startswith("amx"))
    return {"avx2_fma": avx2, "avx512": avx512, "avx512_extensions": sorted(f for f in flags if f.startswith("avx512")),
            "amx": amx, "native_family": "avx512" if avx512 else "avx2" if avx2 else "generic"}


def loaded(pattern: str | None, stderr: str) -> str | None:
    """The kernels a row's library says it loaded: group 1 of the row's [kernels] report pattern, on stderr."""
    if not pattern:
        return None
    found = re.findall(pattern, stderr, re.MULTILINE)
    return found[-1] if found else None


# fp32 FLOP per cycle and core of a family's widest fused multiply-add: lanes × 2 (multiply and add)
# × 2 FMA units. Two units is what AVX2 cores (Haswell on, AMD Zen 2 on) and most AVX-512 server
# cores (Xeon Gold and Platinum, Sapphire Rapids on, AMD Zen 5) have; some Xeon Silver and Bronze
# parts have one 512-bit unit, and there this peak is twice the truth.
FLOP_PER_CYCLE = {"avx512": 16 * 2 * 2, "avx2": 8 * 2 * 2}


def cpu_mhz() -> float | None:
    """The clock /proc/cpuinfo reports for the first CPU (on a VM, usually the nominal clock)."""
    try:
        return float(_cpuinfo("cpu MHz") or "")
    except ValueError:
        return None


def physical_cores() -> int:
    """Cores, not hardware threads (two threads of one core share its FMA units), among the CPUs this
    process may use; os.cpu_count() when /proc/cpuinfo does not say."""
    allowed, cores, cpu, package = os.sched_getaffinity(0), set(), None, None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "processor":
                cpu = int(value)
            elif key == "physical id":
                package = value
            elif key == "core id" and cpu in allowed:
                cores.add((package, value))
    except (OSError, ValueError):
        pass
    return len(cores) or len(allowed)


def peak(family: str, isa_info: dict, cores: int, mhz: float | None) -> dict | None:
    """The machine's fp32 peak for the kernels a run uses: cores × clock × FLOP per cycle, and how it was
    obtained. `family` is the kernel family asked for (native: the CPU's own, else a cap)."""
    widest = isa_info.get("native_family") if family == "native" else family
    if widest not in FLOP_PER_CYCLE or not mhz or not cores:
        return None
    per_cycle = FLOP_PER_CYCLE[widest]
    gflop = cores * mhz / 1000 * per_cycle
    lanes = per_cycle // 4
    return {"gflop_per_second": round(gflop, 1),
            "how": f"{cores} cores × {mhz / 1000:.2f} GHz (/proc/cpuinfo cpu MHz) × {per_cycle} fp32 FLOP per cycle "
                   f"({widest.upper()} FMA: {lanes} lanes × 2 FLOP × 2 FMA units, assumed)"}
