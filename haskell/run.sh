#!/bin/sh
# Run the built Haskell row (see build.sh); arguments are the contract's flags (SPEC.md §4).
# OpenBLAS's kernels chosen by instruction set, not CPU model (see the shared script).
. "$(dirname "$0")/../common/openblas-coretype.sh"
exec "$(dirname "$0")/dist-newstyle/bin/mnist-haskell" "$@"
