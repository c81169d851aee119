#!/usr/bin/env bash
# cargo for this row's [build] command: the one on PATH, else the one setup.sh installed with rustup
# (in rustup's default home, which a fresh shell may not have on PATH yet).
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
exec cargo "$@"
