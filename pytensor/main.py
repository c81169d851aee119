"""MNIST in PyTensor, the maintained line of Theano: a symbolic graph, pytensor.grad, compiled functions.

Written the Theano way (and Lasagne's, as in seed 003): the weights and velocities are shared
variables, the network is a symbolic expression, pytensor.grad differentiates it, and
pytensor.function compiles the train step whose `updates=` write new weights and velocities back
into the shared variables at every call. Run from the repository root:

    uv run --project pytensor pytensor/main.py --epochs 1
"""

import math
import os
import time

import numpy as np

from mnist_common import cache, check_finite, cli, data, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before PyTensor loads, so --help and bad input are answered at
# once. The training set then becomes two shared variables, and a train step takes only a batch's
# indices: the gather happens inside the compiled function, as in Theano's tutorials.
if __name__ == "__main__":
    inputs = read_inputs("pytensor", cli.build_parser("Train the SPEC.md MLP on MNIST with PyTensor (Theano)."))

# PyTensor reads its flags once, at import. float32 throughout (the contract's), and what it compiles
# (Numba's machine code) kept in the repository's cache folder, so a later run loads it instead of
# compiling again. Flags the user sets in PYTENSOR_FLAGS come later in the string, so they win.
FLAGS = ["floatX=float32", f"base_compiledir={cache.cache_dir('pytensor')}", os.environ.get("PYTENSOR_FLAGS")]
os.environ["PYTENSOR_FLAGS"] = ",".join(flag for flag in FLAGS if flag)

import numba
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax, softmax

# PyTensor 3 compiles a function with Numba (its default linker): one machine-code function per
# graph, BLAS from SciPy's OpenBLAS. Asked for by name, so a user's linker= flag cannot change it;
# Theano's C backend is still there (mode "FAST_RUN" with linker=cvm), and the README measures both.
MODE = "NUMBA"


# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


def init_params(rng: np.random.Generator, tensors: dict | None = None) -> list:
    """Shared variables W [in, out] and b per layer, as Theano's tutorials keep them (x·W + b).

    Drawn with NumPy from the contract's U(-1/sqrt(fan_in), +1/sqrt(fan_in)), weights and biases
    alike, in the weights file's [out, in] layout and order (the NumPy row's draws), then transposed.
    Or the given weights.
    """
    params = []
    for name, fan_in, fan_out in LAYERS:
        if tensors is None:
            bound = 1.0 / np.sqrt(fan_in)
            w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
            b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        else:
            w, b = tensors[f"{name}.weight"], tensors[f"{name}.bias"]
        params += [pytensor.shared(np.ascontiguousarray(w.T), name=f"{name}.weight"),
                   pytensor.shared(np.asarray(b, np.float32), name=f"{name}.bias")]
    return params


def params_to_tensors(params) -> dict:
    """The weights file's names and PyTorch's [out, in] layout."""
    return {p.name: p.get_value().T if p.ndim == 2 else p.get_value() for p in params}


def forward(params, x):
    """Symbolic logits of a symbolic batch x: 784 → 512 → ReLU → 512 → ReLU → 10."""
    w1, b1, w2, b2, w3, b3 = params
    h1 = pt.maximum(x @ w1 + b1, 0)
    h2 = pt.maximum(h1 @ w2 + b2, 0)
    return h2 @ w3 + b3


def losses_and_hits(params, x, y):
    """Per-example softmax cross-entropy (the tutorials' -log p[arange(n), y]) and correct predictions."""
    logits = forward(params, x)
    losses = -log_softmax(logits, axis=1)[pt.arange(y.shape[0]), y]
    return losses, pt.eq(logits.argmax(axis=1), y).sum()


