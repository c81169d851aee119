"""IDX parsing (mnist_common.data) on small hand-made files."""

import gzip
import struct

import numpy as np
import pytest

from mnist_common import DataError
from mnist_common.data import load_mnist, parse_idx_images, parse_idx_labels, read_gz


def images_bytes(count: int, rows: int = 28, cols: int = 28, magic: int = 0x803, extra: int = 0) -> bytes:
    pixels = (np.arange(count * rows * cols + extra) % 256).astype(np.uint8).tobytes()
    return struct.pack(">IIII", magic, count, rows, cols) + pixels


def labels_bytes(labels, magic: int = 0x801) -> bytes:
    return struct.pack(">II", magic, len(labels)) + bytes(labels)


def test_images_parse_row_major():
    images = parse_idx_images(images_bytes(3))
    assert images.shape == (3, 28, 28) and images.dtype == np.uint8
    assert images[0, 0, :3].tolist() == [0, 1, 2] and images[0, 1, 0] == 28  # row-major
    assert images[1, 0, 0] == 784 % 256


def test_labels_parse():
    assert parse_idx_labels(labels_bytes([7, 0, 9])).tolist() == [7, 0, 9]


@pytest.mark.parametrize("raw, message", [
    (images_bytes(2, magic=0x801), "magic 0x00000801, expected 0x00000803"),
    (images_bytes(2, rows=27, cols=28), "27x28"),
    (images_bytes(2, extra=-5), "header says 2 images"),
    (images_bytes(2, extra=7), "header says 2 images"),
    (b"\0\0\x08", "too short"),
])
def test_bad_image_files_are_rejected(raw, message):
    with pytest.raises(DataError, match=message):
        parse_idx_images(raw, "t.idx")


@pytest.mark.parametrize("raw, message", [
    (labels_bytes([1, 2], magic=0x803), "not an IDX label file"),
    (labels_bytes([1, 2])[:-1], "header says 2 labels"),
    (labels_bytes([1, 10]), "label 10 is out of range"),
])
def test_bad_label_files_are_rejected(raw, message):
    with pytest.raises(DataError, match=message):
        parse_idx_labels(raw, "t.idx")


def test_truncated_and_non_gzip_files_are_data_errors(tmp_path):
    whole = gzip.compress(images_bytes(5))
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "plain.gz").write_bytes(b"plain text")
    with pytest.raises(DataError, match="cut.gz: not a valid gzip file"):
        read_gz(tmp_path / "cut.gz")
    with pytest.raises(DataError, match="plain.gz: not a valid gzip file"):
        read_gz(tmp_path / "plain.gz")
    with pytest.raises(DataError, match="file not found"):
        read_gz(tmp_path / "absent.gz")


def test_split_is_by_position(data_root):
    splits = load_mnist(data_root, "mnist", limit_train=1000)
    assert splits.train_x.shape == (1000, 784) and splits.train_x.dtype == np.float32
    assert splits.val_x.shape == (10000, 784) and splits.test_x.shape == (10000, 784)
    assert 0.0 <= splits.train_x.min() and splits.train_x.max() == 1.0
    # The first training label of MNIST is a 5, the first test label a 7; validation starts at example 50,000.
    assert splits.train_y[0] == 5 and splits.test_y[0] == 7
    everything = load_mnist(data_root, "mnist")
    assert np.array_equal(everything.val_x[0], everything.train_x[0]) is False
    assert len(everything.train_y) == 50000


def test_wrong_counts_are_rejected(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(images_bytes(4)))
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels_bytes([1, 2, 3, 4])))
    with pytest.raises(DataError, match="holds 4 images .* expected 60000"):
        load_mnist(tmp_path, "mnist")
