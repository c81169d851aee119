"""The conformance suite: every row (every directory with a row.toml) against SPEC.md.

A new row joins simply by existing. A row whose toolchain is not installed fails here
(run `invoke setup --project NAME`); nothing is skipped silently.
"""

import gzip
import json
import math
import os
import re
import struct

import numpy as np
import pytest
from safetensors.numpy import save_file

from mnist_common import weights as contract_weights
from mnist_common.data import parse_idx_labels, read_gz, read_idx_images
from mnist_runner import contract, registry
from mnist_runner.predict import write_idx
from tests.harness import run_row

PROJECTS = registry.discover()
SHORT = ("--limit-train", "2000", "--epochs", "1")
# The short runs from the shared init: 80 SGD steps (5 epochs of 2,000 examples) on Fashion-MNIST, so that
# they check the second dataset too. In file order every correct row follows NumPy's trajectory. Measured
# across all rows on AVX-512 and AVX2 kernels: on Fashion-MNIST the largest relative difference of an
# epoch's val_loss from NumPy's was 1.2e-6 (the printed digits); on MNIST 2.3e-4 (Haiku, epoch 5). 2e-3
# leaves a wide margin; a wrong gradient, update or loss moves it by percents (results/accuracy.md).
TRACK = ("--dataset", "fashion-mnist", "--limit-train", "2000", "--epochs", "5")
TRACK_TOLERANCE = 2e-3
DEFAULTS = dict(dataset="mnist", epochs=5, batch_size=128, lr=0.05, momentum=0.9, seed=0, limit_train=50000,
                shuffle=1, init=0)
CONTRACT_FLAGS = ("--dataset", "--data-dir", "--epochs", "--batch-size", "--lr", "--momentum", "--seed",
                  "--limit-train", "--no-shuffle", "--init", "--load", "--save", "--predict", "--help")
CRASH_MARKERS = ("Traceback", "panicked", "RUST_BACKTRACE", "Segmentation fault", "core dumped", "Stacktrace",
                 "Stack trace", "LoadError", "uncaught exception", "Fatal error", "AddressSanitizer")


# Each row's tests stay on one pytest-xdist worker, so its shared short run happens once.
@pytest.fixture(params=[pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(p.name)) for p in PROJECTS])
def project(request):
    row = request.param
    missing = row.missing()
    if missing:
        pytest.fail(f"{row.name} is not installed ({missing[0]} missing): run `invoke setup --project {row.name}`",
                    pytrace=False)
    return row


@pytest.fixture(scope="session")
def numpy_row():
    return registry.get("numpy")


@pytest.fixture(scope="session")
def reference(numpy_row, data_root, tmp_path_factory):
    """The NumPy row's results that every other row is compared with."""
    folder = tmp_path_factory.mktemp("reference")
    init = folder / "init.safetensors"
    made = run_row(numpy_row, "--epochs", "0", "--save", init, data_root=data_root)
    assert made.exit_code == 0, made.stderr
    from_init = run_row(numpy_row, *TRACK, "--no-shuffle", "--init", init, data_root=data_root)
    assert from_init.exit_code == 0, from_init.stderr
    return {"init": init, "val_losses_from_init": [r["val_loss"] for r in from_init.events("epoch")]}


