"""The weights file (SPEC.md §5): a round trip, and every way a file can be wrong."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from mnist_common import DataError, weights


def tensors(dtype=np.float32) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in weights.SHAPES.items()}


def test_round_trip(tmp_path):
    original = tensors()
    weights.save(tmp_path / "w.safetensors", original)
    loaded = weights.load(tmp_path / "w.safetensors")
    assert set(loaded) == set(weights.SHAPES)
    for name, array in original.items():
        assert loaded[name].dtype == np.float32 and np.array_equal(loaded[name], array)


def test_save_writes_float32_from_other_dtypes(tmp_path):
    weights.save(tmp_path / "w.safetensors", tensors(np.float64))
    assert all(a.dtype == np.float32 for a in weights.load(tmp_path / "w.safetensors").values())


def write(tmp_path, changed: dict, dropped: str | None = None):
    contents = {**tensors(), **changed}
    if dropped:
        del contents[dropped]
    path = tmp_path / "bad.safetensors"
    save_file(contents, str(path))
    return path


@pytest.mark.parametrize("changed, dropped, message", [
    ({}, "fc2.bias", "lacks tensor fc2.bias"),
    ({"fc4.weight": np.zeros((1,), np.float32)}, None, "unexpected tensor fc4.weight"),
    ({"fc1.bias": np.zeros((512,), np.float64)}, None, "tensor fc1.bias is float64, expected float32"),
    ({"fc2.weight": np.zeros((512, 511), np.float32)}, None, r"tensor fc2.weight has shape \[512, 511\], expected"),
    ({"fc1.weight": np.zeros((784, 512), np.float32)}, None, r"fc1.weight has shape \[784, 512\]"),
])
def test_bad_tensors_are_rejected(tmp_path, changed, dropped, message):
    path = write(tmp_path, changed, dropped)
    with pytest.raises(DataError, match=message) as raised:
        weights.load(path)
    assert str(raised.value).startswith(str(path))


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(DataError, match="absent.safetensors: weights file not found"):
        weights.load(tmp_path / "absent.safetensors")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(DataError, match="garbage.safetensors: not a safetensors file"):
        weights.load(tmp_path / "garbage.safetensors")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(DataError, match="empty.safetensors: not a safetensors file"):
        weights.load(tmp_path / "empty.safetensors")


def test_save_checks_the_tensors(tmp_path):
    incomplete = tensors()
    del incomplete["fc3.bias"]
    with pytest.raises(KeyError):
        weights.save(tmp_path / "w.safetensors", incomplete)
    wrong = {**tensors(), "fc3.bias": np.zeros(11, np.float32)}
    with pytest.raises(DataError, match="fc3.bias has shape"):
        weights.save(tmp_path / "w.safetensors", wrong)
