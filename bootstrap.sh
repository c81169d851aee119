#!/usr/bin/env bash
# Quick start, step 1, on a Debian/Ubuntu machine with Python 3.11+:
# installs uv and the runner, every row's toolchain (`invoke setup --all`), fetches and
# verifies the data (`invoke data`), then trains every row once (`invoke run --all`).
#   ./bootstrap.sh            everything, then the runs
#   ./bootstrap.sh --no-run   install only (what CI and the devcontainer do)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"  # use this machine's Python, download none
export PATH="$HOME/.local/bin:$PATH"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v uv >/dev/null 2>&1; then
  echo "== installing uv (the Python environment manager) for this user"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    as_root apt-get -o DPkg::Lock::Timeout=900 update -q
    as_root apt-get -o DPkg::Lock::Timeout=900 install -y -q python3-pip
  fi
  # uv is one self-contained binary; on a Debian-managed Python (PEP 668) a user install is still safe.
  python3 -m pip install --user --quiet uv 2>/dev/null \
    || python3 -m pip install --user --quiet --break-system-packages uv
fi

echo "== the runner's environment (.venv: invoke, pytest)"
uv sync --frozen --quiet --compile-bytecode  # bytecode now, not at every start (see mnist_runner/setup.py)
echo "== every row's toolchain and environment"
.venv/bin/invoke setup --all
echo "== the site's browser (Debian's chromium and chromium-driver, for tests/test_site.py)"
.venv/bin/invoke setup --site
echo "== the datasets"
.venv/bin/invoke data
if [ "${1:-}" != "--no-run" ]; then
  echo "== training every row with the contract's defaults"
  .venv/bin/invoke run --all
fi
