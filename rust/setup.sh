#!/usr/bin/env bash
# Make sure this row has a Rust toolchain new enough for candle and clap (rustc >= 1.85), then fetch
# the crates Cargo.lock pins. Run by `invoke setup` ([setup] commands in row.toml); idempotent:
# with a toolchain in place it only checks it and lets cargo confirm the crates are there.
#
#   1. cargo/rustc on PATH or in ~/.cargo/bin, rustc >= 1.85   -> use it;
#   2. else rustup-init from static.rust-lang.org (sha256-checked), minimal profile, stable toolchain,
#      into rustup's default home ~/.cargo and ~/.rustup (Debian's own cargo is too old: 1.63).
set -euo pipefail
ROW_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STAMP="$(dirname "$ROW_DIR")/.toolchains/rust-setup-ok"   # row.toml [check]
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"

say() { echo "rust/setup.sh: $*" >&2; }

recent_enough() {  # "rustc 1.95.0 (59807616e 2026-04-14)" -> success when >= 1.85
    local version minor
    version="$(rustc --version 2>/dev/null)" || return 1
    version="${version#rustc }"
    [[ "${version%%.*}" == 1 ]] || return 1
    minor="${version#1.}"; minor="${minor%%.*}"
    [[ "$minor" =~ ^[0-9]+$ ]] && (( minor >= 85 )) && command -v cargo >/dev/null
}

install_rustup() {
    local target url dir
    case "$(uname -m)" in
        x86_64) target=x86_64-unknown-linux-gnu ;;
        aarch64) target=aarch64-unknown-linux-gnu ;;
        *) say "no rustup for $(uname -m): install Rust >= 1.85 by hand"; return 1 ;;
    esac
    url="https://static.rust-lang.org/rustup/dist/$target/rustup-init"
    dir="$(mktemp -d)"
    trap 'rm -rf "$dir"' RETURN
    say "installing Rust (stable, minimal profile) with rustup from $url"
    curl --proto '=https' --tlsv1.2 -fsSL "$url" -o "$dir/rustup-init"
    curl --proto '=https' --tlsv1.2 -fsSL "$url.sha256" -o "$dir/rustup-init.sha256"
    (cd "$dir" && echo "$(cut -d' ' -f1 rustup-init.sha256)  rustup-init" | sha256sum --check --quiet)
    chmod +x "$dir/rustup-init"
    "$dir/rustup-init" -y --no-modify-path --profile minimal --default-toolchain stable
}

if ! recent_enough; then
    install_rustup
    recent_enough || { say "rustc >= 1.85 still not found after installing rustup"; exit 1; }
fi
say "using $(rustc --version)"
cargo fetch --locked --quiet --manifest-path "$ROW_DIR/Cargo.toml"
# The contract crate's own lock (its unit tests, `invoke test`): the same crates, a subset of the row's.
cargo fetch --locked --quiet --manifest-path "$(dirname "$ROW_DIR")/common/rust/Cargo.toml"
mkdir -p "$(dirname "$STAMP")"
rustc --version > "$STAMP"
