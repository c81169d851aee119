"""The contract's data (SPEC.md §1): the four IDX .gz files, checked, scaled and split by position."""

import gzip
import struct
import time
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnist_common.errors import DataError

IMAGE_MAGIC = 0x00000803
GZIP_MAGIC = b"\x1f\x8b"
LABEL_MAGIC = 0x00000801
SIDE = 28
TRAIN_COUNT, TEST_COUNT, VAL_COUNT = 60_000, 10_000, 10_000
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class Splits(NamedTuple):
    """Images are float32 [n, 784] in [0, 1]; labels are int64 [n]."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def read_gz(path: Path) -> bytes:
    """The decompressed bytes of a .gz file; a missing, truncated or corrupt file is a DataError."""
    try:
        return gzip.decompress(Path(path).read_bytes())  # in one call: a stream's small reads are slower
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as error:
        reason = "truncated" if isinstance(error, EOFError) else str(error)
        raise DataError(f"{path}: not a valid gzip file ({reason})") from None


def read_images(path: Path) -> np.ndarray:
    """An IDX image file for --predict, gzip-compressed or plain → float32 [n, 784] scaled to [0, 1]."""
    images = read_idx_images(path)
    return images.reshape(len(images), SIDE * SIDE).astype(np.float32) / 255.0


def read_idx_images(path: Path) -> np.ndarray:
    """An IDX image file, gzip-compressed or plain (told apart by gzip's magic) → uint8 [n, 28, 28]."""
    path = Path(path)
    try:
        with path.open("rb") as file:  # closed at once (python -X dev warned of the open file)
            head = file.read(2)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    raw = read_gz(path) if head == GZIP_MAGIC else path.read_bytes()
    return parse_idx_images(raw, str(path))


def parse_idx_images(raw: bytes, name: str = "images") -> np.ndarray:
    """IDX3 bytes → uint8 [count, 28, 28]."""
    if len(raw) < 16:
        raise DataError(f"{name}: too short for an IDX image header ({len(raw)} bytes)")
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != IMAGE_MAGIC:
        raise DataError(f"{name}: not an IDX image file (magic 0x{magic:08x}, expected 0x{IMAGE_MAGIC:08x})")
    if (rows, cols) != (SIDE, SIDE):
        raise DataError(f"{name}: images are {rows}x{cols}, expected {SIDE}x{SIDE}")
    if len(raw) - 16 != count * rows * cols:
        raise DataError(f"{name}: header says {count} images, but holds {len(raw) - 16} pixel bytes "
                        f"(expected {count * rows * cols})")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)


def parse_idx_labels(raw: bytes, name: str = "labels") -> np.ndarray:
    """IDX1 bytes → uint8 [count], each 0–9."""
    if len(raw) < 8:
        raise DataError(f"{name}: too short for an IDX label header ({len(raw)} bytes)")
    magic, count = struct.unpack(">II", raw[:8])
    if magic != LABEL_MAGIC:
        raise DataError(f"{name}: not an IDX label file (magic 0x{magic:08x}, expected 0x{LABEL_MAGIC:08x})")
    if len(raw) - 8 != count:
        raise DataError(f"{name}: header says {count} labels, but holds {len(raw) - 8} bytes")
    labels = np.frombuffer(raw, dtype=np.uint8, offset=8)
    if count and labels.max() > 9:
        raise DataError(f"{name}: label {labels.max()} is out of range 0-9")
    return labels


def read_split(directory: Path, images_file: str, labels_file: str, expected: int) -> tuple[np.ndarray, np.ndarray]:
    """One pair of files → (uint8 [n, 784], uint8 [n])."""
    images_path, labels_path = directory / images_file, directory / labels_file
    images = parse_idx_images(read_gz(images_path), str(images_path))
    labels = parse_idx_labels(read_gz(labels_path), str(labels_path))
    if len(images) != expected or len(labels) != expected:
        raise DataError(f"{images_path}: holds {len(images)} images and {labels_path.name} {len(labels)} labels, "
                        f"expected {expected} of each")
    return images.reshape(expected, SIDE * SIDE), labels


def scaled(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 pixels and labels → float32 in [0, 1] and int64."""
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


def load_mnist(data_dir: Path, dataset: str, limit_train: int = TRAIN_COUNT - VAL_COUNT) -> Splits:
    """The train / validation / test split of SPEC.md §1, by position."""
    directory = Path(data_dir) / dataset
    if not directory.is_dir():
        raise DataError(f"data directory {directory} not found: run `invoke data`, "
                        f"or point --data-dir / MNIST_DATA_DIR at the folder that holds {dataset}/")
    train_x, train_y = read_split(directory, FILES["train_images"], FILES["train_labels"], TRAIN_COUNT)
    test_x, test_y = read_split(directory, FILES["test_images"], FILES["test_labels"], TEST_COUNT)
    split = TRAIN_COUNT - VAL_COUNT
    # Scaled after the split: a short run (--limit-train) converts only the images it uses.
    return Splits(*scaled(train_x[:limit_train], train_y[:limit_train]), *scaled(train_x[split:], train_y[split:]),
                  *scaled(test_x, test_y))


def load(args) -> tuple[Splits, float]:
    """Load the dataset the flags name; returns the splits and the seconds it took."""
    started = time.perf_counter()
    splits = load_mnist(args.data_dir, args.dataset, args.limit_train)
    return splits, time.perf_counter() - started


def batches(count: int, batch_size: int, rng: np.random.Generator | None):
    """Index arrays of consecutive batches over a fresh permutation (or file order when rng is None)."""
    order = rng.permutation(count) if rng is not None else np.arange(count)
    for start in range(0, count, batch_size):
        yield order[start:start + batch_size]
