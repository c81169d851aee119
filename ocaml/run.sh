#!/bin/sh
# Run the built OCaml row (ocaml/build.sh); arguments are the contract's flags (SPEC.md §4).
# OpenBLAS's kernels chosen by instruction set, not CPU model (see the shared script).
. "$(dirname "$0")/../common/openblas-coretype.sh"
exec "$(dirname "$0")/_build/default/main.exe" "$@"
