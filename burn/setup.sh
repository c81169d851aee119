#!/usr/bin/env bash
# The Rust toolchain exactly as the candle row gets it (../rust/setup.sh: rustc >= 1.85 from PATH or
# ~/.cargo/bin, else rustup's minimal stable; it also fetches rust/'s and the contract crate's crates),
# then the crates this row's Cargo.lock pins. Run by `invoke setup` ([setup] commands in row.toml); idempotent.
set -euo pipefail
ROW_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$ROW_DIR")"
STAMP="$ROOT/.toolchains/burn-setup-ok"   # row.toml [check]

bash "$ROOT/rust/setup.sh"
"$ROOT/rust/cargo.sh" fetch --locked --quiet --manifest-path "$ROW_DIR/Cargo.toml"
mkdir -p "$(dirname "$STAMP")"
"$ROOT/rust/cargo.sh" --version > "$STAMP"
