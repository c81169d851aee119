#!/bin/sh
# Build the OCaml row. First the contract library (common/ocaml), as a findlib package built
# into this row's own _build/contract (so that it never shares a build directory with the
# library's unit tests or another row), then main.exe, with OCAMLPATH pointing dune at it.
set -e
root="$(cd "$(dirname "$0")/.." && pwd)"
contract="$root/ocaml/_build/contract"
mkdir -p "$root/ocaml/_build"
dune build --root "$root/common/ocaml" --build-dir "$contract" --no-print-directory @install
OCAMLPATH="$contract/install/default/lib${OCAMLPATH:+:$OCAMLPATH}" \
    dune build --root "$root/ocaml" --no-print-directory ./main.exe
