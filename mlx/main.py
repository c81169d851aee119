"""MNIST in MLX: an mlx.nn Module, nn.value_and_grad, optim.SGD and an mx.compile'd train step.

MLX is Apple's array framework for Apple silicon; this row runs its Linux CPU backend (the mlx[cpu]
wheel). As in MLX's own MNIST example, the model is an nn.Module of nn.Linear layers, nn.value_and_grad
differentiates the loss with respect to its parameters, and the whole step (forward, backward and the
optimizer's update) is one mx.compile'd function whose state, the model's and the optimizer's arrays,
goes in and comes out. MLX is lazy: arrays are computed when mx.eval asks for them. Run from the
repository root:

    uv run --project mlx mlx/main.py --epochs 1
"""

import functools
import math
import time

import numpy as np

from mnist_common import check_finite, cli, log, openblas, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before MLX loads, so --help and bad input are answered at once.
# The splits become MLX arrays once; a batch is an index slice of a shuffled index array.
if __name__ == "__main__":
    inputs = read_inputs("mlx", cli.build_parser("Train the SPEC.md MLP on MNIST with MLX (CPU backend)."))

# The mlx[cpu] wheel's matrix products call cblas_sgemm in the BLAS it bundles, the Netlib reference
# BLAS: 20x dearer here than OpenBLAS (README). Debian's OpenBLAS, loaded into the global symbol namespace
# before MLX loads, answers MLX's cblas_sgemm instead (with its kernels named for this CPU: mnist_common).
if __name__ == "__main__":
    openblas.load_system_openblas()

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


# ---------------------------------------------------------------- model
class MLP(nn.Module):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits. nn.Linear keeps its weight as [out, in], the contract's layout."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)

    def __call__(self, x):
        x = nn.relu(self.fc1(x))
        x = nn.relu(self.fc2(x))
        return self.fc3(x)


def init_params(seed: int, tensors: dict | None = None) -> MLP:
    """nn.Linear's default init is the contract's: weight and bias ~ U(±1/sqrt(fan_in)), from MLX's global
    RNG. Or the given weights: MLX's parameter paths (fc1.weight, ...) are the weights file's names."""
    mx.random.seed(seed)
    model = MLP()
    if tensors is not None:
        model.load_weights([(name, mx.array(array)) for name, array in tensors.items()])
    mx.eval(model.parameters())  # lazy: draw (or copy) the numbers now
    return model


def loss_fn(model, x, y):
    """The mean softmax cross-entropy to differentiate, then the batch's summed loss and hits for the log
    (value_and_grad differentiates the first value and passes the others through)."""
    logits = model(x)
    losses = nn.losses.cross_entropy(logits, y)
    return losses.mean(), losses.sum(), (logits.argmax(axis=1) == y).sum()


# ---------------------------------------------------------------- train step
def make_train_step(model: MLP, optimizer: optim.Optimizer):
    """optim.SGD(momentum=μ) with its defaults (no dampening, no Nesterov) is v = μ·v + g, p = p - lr·v:
    exactly the contract's PyTorch form. mx.compile traces the step once per input shape and fuses its
    element-wise operations into C++ kernels built with the system's g++; `inputs` and `outputs` name the
    state the step reads and replaces, so the compiled function can update the model and the optimizer."""
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state]

    @functools.partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        (_, loss_sum, hits), grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss_sum, hits

    return train_step, state


def batch_sizes(count: int, batch_size: int) -> set[int]:
    """The shapes the train step will see: full batches and, if any, the last, partial one."""
    return {min(batch_size, count), count % batch_size or min(batch_size, count)}


def train_epoch(train_step, state, images, labels, order, args, epoch: int):
    """One epoch over the given order; returns the mean training loss and accuracy."""
    loss_sum, hits = mx.array(0.0), mx.array(0)
    batches = math.ceil(len(order) / args.batch_size)
    for index, start in enumerate(range(0, len(order), args.batch_size), 1):
        batch = order[start:start + args.batch_size]
        batch_loss, batch_hits = train_step(images[batch], labels[batch])
        loss_sum, hits = loss_sum + batch_loss, hits + batch_hits
        # Nothing has run yet: evaluate the new state (and the running sums) before building the next step.
        mx.eval(state, loss_sum, hits)
        seen = start + len(batch)
        progress.train(epoch, args.epochs, index, batches, lambda: loss_sum.item() / seen)
    return loss_sum.item() / len(order), hits.item() / len(order)


# ---------------------------------------------------------------- evaluate
def evaluate(model, images, labels):
    """Mean loss and accuracy over a whole split, in one pass."""
    _, loss_sum, hits = loss_fn(model, images, labels)
    return loss_sum.item() / len(labels), hits.item() / len(labels)


def predict(model, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    return np.array(mx.softmax(model(images), axis=1))


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    log.start("mlx", f"mlx/{mx.__version__}", mx.default_device().type.name)
    if args.predict:
        model = init_params(args.seed, inputs.init)
        for index, probabilities in enumerate(predict(model, mx.array(inputs.images))):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    train_x, train_y, val_x, val_y, test_x, test_y = map(mx.array, splits)

    model = init_params(args.seed, inputs.init)
    optimizer = optim.SGD(learning_rate=args.lr, momentum=args.momentum)
    optimizer.init(model.trainable_parameters())  # the momentum buffers, zero, before the step is compiled
    train_step, state = make_train_step(model, optimizer)
    rng = np.random.default_rng(args.seed)

    # Warm-up: mx.compile compiles on a function's first call with each input shape (a partial last batch
    # is a second shape). Run that first call on a scratch model and optimizer, so no epoch pays for the
    # C++ kernels and the real model starts from its init; the real step finds those kernels built.
    progress.warmup()
    started = time.perf_counter()
    scratch = MLP()
    scratch_optimizer = optim.SGD(learning_rate=args.lr, momentum=args.momentum)
    scratch_optimizer.init(scratch.trainable_parameters())
    scratch_step, scratch_state = make_train_step(scratch, scratch_optimizer)
    for size in batch_sizes(len(splits.train_y), args.batch_size) if args.epochs else ():
        mx.eval(scratch_state, scratch_step(train_x[:size], train_y[:size]))
    log.warmup(time.perf_counter() - started)

    for epoch in range(1, args.epochs + 1):
        count = len(splits.train_y)
        order = mx.array(rng.permutation(count) if args.shuffle else np.arange(count))
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(train_step, state, train_x, train_y, order, args, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(model, val_x, val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, test_x, test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, {name: np.array(array) for name, array in tree_flatten(model.parameters())})


if __name__ == "__main__":
    run_main(main, inputs)