def probabilities_of(params: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """SPEC.md §2's network in float64, the yardstick for a row's saved weights and its predictions."""
    x = images.reshape(len(images), 784).astype(np.float64) / 255
    h1 = np.maximum(x @ params["fc1.weight"].T + params["fc1.bias"], 0)
    h2 = np.maximum(h1 @ params["fc2.weight"].T + params["fc2.bias"], 0)
    logits = h2 @ params["fc3.weight"].T + params["fc3.bias"]
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


@pytest.fixture(scope="session")
def fashion_test(data_root):
    """The 10,000 Fashion-MNIST test images (uint8) and labels, which the short runs report on."""
    folder = data_root / "fashion-mnist"
    return (read_idx_images(folder / "t10k-images-idx3-ubyte.gz"),
            parse_idx_labels(read_gz(folder / "t10k-labels-idx1-ubyte.gz")))


_from_init_runs = {}


def from_init(project, reference, data_root, tmp_path_factory, *flags, attempt: int = 1):
    """A run of TRACK from the shared init, its weights saved, with the row's normal thread count (as a
    user runs it); cached, so that each run serves every test that can use it."""
    key = (project.name, flags, attempt)
    if key not in _from_init_runs:
        saved = tmp_path_factory.mktemp(f"from-init-{project.name}") / "weights.safetensors"
        result = run_row(project, *TRACK, "--init", reference["init"], *flags, "--save", saved, data_root=data_root,
                         threads=None)
        _from_init_runs[key] = (result, saved)
    return _from_init_runs[key]


@pytest.fixture
def short_run(project, reference, data_root, tmp_path_factory):
    """The row's shared short run: TRACK from the shared init, shuffled with the default seed, weights saved.

    The suite's cost is mostly how many times a row starts (a framework's import, reading the data), so
    one run checks as much as it can: the log lines, their flushing, the progress lines, the saved weights
    (which the --predict run then loads), and with a second run like it, determinism.
    """
    return from_init(project, reference, data_root, tmp_path_factory)


# ---------------------------------------------------------------- a short run

def test_short_run_trains_and_logs_the_contract_lines(project, short_run):
    result, saved = short_run
    assert result.exit_code == 0, result.stderr[-3000:]
    events = [r["event"] for r in result.records]
    assert events[:3] == ["start", "config", "data"], events
    assert events[-1] == "test" and events.count("epoch") == 5, events
    start = result.last("start")
    assert start["row"] == project.name and "/" in start["language"], start
    assert result.last("config") == {"event": "config", **DEFAULTS, "dataset": "fashion-mnist", "limit_train": 2000,
                                     "init": 1}
    data = result.last("data")
    assert (data["train"], data["val"], data["test"]) == (2000, 10000, 10000)
    epochs = result.events("epoch")
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4, 5] and all(r["seconds"] > 0 for r in epochs), epochs
    for epoch in epochs:
        for key in ("train_loss", "val_loss"):
            assert math.isfinite(epoch[key]) and 0 < epoch[key] < 2.5, epoch
    test = result.last("test")
    # 80 SGD steps from the contract's init reach about 78 % on Fashion-MNIST; chance is 10 %.
    assert test["test_acc"] > 0.6 and epochs[-1]["val_acc"] > 0.6, result.stdout
    assert saved.is_file()
    assert all(line.startswith("event=") for line in result.stdout.splitlines() if line.strip()), \
        "stdout must carry only log lines; chatter goes to stderr"


def test_saved_weights_are_the_ones_the_row_evaluated(project, short_run, fashion_test):
    """The saved file follows the contract's layout, and NumPy's forward pass on it (here, in float64) gives
    the test accuracy and loss the row reported: what every other row reading these weights relies on."""
    result, saved = short_run
    assert result.exit_code == 0
    tensors = contract_weights.load(saved)  # raises on a missing, extra, misshapen or non-float32 tensor
    assert all(np.isfinite(t).all() for t in tensors.values())
    images, labels = fashion_test
    probabilities = probabilities_of(tensors, images)
    test = result.last("test")
    # float32 in the row against float64 here: an image whose two best classes are closer than
    # float32's rounding may flip, a few in 10,000 at most.
    assert np.mean(probabilities.argmax(axis=1) == labels) == pytest.approx(test["test_acc"], abs=3e-4)
    loss = -np.mean(np.log(probabilities[np.arange(len(labels)), labels]))
    assert loss == pytest.approx(test["test_loss"], rel=1e-4)