# ---------------------------------------------------------------- train step
def make_train_step(params, velocities, train_x, train_y, lr: float, momentum: float):
    """Compile one SGD-with-momentum step: batch indices in; the batch's summed loss and hits out.

    `updates` are applied after the outputs, all from the old values, so the new velocity is
    written into both updates: buf = mu*buf + g; p = p - lr*buf, the contract's (PyTorch's) form.
    lr and mu are shared scalars, not constants: one compiled graph (and cache entry) serves them all.
    """
    lr, momentum = pytensor.shared(np.float32(lr), name="lr"), pytensor.shared(np.float32(momentum), name="momentum")
    batch = pt.lvector("batch")
    losses, hits = losses_and_hits(params, train_x[batch], train_y[batch])
    grads = pytensor.grad(losses.mean(), params)
    updates = []
    for param, velocity, grad in zip(params, velocities, grads):
        buf = momentum * velocity + grad
        updates += [(velocity, buf), (param, param - lr * buf)]
    return pytensor.function([batch], [losses.sum(), hits], updates=updates, mode=MODE)


def train_epoch(train_step, count: int, args, rng, epoch: int):
    """One epoch; returns the mean training loss and accuracy over the epoch's examples."""
    total_loss, correct, seen = 0.0, 0, 0
    batches = math.ceil(count / args.batch_size)
    for index, batch in enumerate(data.batches(count, args.batch_size, rng if args.shuffle else None), 1):
        loss, hits = train_step(batch)  # one call of the compiled function; the weights stay inside
        total_loss += float(loss)
        correct += int(hits)
        seen += len(batch)
        progress.train(epoch, args.epochs, index, batches, total_loss / seen)  # a few lines a second
    return total_loss / count, correct / count


def warm_up(train_step, state) -> None:
    """Numba compiles at a function's first call: make that call, then put the state back as it was."""
    saved = [variable.get_value() for variable in state]  # copies
    train_step(np.zeros(1, np.int64))
    for variable, value in zip(state, saved):
        variable.set_value(value)


# ---------------------------------------------------------------- evaluate
def make_evaluate(params):
    """Compile the evaluation: a whole split in, its summed loss and hits out (no updates)."""
    x, y = pt.matrix("x"), pt.lvector("y")
    losses, hits = losses_and_hits(params, x, y)
    return pytensor.function([x, y], [losses.sum(), hits], mode=MODE)


def evaluate(evaluate_fn, images, labels):
    """Mean loss and accuracy over a whole split, in one call."""
    loss_sum, hits = evaluate_fn(images, labels)
    return float(loss_sum) / len(labels), int(hits) / len(labels)


def predict(params, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    x = pt.matrix("x")
    return pytensor.function([x], softmax(forward(params, x), axis=1), mode=MODE)(images)


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    log.start("pytensor", f"pytensor/{pytensor.__version__}+numba/{numba.__version__}", "cpu")
    if args.predict:
        for index, probabilities in enumerate(predict(init_params(None, inputs.init), inputs.images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)

    rng = np.random.default_rng(args.seed)  # the initial weights, then every epoch's order
    params = init_params(rng, inputs.init)
    velocities = [pytensor.shared(np.zeros_like(p.get_value()), name=f"{p.name}.velocity") for p in params]
    train_x, train_y = pytensor.shared(splits.train_x, name="train_x"), pytensor.shared(splits.train_y, name="train_y")

    # Warm-up: build and rewrite the graphs, then compile them with Numba (loaded from the cache
    # when an earlier run compiled the same graphs), before epoch 1.
    progress.warmup()
    started = time.perf_counter()
    evaluate_fn = make_evaluate(params)
    evaluate(evaluate_fn, splits.val_x[:1], splits.val_y[:1])
    if args.epochs > 0:
        train_step = make_train_step(params, velocities, train_x, train_y, args.lr, args.momentum)
        warm_up(train_step, params + velocities)
    log.warmup(time.perf_counter() - started)

    count = len(splits.train_y)
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(train_step, count, args, rng, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(evaluate_fn, splits.val_x, splits.val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(evaluate_fn, splits.test_x, splits.test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, params_to_tensors(params))


if __name__ == "__main__":
    run_main(main, inputs)
