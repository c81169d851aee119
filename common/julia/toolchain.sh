# Sourced by common/julia/julia.sh (which runs every Julia program of this project: the rows, the
# contract library's tests) and by julia/setup.sh (which installs a Julia): where that Julia
# lives and how to find it, with the platform workarounds it needs.
#
# find_julia sets JULIA (the binary) and, for Debian bullseye's julia 1.5.3, puts the private
# libunwind 1.3.2 first on LD_LIBRARY_PATH (see julia/README.md: with bookworm's libunwind 1.6 that
# julia segfaults on the first exception thrown from compiled code). Order of preference:
#   1. an official Julia >= 1.6 on PATH;
#   2. the official build that setup.sh downloaded into .toolchains/julia/;
#   3. /usr/bin/julia (bullseye's 1.5.3, installed by setup.sh) with the private libunwind.

LIBRARY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"   # common/julia
REPO_ROOT="$(cd "$LIBRARY_DIR/../.." && pwd)"
TOOLCHAINS="$REPO_ROOT/.toolchains"
OFFICIAL_DIR="$TOOLCHAINS/julia"                # official tarball, unpacked
LIBUNWIND_DIR="$TOOLCHAINS/julia-libunwind"     # bullseye's libunwind8 1.3.2, dpkg -x'ed

# "julia version 1.10.9" -> success when >= 1.6
julia_at_least_1_6() {
    local version major minor
    version="$("$1" --startup-file=no --version 2>/dev/null)" || return 1
    version="${version##* }"
    major="${version%%.*}"; minor="${version#*.}"; minor="${minor%%.*}"
    [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
    (( major > 1 || (major == 1 && minor >= 6) ))
}

libunwind_lib_dir() {
    local lib
    for lib in "$LIBUNWIND_DIR"/usr/lib/*/libunwind.so.8; do
        [[ -e "$lib" ]] && { dirname "$lib"; return 0; }
    done
    return 1
}

find_julia() {
    local candidate lib_dir
    candidate="$(command -v julia 2>/dev/null || true)"
    if [[ -n "$candidate" ]] && julia_at_least_1_6 "$candidate"; then
        JULIA="$candidate"; return 0
    fi
    if [[ -x "$OFFICIAL_DIR/bin/julia" ]]; then
        JULIA="$OFFICIAL_DIR/bin/julia"; return 0
    fi
    if [[ -x /usr/bin/julia ]] && lib_dir="$(libunwind_lib_dir)"; then
        JULIA=/usr/bin/julia
        export LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        # Its OpenBLAS 0.3.9 does not know recent Xeons and falls back to the SSE3 "Prescott"
        # kernels (5x slower here); name the kernel family the CPU's flags allow instead.
        . "$REPO_ROOT/common/openblas-coretype.sh"
        return 0
    fi
    return 1
}
