#!/usr/bin/env bash
# Install a Julia for this row; run by the runner's `invoke setup` ([setup] commands in row.toml).
# Idempotent: when a working Julia is already there it only checks it (about a second).
#
#   1. an official Julia >= 1.6 on PATH                     -> nothing to install;
#   2. else the official 1.10 tarball from julialang-s3       -> .toolchains/julia/ (sha256-checked);
#   3. else (that server unreachable, as on this project's machines) Debian bullseye's julia 1.5.3,
#      apt-pinned so that nothing but julia and the libraries bookworm lacks comes from bullseye,
#      plus bullseye's libunwind8 1.3.2 unpacked privately into .toolchains/julia-libunwind/
#      (bullseye's julia segfaults on any exception with bookworm's libunwind 1.6; see README.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/julia/toolchain.sh"

OFFICIAL_VERSION=1.10.9
APT_INSTALL=(apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends)
BULLSEYE_LIST=/etc/apt/sources.list.d/julia-bullseye.list
BULLSEYE_PIN=/etc/apt/preferences.d/julia-bullseye

STAMP="$TOOLCHAINS/julia-setup-ok"   # row.toml [check]: written once a Julia passed the smoke test

say() { echo "julia/setup.sh: $*" >&2; }

# apt and /etc/apt need root: sudo when not root (as the runner does for [setup] apt).
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else say "installing Julia needs root for: $*"; return 1
    fi
}

# Does the Julia find_julia picked work, exceptions in compiled code included?
smoke_test() {
    "$JULIA" --startup-file=no -e '
        using LinearAlgebra, Printf, Random
        f(v) = v[5]
        caught = try f([1]); false catch e; e isa BoundsError end
        caught || exit(1)
        dot(ones(Float32, 3), ones(Float32, 3)) == 3 || exit(1)
        print(VERSION)' 2>/dev/null
}

try_official() {
    local arch url sha256 tarball
    command -v curl >/dev/null || return 1
    case "$(uname -m)" in
        x86_64) arch=x64; url="linux/x64/1.10/julia-$OFFICIAL_VERSION-linux-x86_64.tar.gz"
                sha256=5a2d2c5224594b683c97e7304cb72407fbcf0be4a0187789cba1a2f73f0cbf09 ;;
        aarch64) arch=aarch64; url="linux/aarch64/1.10/julia-$OFFICIAL_VERSION-linux-aarch64.tar.gz"
                 sha256=be222882e3674f960f43b6842f7bbb52a369977e40d5dcd26498793e1cd2dfb6 ;;
        *) return 1 ;;
    esac
    say "downloading the official Julia $OFFICIAL_VERSION ($arch) from julialang-s3"
    mkdir -p "$TOOLCHAINS" || return 1
    tarball="$(mktemp "$TOOLCHAINS/julia-XXXXXX.tar.gz")" || return 1
    # A short connect timeout: on machines without internet access this fails in seconds.
    if ! curl -fsSL --connect-timeout 10 --max-time 600 -o "$tarball" \
            "https://julialang-s3.julialang.org/bin/$url"; then
        rm -f "$tarball"; say "julialang-s3 is not reachable"; return 1
    fi
    if ! echo "$sha256  $tarball" | sha256sum --check --status; then
        rm -f "$tarball"; say "checksum mismatch for the Julia tarball"; return 1
    fi
    # (called as a condition, so `set -e` is off here: every step is checked)
    rm -rf "$OFFICIAL_DIR.partial" && mkdir -p "$OFFICIAL_DIR.partial" &&
        tar -xzf "$tarball" -C "$OFFICIAL_DIR.partial" --strip-components 1 &&
        rm -rf "$OFFICIAL_DIR" && mv "$OFFICIAL_DIR.partial" "$OFFICIAL_DIR"
    local status=$?
    rm -f "$tarball"
    (( status == 0 )) || { rm -rf "$OFFICIAL_DIR.partial"; say "could not unpack the Julia tarball"; return 1; }
}

install_bullseye() {
    if ! command -v apt-get >/dev/null || [[ ! -r /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
        say "not a Debian system: put an official Julia >= 1.6 (https://julialang.org/downloads/) on PATH"
        return 1
    fi
    say "installing Debian bullseye's julia 1.5.3 (pinned) and a private libunwind 1.3.2"
    export DEBIAN_FRONTEND=noninteractive
    if [[ ! -f "$BULLSEYE_LIST" ]]; then
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" \
            | as_root tee "$BULLSEYE_LIST" >/dev/null
    fi
    # Priority 1 for all of bullseye (never chosen over bookworm, never an upgrade or downgrade),
    # 500 only for the julia packages themselves; their other dependencies that bookworm lacks
    # (libllvm9, libgit2-1.1, mbedtls 2.16, ...) are then the only candidates and come from bullseye.
    as_root tee "$BULLSEYE_PIN" >/dev/null <<'PIN'
# Written by julia/setup.sh (MNIST in Every Framework): bullseye is here only for Julia 1.5.3.
Package: *
Pin: release n=bullseye
Pin-Priority: 1

Package: julia julia-common libjulia1
Pin: release n=bullseye
Pin-Priority: 500
PIN
    if ! apt-cache madison julia | grep -q '1\.5\.3' || ! apt-cache madison libunwind8 | grep -q '1\.3\.2-2'; then
        # Refresh the bullseye lists only (the others are left as they are).
        as_root apt-get -o DPkg::Lock::Timeout=900 update -o Dir::Etc::sourcelist="$BULLSEYE_LIST" \
            -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0
    fi
    [[ -x /usr/bin/julia ]] || as_root "${APT_INSTALL[@]}" julia

    if ! libunwind_lib_dir >/dev/null; then
        local scratch
        scratch="$(mktemp -d)"
        # apt-get download needs no root; the sandbox option only avoids a warning when it is root.
        (cd "$scratch" && apt-get -o APT::Sandbox::User="$(id -un)" download libunwind8=1.3.2-2)
        rm -rf "$LIBUNWIND_DIR" && mkdir -p "$LIBUNWIND_DIR"
        dpkg -x "$scratch"/libunwind8_1.3.2-2_*.deb "$LIBUNWIND_DIR"
        rm -rf "$scratch"
    fi
}

ready() {
    find_julia && version="$(smoke_test)" || return 1
    mkdir -p "$TOOLCHAINS"
    echo "julia=$JULIA version=$version" > "$STAMP"
    say "using Julia $version at $JULIA"
}

ready && exit 0
rm -f "$STAMP"
# try_official checks each step itself; install_bullseye runs under `set -e` (a plain statement).
if ! try_official; then
    install_bullseye
fi
if ! ready; then
    say "the installed Julia does not pass the smoke test (an exception, LinearAlgebra's BLAS)"
    exit 1
fi
