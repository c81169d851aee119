"""invoke predict: pictures → MNIST-style 28×28 images, and a row classifying them (SPEC.md --predict)."""

import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnist_runner import ROOT, registry
from mnist_runner.predict import ImageError, classify, prepare, to_mnist


def centre_of_mass(image):
    ys, xs = np.indices(image.shape)
    return (ys * image).sum() / image.sum(), (xs * image).sum() / image.sum()


def test_a_dark_digit_on_a_light_page_becomes_mnist_style():
    page = np.ones((300, 500))  # white, landscape, digit far off centre
    page[20:140, 380:420] = 0.1  # a dark vertical stroke ("1"), 120 x 40 px
    image = to_mnist(page)
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image[0].max() == 0 and image[:, 0].max() == 0, "background must be black after inverting"
    rows, cols = np.nonzero(image > 64)
    assert rows.max() - rows.min() + 1 in (19, 20), "the longer side is fitted to 20 px"
    assert cols.max() - cols.min() + 1 < 10, "the aspect ratio is kept"
    assert centre_of_mass(image.astype(float)) == pytest.approx((14, 14), abs=0.6)


def test_a_light_digit_on_a_dark_background_is_not_inverted(test_images):
    original = test_images[0]
    big = np.asarray(Image.fromarray(original).resize((280, 280), Image.Resampling.BICUBIC), float) / 255
    image = to_mnist(big)
    assert image[0].max() == 0 and image.max() > 200
    # MNIST's own digits come back nearly as they were: they were made this way.
    assert np.corrcoef(image.ravel(), original.ravel())[0, 1] > 0.9


def test_a_blank_image_is_an_error():
    with pytest.raises(ImageError, match="no digit"):
        to_mnist(np.ones((50, 50)), "blank.png")


@pytest.fixture
def inputs(tmp_path, test_images):
    Image.fromarray(255 - test_images[0]).resize((90, 120)).save(tmp_path / "seven.png")
    Image.fromarray(255 - test_images[1]).convert("RGB").resize((400, 400)).save(tmp_path / "two.jpg")
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # transparent background, black ink
    rgba.paste(Image.fromarray(255 - test_images[2]).convert("RGBA").resize((40, 40)), (12, 12))
    rgba.putalpha(Image.fromarray(test_images[2]).resize((40, 40)).crop((-12, -12, 52, 52)))
    rgba.save(tmp_path / "one-transparent.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    png = (tmp_path / "seven.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    idx = struct.pack(">IIII", 0x803, 3, 28, 28) + test_images[3:6].tobytes()
    (tmp_path / "three.idx").write_bytes(idx)
    (tmp_path / "three.idx.gz").write_bytes(gzip.compress(idx))
    (tmp_path / "wrong.idx").write_bytes(struct.pack(">IIII", 0x803, 1, 14, 14) + bytes(196))
    return tmp_path


def test_prepare_keeps_order_and_reports_each_bad_input(inputs):
    names = ["seven.png", "corrupt.png", "three.idx", "missing.png", "truncated.png", "three.idx.gz",
             "wrong.idx", "two.jpg", "one-transparent.png"]
    entries, images = prepare([inputs / name for name in names])
    shown = [entry.name.replace(str(inputs) + "/", "") for entry in entries]
    assert shown == ["seven.png", "corrupt.png", "three.idx[0]", "three.idx[1]", "three.idx[2]", "missing.png",
                     "truncated.png", "three.idx.gz[0]", "three.idx.gz[1]", "three.idx.gz[2]", "wrong.idx",
                     "two.jpg", "one-transparent.png"]
    errors = {entry.name.replace(str(inputs) + "/", ""): entry.error for entry in entries if entry.error}
    assert set(errors) == {"corrupt.png", "missing.png", "truncated.png", "wrong.idx"}
    assert "not found" in errors["missing.png"] and "14x14" in errors["wrong.idx"]
    assert all(error.startswith(str(inputs)) for error in errors.values()), "each error names its file"
    assert len(images) == 9 and all(image.shape == (28, 28) for image in images)


@pytest.fixture(scope="session")
def trained(data_root, tmp_path_factory):
    """NumPy weights good enough to read digits (one epoch on 10,000 images: about 90 %)."""
    path = tmp_path_factory.mktemp("predict-weights") / "numpy.safetensors"
    numpy_row = registry.get("numpy")
    done = subprocess.run(numpy_row.argv(numpy_row.run_command) + ["--epochs", "1", "--limit-train", "10000",
                                                                   "--data-dir", str(data_root), "--save", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return path


def test_a_row_classifies_pictures_like_the_original_digits(trained, test_images, tmp_path):
    pictures = []
    for i in range(20):  # black on white, 10x larger, as a person would draw or scan them
        path = tmp_path / f"digit{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(255 - test_images[i]).convert("RGB").resize((280, 280), Image.Resampling.BICUBIC).save(path)
        pictures.append(path)
    idx = tmp_path / "originals.idx"
    idx.write_bytes(struct.pack(">IIII", 0x803, 20, 28, 28) + test_images[:20].tobytes())
    numpy_row = registry.get("numpy")
    from_pictures = classify(numpy_row, trained, pictures)
    from_originals = classify(numpy_row, trained, [idx])
    assert all(p.error is None and len(p.probabilities) == 10 for p in from_pictures)
    assert all(sum(p.probabilities) == pytest.approx(1, abs=1e-4) for p in from_pictures)
    same = sum(a.digit == b.digit for a, b in zip(from_pictures, from_originals))
    assert same >= 18, [(a.digit, b.digit) for a, b in zip(from_pictures, from_originals)]


def invoke(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_invoke_predict_prints_every_image_and_one_error_line_per_bad_one(trained, inputs):
    # The form a user types first: the images right after the flags, no `--`.
    result = invoke("predict", "--project", "numpy", "--weights", str(trained),
                    "seven.png", "missing.png", "two.jpg", "corrupt.png", cwd=inputs)
    assert result.returncode == 2, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["image", "class", "p0"] and len(lines) == 3
    assert lines[1].split()[0] == "seven.png" and len(lines[1].split()) == 12
    assert lines[2].split()[0] == "two.jpg"
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and errors[0].startswith("error: missing.png") and "corrupt.png" in errors[1]
    assert "Traceback" not in result.stderr


def test_invoke_predict_with_a_bad_weights_file_is_one_error(inputs):
    result = invoke("predict", "--project", "numpy", "--weights", "nope.safetensors", "--", "seven.png", cwd=inputs)
    assert result.returncode == 2 and result.stderr.startswith("error: numpy: ") and "nope.safetensors" in result.stderr
    assert "Traceback" not in result.stderr


def test_invoke_predict_without_images_says_how():
    result = invoke("predict", "--project", "numpy", "--weights", "w.safetensors")
    assert result.returncode == 2 and "--weights FILE IMAGE…" in result.stderr
    assert "No idea what" not in result.stderr


def test_images_after_the_flags_get_the_dashes_invoke_needs():
    import tasks

    assert tasks._predict_with_dashes(["invoke", "--search-root", "R", "predict", "-p", "numpy", "a.png", "--weights",
                                       "w", "b.png"]) == \
        ["--search-root", "R", "predict", "-p", "numpy", "--weights", "w", "--", "a.png", "b.png"]
    assert tasks._predict_with_dashes(["invoke", "predict", "--project", "numpy", "--", "a.png"]) is None
    assert tasks._predict_with_dashes(["invoke", "list"]) is None
