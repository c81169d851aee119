from pathlib import Path

from mnist_common.cache import cache_dir


def test_cache_dir_prefers_mnist_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("jax") == tmp_path / "mine" / "jax"


def test_cache_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("jax") == tmp_path / "xdg" / "mnist-every-framework" / "jax"


def test_cache_dir_defaults_to_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("MNIST_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir("tf") == Path(tmp_path) / ".cache" / "mnist-every-framework" / "tf"
    assert not (tmp_path / ".cache").exists()  # naming a folder creates nothing


def test_use_jax_compilation_cache_points_jax_at_its_folder_with_a_size_limit(monkeypatch, tmp_path):
    import sys
    import types

    from mnist_common.cache import use_jax_compilation_cache

    settings = {}
    fake = types.SimpleNamespace(config=types.SimpleNamespace(update=lambda name, value: settings.__setitem__(name, value)))
    monkeypatch.setitem(sys.modules, "jax", fake)
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path))
    use_jax_compilation_cache()
    assert settings == {"jax_compilation_cache_dir": str(tmp_path / "jax"),
                        "jax_compilation_cache_max_size": 256 * 2**20,  # a limit: JAX then locks the folder
                        "jax_persistent_cache_min_compile_time_secs": 0}
