#!/usr/bin/env bash
# Run a Julia program of this project with the Julia that julia/setup.sh provided:
#     common/julia/julia.sh FILE.jl [args...]
# (julia/run.sh runs the row with it; library.toml runs the contract's tests with it). toolchain.sh
# picks the Julia and applies its platform workarounds (a private libunwind and OPENBLAS_CORETYPE
# for Debian bullseye's 1.5.3).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
if ! find_julia; then
    echo "error: no usable Julia found: run julia/setup.sh (or put an official Julia >= 1.6 on PATH)" >&2
    exit 2
fi
# The contract library is a package directory (common/julia/src/MnistContract.jl): `using MnistContract`
# finds it there, and Julia precompiles it into ~/.julia/compiled/ the first time. Only it and the
# standard library: no user environment changes what a row loads.
export JULIA_LOAD_PATH="$LIBRARY_DIR/src:@stdlib"
exec "$JULIA" --startup-file=no --history-file=no --color=no "$@"
