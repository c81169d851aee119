"""Static checks the rows promise in their READMEs."""

import subprocess

from mnist_runner import ROOT


def test_rust_row_is_clippy_clean():
    result = subprocess.run([str(ROOT / "rust" / "cargo.sh"), "clippy", "--release", "--locked", "--quiet",
                             "--manifest-path", str(ROOT / "rust" / "Cargo.toml"), "--", "-D", "warnings"],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
