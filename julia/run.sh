#!/usr/bin/env bash
# Run this row: julia/run.sh [flags]   (from the repository root; flags as in SPEC.md §4)
# common/julia/julia.sh finds the Julia that setup.sh provided and runs main.jl with it.
exec "$(dirname "${BASH_SOURCE[0]}")/../common/julia/julia.sh" "$(dirname "${BASH_SOURCE[0]}")/main.jl" "$@"
