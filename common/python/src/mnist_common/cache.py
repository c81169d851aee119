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


def use_jax_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache in cache_dir("jax"), for every program however quick
    to compile. The size limit makes JAX lock the folder (filelock), so runs side by side never read
    an entry half written. Imports JAX: call it only from a row that uses JAX."""
    import jax

    jax.config.update("jax_compilation_cache_dir", str(cache_dir("jax")))
    jax.config.update("jax_compilation_cache_max_size", 256 * 2**20)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
