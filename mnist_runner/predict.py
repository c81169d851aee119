"""invoke predict: photos and drawings of digits → MNIST-style 28×28 images → a row's `--predict`.

MNIST digits are white on black, scaled to fit a 20×20 box and placed in a 28×28 field so
that their centre of mass is at the centre (LeCun et al.). An arbitrary picture is brought to
that form here, once, in Python; the row itself then only classifies an IDX file (SPEC.md
`--predict`), so every row classifies exactly the same pixels.
"""

import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_common.data import GZIP_MAGIC, IMAGE_MAGIC, DataError, read_idx_images
from mnist_runner import executor, normalize
from mnist_runner.registry import Project

SIDE, BOX = 28, 20
INK = 0.2  # a pixel is part of the digit when at least this bright (after stretching to 0–1)


class ImageError(Exception):
    """One input that cannot be classified; the others still are."""


@dataclass
class Prediction:
    name: str
    digit: int | None = None
    probabilities: list[float] | None = None
    error: str | None = None


def _grayscale(path: Path) -> np.ndarray:
    """The picture as float 0–1 gray; transparency becomes a white background, as on a page."""
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read (PNG, JPEG, …)") from None
    except (OSError, SyntaxError, ValueError) as error:  # a truncated or corrupt file
        raise ImageError(f"{path}: corrupt image ({error})") from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        page = Image.new("RGBA", image.size, "white")
        image = Image.alpha_composite(page, image)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def to_mnist(gray: np.ndarray, name: str = "image") -> np.ndarray:
    """Any-size grayscale (0–1) → uint8 28×28, white digit on black, fitted to 20×20, centred by mass."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on a light page: invert to MNIST's white on black
        gray, background = 1.0 - gray, 1.0 - background
    ink = np.clip(gray - background, 0.0, None)
    if ink.max() <= 0.05:
        raise ImageError(f"{name}: no digit found (the image is blank)")
    ink /= ink.max()
    rows, cols = np.nonzero(ink >= INK)
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fitted = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS),
                        dtype=np.float64)
    ys, xs = np.indices(fitted.shape)
    mass = fitted.sum()
    centre_y, centre_x = (ys * fitted).sum() / mass, (xs * fitted).sum() / mass
    top = int(np.clip(round(SIDE / 2 - centre_y), 0, SIDE - fitted.shape[0]))
    left = int(np.clip(round(SIDE / 2 - centre_x), 0, SIDE - fitted.shape[1]))
    field = np.zeros((SIDE, SIDE), dtype=np.uint8)
    field[top:top + fitted.shape[0], left:left + fitted.shape[1]] = np.clip(fitted, 0, 255).astype(np.uint8)
    return field


def _idx_images(path: Path) -> np.ndarray | None:
    """The images of an IDX file (plain or .gz), or None when the file is not one."""
    try:
        head = path.open("rb").read(4)
    except OSError:
        return None
    if head[:2] != GZIP_MAGIC and head != struct.pack(">I", IMAGE_MAGIC):
        return None
    try:
        return read_idx_images(path)
    except DataError as error:
        raise ImageError(str(error)) from None


def prepare(paths: list[Path]) -> tuple[list[Prediction], list[np.ndarray]]:
    """One entry per image in the order given (an IDX file gives all of its images), and the 28×28 images of
    those that could be read; an input that cannot be read is an entry with its error."""
    entries, images = [], []
    for path in map(Path, paths):
        try:
            idx = _idx_images(path)
            pictures = [(f"{path}[{i}]", image) for i, image in enumerate(idx)] if idx is not None \
                else [(str(path), to_mnist(_grayscale(path), str(path)))]
        except ImageError as error:
            entries.append(Prediction(str(path), error=str(error)))
            continue
        for name, image in pictures:
            entries.append(Prediction(name))
            images.append(image)
    return entries, images


def write_idx(images: np.ndarray, path: Path) -> None:
    path.write_bytes(struct.pack(">IIII", IMAGE_MAGIC, len(images), SIDE, SIDE) + images.tobytes())


def classify(project: Project, weights: Path, paths: list[Path]) -> list[Prediction]:
    """Every input's prediction or error, in the order given; one run of the row classifies them all.

    Raises RowError when the row fails as a whole (bad weights file, not installed).
    """
    entries, images = prepare(paths)
    if not images:
        return entries
    with tempfile.TemporaryDirectory(prefix="mnist-predict-") as folder:
        idx = Path(folder) / "images.idx"
        write_idx(np.array(images, dtype=np.uint8), idx)
        records = normalize.parse_log(executor.call(project, ["--load", Path(weights).resolve(), "--predict", idx]))
    lines = [r for r in records if r["event"] == "predict"]
    readable = [entry for entry in entries if entry.error is None]
    if len(lines) != len(readable):
        raise executor.RowError(f"{project.name}: {len(lines)} predictions for {len(readable)} images")
    for entry, record in zip(readable, lines):
        entry.digit, entry.probabilities = record["class"], [record[f"p{d}"] for d in range(10)]
    return entries


def format_table(predictions: list[Prediction]) -> str:
    width = max([len("image"), *(len(p.name) for p in predictions if p.error is None)])
    lines = [f"{'image':<{width}}  class  " + "  ".join(f"{'p' + str(d):>8}" for d in range(10))]
    for prediction in predictions:
        if prediction.error is None:
            lines.append(f"{prediction.name:<{width}}  {prediction.digit:>5}  "
                         + "  ".join(f"{p:8.6f}" for p in prediction.probabilities))
    return "\n".join(lines)
