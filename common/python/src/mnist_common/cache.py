"""Where a row may keep what its framework caches between runs (compiled programs, for example).

`$MNIST_CACHE_DIR`, else `$XDG_CACHE_HOME/mnist-every-framework`, else `~/.cache/mnist-every-framework`;
one folder per tool inside it. Nothing in it is needed: deleting it only makes the next run compile again.
"""

import os
from pathlib import Path


def cache_dir(tool: str) -> Path:
    """The cache folder for `tool` (e.g. "jax"); not created here (the framework creates it when it writes)."""
    root = os.environ.get("MNIST_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = os.path.join(xdg if xdg else os.path.join(os.path.expanduser("~"), ".cache"), "mnist-every-framework")
    return Path(root) / tool