def test_five_epochs_from_a_shared_init_track_numpy(project, reference, data_root, tmp_path_factory):
    """Same weights, same batches (--no-shuffle): the same SGD-momentum trajectory as the reference, epoch by epoch."""
    result, _ = from_init(project, reference, data_root, tmp_path_factory, "--no-shuffle")
    assert result.exit_code == 0, result.stderr[-3000:]
    assert result.last("config")["init"] == 1 and result.last("config")["shuffle"] == 0
    val_losses = [r["val_loss"] for r in result.events("epoch")]
    assert val_losses == pytest.approx(reference["val_losses_from_init"], rel=TRACK_TOLERANCE), \
        f"val_loss per epoch {val_losses}, NumPy's {reference['val_losses_from_init']}"


def without_seconds(stdout: str) -> list[str]:
    return [re.sub(r" seconds=\S+", "", line) for line in stdout.splitlines() if line.startswith("event=")]


def test_the_same_seed_gives_the_same_results_bit_for_bit(project, reference, data_root, tmp_path_factory):
    """Determinism: the same seed and flags on the same machine, all threads: the same log lines and weights."""
    first, first_weights = from_init(project, reference, data_root, tmp_path_factory)
    second, second_weights = from_init(project, reference, data_root, tmp_path_factory, attempt=2)
    assert first.exit_code == second.exit_code == 0, second.stderr[-3000:]
    assert without_seconds(first.stdout) == without_seconds(second.stdout)
    assert first_weights.read_bytes() == second_weights.read_bytes(), "two runs with one seed saved different weights"


def test_shuffling_follows_the_seed(project, reference, data_root, tmp_path_factory):
    """The same init: a shuffled run differs from the file-order one, and another seed gives another order."""
    in_order, _ = from_init(project, reference, data_root, tmp_path_factory, "--no-shuffle")
    shuffled, _ = from_init(project, reference, data_root, tmp_path_factory)
    other_seed, _ = from_init(project, reference, data_root, tmp_path_factory, "--seed", "1")
    assert in_order.exit_code == shuffled.exit_code == other_seed.exit_code == 0, other_seed.stderr[-3000:]
    train_losses = {name: [r["train_loss"] for r in run.events("epoch")]
                    for name, run in (("in order", in_order), ("seed 0", shuffled), ("seed 1", other_seed))}
    assert train_losses["seed 0"] != train_losses["in order"], f"the examples are not shuffled: {train_losses}"
    assert train_losses["seed 0"] != train_losses["seed 1"], f"--seed does not change the order: {train_losses}"


def test_the_largest_seed_draws_its_own_weights_and_trains(project, data_root):
    """SPEC.md §4: --seed takes 0 … 4294967295, and the largest seeds the row's own initialisation too.

    (Haiku's jit-compiled init once took the seed as a traced int32 and crashed above 2³¹ − 1.)"""
    largest = 2**32 - 1
    result = run_row(project, "--seed", str(largest), "--limit-train", "256", "--epochs", "1", data_root=data_root)
    assert result.exit_code == 0, result.stderr[-3000:]
    assert result.last("config")["seed"] == largest and result.last("config")["init"] == 0
    assert np.isfinite(result.last("epoch")["train_loss"]), result.stdout


def test_help_lists_every_contract_flag(project):
    result = run_row(project, "--help")
    assert result.exit_code == 0, result.stderr
    missing = [flag for flag in CONTRACT_FLAGS if flag not in result.stdout]
    assert not missing, f"--help does not mention {missing}:\n{result.stdout}"


def test_log_lines_are_flushed_as_they_are_printed(project, short_run):
    """SPEC.md §6: the runner timestamps lines as they arrive, so a row must not hold them back until exit."""
    result, _ = short_run
    assert result.exit_code == 0
    # Between `start` and `test` the row reads 70,000 images, trains and evaluates: well over 50 ms.
    arrived = result.arrivals
    assert arrived["test"] - arrived["start"] > 0.05, f"lines arrived together at exit: {arrived}"


PROGRESS_FIELDS = {"start": ["row"], "data": ["dataset"], "warmup": [],
                   "train": ["epoch", "epochs", "batch", "batches", "loss"]}


