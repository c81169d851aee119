"""read_inputs: the flags and every file they name, read and checked before a framework loads (SPEC.md §4)."""

import gzip
import struct

import numpy as np
import pytest

from mnist_common import cli, read_inputs, weights


@pytest.fixture
def weights_file(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "w.safetensors"
    weights.save(path, {name: rng.standard_normal(shape) for name, shape in weights.SHAPES.items()})
    return path


def images_file(path, count: int, cut: int = 0, compress: bool = False):
    raw = struct.pack(">IIII", 0x803, count, 28, 28) + bytes(range(256)) * (count * 784 // 256) + bytes(count * 784 % 256)
    raw = raw[:len(raw) - cut]
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def read(*argv):
    return read_inputs("numpy", cli.build_parser("test"), [str(a) for a in argv])


def failure(capsys, *argv) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exited:
        read(*argv)
    captured = capsys.readouterr()
    assert captured.out == "", "nothing on stdout before the error"
    return exited.value.code, captured.err.splitlines()


def test_training_inputs(data_root, weights_file, capsys):
    inputs = read("--data-dir", data_root, "--limit-train", "100", "--init", weights_file)
    assert inputs.args.limit_train == 100 and inputs.images is None and inputs.data_seconds > 0
    assert len(inputs.splits.train_y) == 100 and len(inputs.splits.test_y) == 10000
    assert np.array_equal(inputs.init["fc1.bias"], weights.load(weights_file)["fc1.bias"])
    assert capsys.readouterr().err.splitlines() == ["event=progress stage=start row=numpy",
                                                    "event=progress stage=data dataset=mnist"]
    assert read("--data-dir", data_root, "--limit-train", "1").init is None


@pytest.mark.parametrize("compress", [False, True])
def test_predict_inputs_read_no_dataset(tmp_path, weights_file, capsys, compress):
    images = images_file(tmp_path / "four.idx", 4, compress=compress)
    inputs = read("--data-dir", tmp_path / "nothing-here", "--load", weights_file, "--predict", images)
    assert inputs.splits is None and set(inputs.init) == set(weights.SHAPES)
    assert inputs.images.shape == (4, 784) and inputs.images.dtype == np.float32
    assert inputs.images.max() == 1.0 and inputs.images[0, 1] == pytest.approx(1 / 255)
    assert capsys.readouterr().err.splitlines() == ["event=progress stage=start row=numpy"]


def test_bad_flags_exit_2_before_any_progress(capsys):
    code, err = failure(capsys, "--batch-size", "-5")
    assert code == 2 and err == ["error: --batch-size must be an integer >= 1, got '-5'"]


def test_bad_files_exit_2_with_one_error_line(tmp_path, weights_file, data_root, capsys):
    code, err = failure(capsys, "--data-dir", tmp_path)
    assert code == 2 and err[-1].startswith(f"error: data directory {tmp_path / 'mnist'} not found")
    code, err = failure(capsys, "--data-dir", data_root, "--load", tmp_path / "absent.safetensors", "--epochs", "0")
    assert code == 2 and err[-1] == f"error: {tmp_path / 'absent.safetensors'}: weights file not found"
    short = images_file(tmp_path / "short.idx", 3, cut=1)
    code, err = failure(capsys, "--load", weights_file, "--predict", short)
    assert code == 2 and err[-1].startswith(f"error: {short}: header says 3 images, but holds 2351 pixel bytes")
    assert all(line.startswith("event=progress ") for line in err[:-1])
