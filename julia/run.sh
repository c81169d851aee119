#!/usr/bin/env bash
# Run this row: julia/run.sh [flags]   (from the repository root; flags as in SPEC.md §4)
# Finds the Julia that setup.sh provided (toolchain.sh) and runs main.jl with it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
if ! find_julia; then
    echo "error: no usable Julia found: run julia/setup.sh (or put an official Julia >= 1.6 on PATH)" >&2
    exit 2
fi
exec "$JULIA" --startup-file=no --history-file=no --color=no "$ROW_DIR/main.jl" "$@"
