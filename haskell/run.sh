#!/bin/sh
# Run the built Haskell row (see build.sh); arguments are the contract's flags (SPEC.md §4).
#
# Debian bookworm's OpenBLAS (0.3.21) picks its kernels from the CPU's model number. On a
# CPU it does not know (a newer model, or a VM that hides the model) it falls back to its
# generic Prescott kernels, about 3x slower here. Unless OPENBLAS_CORETYPE is set already,
# choose by the instruction sets the CPU reports instead; the kernels chosen only need those.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    has() { for flag; do case "$flags" in *" $flag "*) ;; *) return 1 ;; esac; done; }
    if has avx512f avx512dq avx512cd avx512bw avx512vl; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif has avx2 fma; then
        export OPENBLAS_CORETYPE=Haswell
    fi
fi
exec "$(dirname "$0")/dist-newstyle/bin/mnist-haskell" "$@"