def check_progress(result, project, epochs: int, batches: int) -> list[dict]:
    """SPEC.md §6 "Progress": the stages in order, their fields, and at most one line per 0.25 s."""
    lines = [record for _, record in result.progress]
    stages = [record["stage"] for record in lines]
    assert stages[:2] == ["start", "data"], f"progress begins with start and data: {stages[:5]}"
    assert set(stages) <= set(PROGRESS_FIELDS) and stages.count("start") == stages.count("data") == 1, stages
    assert stages.count("warmup") <= 1
    for record in lines:
        assert list(record)[2:] == PROGRESS_FIELDS[record["stage"]], f"fields of a progress line: {record}"
    assert lines[0]["row"] == project.name
    train = [record for record in lines if record["stage"] == "train"]
    for record in train:
        assert 1 <= record["epoch"] <= record["epochs"] == epochs and 1 <= record["batch"] <= record["batches"], record
        assert record["batches"] == batches and 0 < record["loss"] < 10, record
    times = [seconds for seconds, record in result.progress if record["stage"] == "train"]
    # 0.25 s apart when printed; arrival through a pipe may bunch them by a few milliseconds.
    assert all(later - earlier > 0.2 for earlier, later in zip(times, times[1:])), f"more than 4 lines a second: {times}"
    return train


def test_progress_lines_on_stderr_follow_the_contract(project, short_run):
    result, _ = short_run
    assert result.exit_code == 0
    check_progress(result, project, epochs=5, batches=16)


# ---------------------------------------------------------------- --predict

@pytest.fixture(scope="session")
def predict_inputs(fashion_test, tmp_path_factory):
    """The first 50 Fashion-MNIST test images as an IDX file (as `invoke predict` writes it), and bad ones."""
    folder = tmp_path_factory.mktemp("predict")
    images = fashion_test[0][:50]
    write_idx(images, folder / "fifty.idx")
    idx = (folder / "fifty.idx").read_bytes()
    # Crafted bad files: one byte short, a label file, 14x14 images.
    (folder / "short.idx").write_bytes(idx[:-1])
    (folder / "labels.idx").write_bytes(struct.pack(">II", 0x801, 1) + b"\x07")
    (folder / "small.idx").write_bytes(struct.pack(">IIII", 0x803, 1, 14, 14) + bytes(196))
    return folder, images


def predictions(result) -> tuple[list[int], np.ndarray]:
    lines = result.events("predict")
    assert [r["index"] for r in lines] == list(range(len(lines)))
    return [r["class"] for r in lines], np.array([[r[f"p{d}"] for d in range(10)] for r in lines])


def test_predict_reloads_the_saved_weights_and_classifies_an_idx_file(project, short_run, predict_inputs, tmp_path):
    """The row loads the weights it saved in its short run and gives, for each image, the probabilities that
    NumPy's forward pass on that file gives, to 2e-5: save and load round-trip, and --predict works.

    A plain IDX file, as `invoke predict` writes; reading the gzip form is each contract library's unit
    test (the bench's confusion matrices use it too)."""
    result, saved = short_run
    assert result.exit_code == 0
    folder, images = predict_inputs
    expected = probabilities_of(contract_weights.load(saved), images)
    # No dataset is read: the data root does not even exist.
    predicted = run_row(project, "--load", saved, "--predict", folder / "fifty.idx", "--data-dir", tmp_path / "nowhere")
    assert predicted.exit_code == 0, predicted.stderr[-3000:]
    assert [r["event"] for r in predicted.records] == ["start"] + ["predict"] * 50, predicted.stdout[:2000]
    classes, probabilities = predictions(predicted)
    assert probabilities == pytest.approx(expected, abs=2e-5)
    assert probabilities.sum(axis=1) == pytest.approx(np.ones(50), abs=1e-4)
    assert classes == list(probabilities.argmax(axis=1))
    best_two = np.sort(expected, axis=1)[:, -2:]
    clear = best_two[:, 1] - best_two[:, 0] > 1e-4  # a near tie may go either way in float32
    assert (np.array(classes) == expected.argmax(axis=1))[clear].all()


def test_predict_needs_load(project, predict_inputs):
    folder, _ = predict_inputs
    assert_clean_error(run_row(project, "--predict", folder / "fifty.idx"), "--predict")


