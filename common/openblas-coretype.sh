# Sourced (POSIX sh) by the run scripts of rows that link an OpenBLAS whose CPU detection
# goes by model number: Debian bookworm's 0.3.21 (Haskell, OCaml) and Julia 1.5.3's bundled
# 0.3.9. On a CPU such an OpenBLAS does not know (a newer model, or a VM that hides the
# model) it falls back to its generic Prescott kernels, 3-5x slower. Unless
# OPENBLAS_CORETYPE is set already, name the kernel family the CPU's instruction sets allow;
# those kernels need nothing more. (The C row does the same from inside its binary.)
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
    _openblas_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    _openblas_has() {
        for _openblas_flag; do
            case "$_openblas_flags" in *" $_openblas_flag "*) ;; *) return 1 ;; esac
        done
    }
    if _openblas_has avx512f avx512dq avx512cd avx512bw avx512vl; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif _openblas_has avx2 fma; then
        export OPENBLAS_CORETYPE=Haswell
    fi
    unset -f _openblas_has
    unset _openblas_flags _openblas_flag
fi
