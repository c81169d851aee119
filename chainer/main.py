"""MNIST in Chainer: a Chain of L.Linear links, wrapped in L.Classifier and trained by optimizers.MomentumSGD.

Chainer is define-by-run: the graph is recorded as forward() runs, and loss.backward() walks it.
The loop is the one Chainer's examples/mnist/train_mnist_custom_loop.py teaches: optimizer.update(model,
x, t), then the batch's loss and accuracy read from the Classifier. Run from the repository root:

    uv run --project chainer chainer/main.py --epochs 1
"""

import math
import os
import time
from pathlib import Path

# NumPy 1.26 (the last NumPy Chainer can import) ships OpenBLAS 0.3.23, which does not recognise CPUs newer
# than itself (an Emerald Rapids Xeon here) and falls back to its slowest, SSE3 kernels: 3-4x slower.
# Name the kernel family from the CPU's flags, before NumPy loads it, unless the user already did.
if not os.environ.get("OPENBLAS_CORETYPE") and Path("/proc/cpuinfo").exists():
    flags = set(Path("/proc/cpuinfo").read_text().split())
    core = "SkylakeX" if {"avx512f", "avx512bw", "avx512vl"} <= flags else "Haswell" if "avx2" in flags else None
    if core:
        os.environ["OPENBLAS_CORETYPE"] = core

from mnist_common import check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before Chainer loads, so --help and bad input are answered at
# once. The arrays stay NumPy arrays (Chainer's CPU arrays); a batch is an index slice of them.
if __name__ == "__main__":
    inputs = read_inputs("chainer", cli.build_parser("Train the SPEC.md MLP on MNIST with Chainer."))

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
from chainer import initializers, optimizers


def batches(count: int, batch_size: int, rng):
    """Index arrays of consecutive batches over a fresh permutation (file order when rng is None).

    Chainer's SerialIterator would build each batch example by example (a list of (image, label)
    tuples that concat_examples stacks); slicing the arrays by index does the same in one step.
    """
    order = rng.permutation(count) if rng is not None else np.arange(count)
    for start in range(0, count, batch_size):
        yield order[start:start + batch_size]


# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


class MLP(chainer.Chain):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits (the loss takes logits: no softmax here)."""

    def __init__(self, rng):
        super().__init__()
        # L.Linear defaults to LeCun-normal weights and zero biases; the contract wants PyTorch's
        # U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for both. Uniform(scale) draws from [-scale, scale].
        with self.init_scope():  # links assigned in here are registered as the chain's children
            for name, fan_in, fan_out in LAYERS:
                uniform = initializers.Uniform(1.0 / math.sqrt(fan_in), rng=rng)
                setattr(self, name, L.Linear(fan_in, fan_out, initialW=uniform, initial_bias=uniform))

    def forward(self, x):
        h = F.relu(self.fc1(x))
        h = F.relu(self.fc2(h))
        return self.fc3(h)


def init_params(rng, tensors: dict | None = None) -> L.Classifier:
    """The MLP wrapped in L.Classifier, which adds the mean softmax cross-entropy and the accuracy.

    L.Linear keeps W as [out, in], PyTorch's layout, so the weights file's tensors copy straight in.
    """
    model = L.Classifier(MLP(rng))
    if tensors is not None:
        for name, _, _ in LAYERS:
            link = getattr(model.predictor, name)
            link.W.array[...] = tensors[f"{name}.weight"]
            link.b.array[...] = tensors[f"{name}.bias"]
    return model


def get_weights(model: L.Classifier) -> dict:
    tensors = {}
    for name, _, _ in LAYERS:
        link = getattr(model.predictor, name)
        tensors[f"{name}.weight"], tensors[f"{name}.bias"] = link.W.array, link.b.array
    return tensors


def forward(model: L.Classifier, x):
    """Logits for a batch: the Chain's own forward pass."""
    return model.predictor(x)


# ---------------------------------------------------------------- train step
def make_optimizer(model, lr: float, momentum: float) -> optimizers.MomentumSGD:
    """MomentumSGD keeps v = momentum*v - lr*g and adds v to the weights: for a constant learning rate
    that is the contract's buf = momentum*buf + g, p -= lr*buf, with v = -lr*buf."""
    optimizer = optimizers.MomentumSGD(lr=lr, momentum=momentum)
    optimizer.setup(model)  # one update rule, with its own velocity v, per parameter
    return optimizer


def train_step(model, optimizer, x, t):
    """One step. optimizer.update(lossfun, *args) clears the gradients, calls model(x, t) — the
    Classifier's forward pass, loss and accuracy — runs loss.backward() and updates every parameter.
    Returns the batch's mean loss and accuracy, which the Classifier keeps."""
    optimizer.update(model, x, t)
    return float(model.loss.array), float(model.accuracy.array)


def train_epoch(model, optimizer, images, labels, args, rng, epoch: int):
    """One pass over the training set; returns its mean loss and accuracy over the epoch's examples."""
    total_loss, correct, seen = 0.0, 0.0, 0
    batches_count = math.ceil(len(labels) / args.batch_size)
    # A too-large --lr overflows the weights to inf and then NaN; the epoch's loss shows it and
    # check_finite() ends the run with one error line, so NumPy's RuntimeWarnings on the way are noise.
    with chainer.using_config("train", True), np.errstate(over="ignore", invalid="ignore"):
        for index, batch in enumerate(batches(len(labels), args.batch_size, rng if args.shuffle else None), 1):
            loss, accuracy = train_step(model, optimizer, images[batch], labels[batch])
            total_loss += loss * len(batch)  # the Classifier's loss and accuracy are batch means
            correct += accuracy * len(batch)
            seen += len(batch)
            progress.train(epoch, args.epochs, index, batches_count, total_loss / seen)  # a few lines a second
    return total_loss / len(labels), correct / len(labels)


# ---------------------------------------------------------------- evaluate
def evaluate(model, images, labels, batch_size: int = 1000):
    """Mean loss and accuracy over a whole split: test mode, and no graph recorded for backward."""
    total_loss, correct = 0.0, 0.0
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for start in range(0, len(labels), batch_size):
            x, t = images[start:start + batch_size], labels[start:start + batch_size]
            total_loss += float(model(x, t).array) * len(t)
            correct += float(model.accuracy.array) * len(t)
    return total_loss / len(labels), correct / len(labels)


def predict(model, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        return F.softmax(forward(model, images)).array


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    log.start("chainer", f"chainer/{chainer.__version__}+numpy/{np.__version__}", "cpu")
    # One NumPy RandomState, seeded once, draws the initial weights and then every epoch's order.
    rng = np.random.RandomState(args.seed)
    if args.predict:
        model = init_params(rng, inputs.init)
        for index, probabilities in enumerate(predict(model, inputs.images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    # Chainer's softmax_cross_entropy and accuracy take int32 labels.
    train_y, val_y, test_y = (y.astype(np.int32) for y in (splits.train_y, splits.val_y, splits.test_y))

    model = init_params(rng, inputs.init)
    optimizer = make_optimizer(model, args.lr, args.momentum)

    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(model, optimizer, splits.train_x, train_y, args, rng, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(model, splits.val_x, val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, splits.test_x, test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, get_weights(model))


if __name__ == "__main__":
    run_main(main, inputs)