@pytest.mark.parametrize("name", ["absent.idx", "short.idx", "labels.idx", "small.idx"])
def test_predict_rejects_a_bad_image_file(project, reference, predict_inputs, name):
    folder, _ = predict_inputs
    result = run_row(project, "--load", reference["init"], "--predict", folder / name)
    assert_clean_error(result, name)
    assert not result.events("predict")


# ---------------------------------------------------------------- bad input

@pytest.fixture(scope="session")
def bad_data(data_root, tmp_path_factory):
    """Data roots with one broken file each; the other files are links to the real ones."""
    good = data_root / "mnist"

    def variant(name, broken_file, content: bytes):
        root = tmp_path_factory.mktemp(name)
        (root / "mnist").mkdir()
        for source in good.glob("*.gz"):
            (root / "mnist" / source.name).symlink_to(source)
        (root / "mnist" / broken_file).unlink()
        (root / "mnist" / broken_file).write_bytes(content)
        return root

    images = (good / "t10k-images-idx3-ubyte.gz").read_bytes()
    labels = gzip.decompress((good / "t10k-labels-idx1-ubyte.gz").read_bytes())
    # compresslevel=1: the default level 9 took 2-3 s for the 7.8 MB of images, charged to one row's cost.
    return {
        "truncated": variant("truncated", "t10k-images-idx3-ubyte.gz", images[: len(images) // 2]),
        "wrong-magic": variant("wrong-magic", "t10k-images-idx3-ubyte.gz", gzip.compress(labels, compresslevel=1)),
        "not-gzip": variant("not-gzip", "t10k-labels-idx1-ubyte.gz", b"this is not gzip data\n"),
        "short-payload": variant("short-payload", "t10k-images-idx3-ubyte.gz",
                                 gzip.compress(gzip.decompress(images)[:-784], compresslevel=1)),
    }


@pytest.fixture(scope="session")
def bad_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-weights")
    shapes = dict(contract_weights.SHAPES)
    wrong_shape = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    wrong_shape["fc2.weight"] = np.zeros((512, 511), np.float32)
    save_file(wrong_shape, str(folder / "wrong-shape.safetensors"))
    missing = {name: np.zeros(shape, np.float32) for name, shape in shapes.items() if name != "fc3.bias"}
    save_file(missing, str(folder / "missing-tensor.safetensors"))
    wrong_dtype = {name: np.zeros(shape, np.float64) for name, shape in shapes.items()}
    save_file(wrong_dtype, str(folder / "float64.safetensors"))
    (folder / "garbage.safetensors").write_bytes(b"\xff" * 64)
    header = json.dumps({"fc1.weight": {"dtype": "F32", "shape": [512, 784], "data_offsets": [0, 1 << 40]}}).encode()
    (folder / "lying-header.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    return folder


BAD_FLAGS = {
    "unknown-flag": (("--bogus",), "--bogus"),
    "negative-batch-size": (("--batch-size", "-5"), "--batch-size"),
    "zero-batch-size": (("--batch-size", "0"), "--batch-size"),
    "non-numeric-lr": (("--lr", "abc"), "--lr"),
    "negative-lr": (("--lr", "-0.1"), "--lr"),
    "momentum-one": (("--momentum", "1"), "--momentum"),
    "fractional-epochs": (("--epochs", "1.5"), "--epochs"),
    "limit-train-too-big": (("--limit-train", "50001"), "--limit-train"),
    "unknown-dataset": (("--dataset", "cifar10"), "--dataset"),
    "missing-value": (("--epochs",), "--epochs"),
    "init-and-load": (("--init", "a.safetensors", "--load", "b.safetensors"), "--init"),
}


def assert_clean_error(result, names: str):
    assert result.exit_code == 2, f"exit {result.exit_code}, stderr:\n{result.stderr[-3000:]}"
    crash = [marker for marker in CRASH_MARKERS if marker in result.stderr]
    assert not crash, f"stderr shows a crash ({crash}):\n{result.stderr[-3000:]}"
    line = result.error_line
    assert line.startswith("error: ") and names in line, f"unclear error line: {line!r}"
    assert not result.events("test"), "a failed run must not report a test result"


@pytest.mark.parametrize("case", BAD_FLAGS, ids=list(BAD_FLAGS))
def test_bad_flag_is_a_usage_error(project, case, data_root):
    args, names = BAD_FLAGS[case]
    assert_clean_error(run_row(project, *args, "--epochs", "0", data_root=data_root)
                       if case not in ("missing-value", "fractional-epochs")
                       else run_row(project, *args, data_root=data_root), names)


@pytest.mark.parametrize("case", ["missing-dir", "truncated", "wrong-magic", "not-gzip", "short-payload"])
def test_bad_data_is_reported_not_crashed_on(project, case, bad_data, tmp_path):
    root = tmp_path / "nowhere" if case == "missing-dir" else bad_data[case]
    result = run_row(project, "--epochs", "0", "--data-dir", root)
    assert_clean_error(result, "mnist")


@pytest.mark.parametrize("case", ["absent", "wrong-shape", "missing-tensor", "float64", "garbage", "lying-header"])
def test_bad_weights_file_is_reported(project, case, bad_weights, data_root):
    path = bad_weights / f"{case}.safetensors"
    result = run_row(project, "--load", path, "--epochs", "0", data_root=data_root)
    assert_clean_error(result, path.name)


def test_divergence_exits_3(project, reference, data_root):
    """SPEC.md §3 and §7: a non-finite training loss stops the row with exit status 3 and one clear line.

    The overflow on the way is expected, so the row says nothing about it but the error line: no NumPy
    RuntimeWarning, no framework warning about NaN. A normal run's stderr is empty or a banner (the
    assembly row's kernels line), so these markers cannot match it: `nan` and `inf` only as words
    (not "info", "finite"), `warn` also in "RuntimeWarning" and "UserWarning".
    """
    result = run_row(project, *SHORT, "--no-shuffle", "--init", reference["init"], "--lr", "1e6",
                     data_root=data_root)
    assert result.exit_code == 3, f"exit {result.exit_code}:\n{result.stdout}\n{result.stderr[-3000:]}"
    assert not [marker for marker in CRASH_MARKERS if marker in result.stderr], result.stderr[-3000:]
    assert result.error_line.startswith("error: ") and "diverged" in result.error_line, result.error_line
    assert not result.events("test")
    noise = re.compile(r"warn|overflow|invalid value|\bnan\b|\binf(inity|inite)?\b", re.IGNORECASE)
    before_error = [line for line in result.stderr.splitlines()
                    if line.strip() and not line.startswith("event=progress ")][:-1]
    noisy = [line for line in before_error if noise.search(line)]
    assert not noisy, "divergence should print only its error line, not:\n" + "\n".join(noisy[:20])


# ---------------------------------------------------------------- the full recipe

def test_default_recipe_reaches_the_contract_accuracy(project, data_root):
    """SPEC.md §3: the defaults (5 epochs on 50,000 images), run as a user runs them (every thread), reach the bar.

    The bar sits far below what any correct row reaches by chance on either kernel family and at any
    thread count: results/accuracy.md has the measurements and the reasoning.
    """
    result = run_row(project, data_root=data_root, threads=None)
    assert result.exit_code == 0, result.stderr[-3000:]
    assert result.last("config") == {"event": "config", **DEFAULTS}
    assert [r["epoch"] for r in result.events("epoch")] == [1, 2, 3, 4, 5]
    losses = [r["train_loss"] for r in result.events("epoch")]
    assert losses == sorted(losses, reverse=True), f"training loss should fall every epoch: {losses}"
    assert result.last("test")["test_acc"] >= contract.ACCURACY_BAR, result.stdout
    # About 7 s of training at the least: the progress lines show batches of every epoch as they go.
    train = check_progress(result, project, epochs=5, batches=391)
    assert {record["epoch"] for record in train} == {1, 2, 3, 4, 5}, "progress should show every epoch"
