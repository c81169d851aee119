"""MNIST in Apache MXNet Gluon: a hybridized nn.HybridSequential, autograd.record() and gluon.Trainer's SGD.

The shape of MXNet's Gluon tutorials: build a HybridSequential of Dense layers, hybridize() it into
a cached graph, record the forward pass under autograd, call backward() and let a Trainer step.
MXNet retired to the Apache Attic in 2023; 1.9.1 (2022) is its last release. Run from the repository root:

    uv run --project mxnet mxnet/main.py --epochs 1
"""

import math
import time

import numpy as np

from mnist_common import check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before MXNet loads, so --help and bad input are answered at once.
# The splits then become NDArrays once; a batch is a gather (nd.take) of shuffled indices.
if __name__ == "__main__":
    inputs = read_inputs("mxnet", cli.build_parser("Train the SPEC.md MLP on MNIST with Apache MXNet Gluon."))

import mxnet as mx
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

CTX = mx.cpu()


def to_nd(images, labels):
    """Images stay float32; labels become float32 too, the dtype Gluon's losses and metrics expect."""
    return nd.array(images, ctx=CTX), nd.array(labels, ctx=CTX, dtype="float32")


# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


def init_params(seed: int, tensors: dict | None = None) -> nn.HybridSequential:
    """784 → 512 → ReLU → 512 → ReLU → 10 logits, no softmax (the loss takes logits).

    Gluon's Dense defaults to Uniform(0.07) weights and zero biases; the contract wants PyTorch's
    U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for both, and mx.init.Uniform(scale) draws U(-scale, scale).
    Dense keeps its weight as [units, in_units]: PyTorch's [out, in], so the file needs no transpose.
    The prefixes name the parameters "fc1_weight", ...: the file's "fc1.weight" with "_" for ".".
    """
    mx.random.seed(seed)  # the initialisers draw from MXNet's own generator
    net = nn.HybridSequential(prefix="")
    with net.name_scope():
        for index, (name, fan_in, fan_out) in enumerate(LAYERS):
            uniform = mx.init.Uniform(1.0 / math.sqrt(fan_in))
            activation = "relu" if index < len(LAYERS) - 1 else None
            net.add(nn.Dense(fan_out, in_units=fan_in, activation=activation, prefix=f"{name}_",
                             weight_initializer=uniform, bias_initializer=uniform))
    net.initialize(ctx=CTX)
    if tensors is not None:
        for name, array in tensors.items():
            net.collect_params()[name.replace(".", "_")].set_data(nd.array(array, ctx=CTX))
    return net


def get_weights(net: nn.HybridSequential) -> dict:
    return {name.replace("_", "."): param.data().asnumpy() for name, param in net.collect_params().items()}


def forward(net, x):
    """The hybridized net's cached graph: one call into MXNet's engine for the whole forward pass."""
    return net(x)


# ---------------------------------------------------------------- train step
# SoftmaxCrossEntropyLoss gives one loss per example; backward() of that vector sums their gradients,
# and trainer.step(batch_size) scales them by 1/batch_size (the optimizer's rescale_grad): the
# gradient of the batch's mean loss, as the contract wants, also for the last, shorter batch.
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()


def make_trainer(net, lr: float, momentum: float) -> gluon.Trainer:
    """MXNet's SGD keeps mom = momentum*mom - lr*grad and adds mom to the weight: for a constant learning
    rate that is PyTorch's buf = momentum*buf + grad, p -= lr*buf, with mom = -lr*buf. wd is spelled
    out as 0 (the default): MXNet's SGD would otherwise add wd*weight to every gradient."""
    return gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr, "momentum": momentum, "wd": 0.0})


def train_step(net, trainer, x, y):
    """One SGD-with-momentum step on a batch; returns the per-example losses and the logits."""
    with autograd.record():  # record the forward pass so backward() can differentiate it
        output = forward(net, x)
        loss = loss_fn(output, y)
    loss.backward()
    trainer.step(len(y))
    return loss, output


def warm_up(net, x, y, sizes) -> None:
    """Build the hybridized graphs before epoch 1: a forward and backward pass for each batch size the
    epochs will see (a last, shorter batch is a second shape), with no trainer.step, so the weights stay."""
    for size in sizes:
        with autograd.record():
            loss = loss_fn(forward(net, x[:size]), y[:size])
        loss.backward()
    nd.waitall()  # MXNet's engine is asynchronous: wait until the work is really done


def train_epoch(net, trainer, images, labels, order, args, epoch: int):
    """One epoch over the given order; returns the mean training loss and accuracy."""
    order = nd.array(order, ctx=CTX, dtype="int32")
    count = len(order)
    batches = math.ceil(count / args.batch_size)
    # Summed in NDArrays: MXNet's engine runs the steps asynchronously, and reading a number
    # (asscalar) would wait for each step. Read once per epoch, and for the few progress lines a second.
    total_loss, correct = nd.zeros((1,), ctx=CTX), nd.zeros((1,), ctx=CTX)
    for index, start in enumerate(range(0, count, args.batch_size), 1):
        batch = order[start:start + args.batch_size]
        x, y = nd.take(images, batch), nd.take(labels, batch)
        loss, output = train_step(net, trainer, x, y)
        total_loss += loss.sum()
        correct += (output.argmax(axis=1) == y).sum()
        seen = start + len(batch)
        progress.train(epoch, args.epochs, index, batches, lambda: total_loss.asscalar() / seen)
    return total_loss.asscalar() / count, correct.asscalar() / count


# ---------------------------------------------------------------- evaluate
def evaluate(net, images, labels, batch_size: int = 1000):
    """Mean loss and accuracy over a whole split (no autograd.record: inference only)."""
    total_loss, correct = nd.zeros((1,), ctx=CTX), nd.zeros((1,), ctx=CTX)
    for start in range(0, len(labels), batch_size):
        x, y = images[start:start + batch_size], labels[start:start + batch_size]
        output = forward(net, x)
        total_loss += loss_fn(output, y).sum()
        correct += (output.argmax(axis=1) == y).sum()
    return total_loss.asscalar() / len(labels), correct.asscalar() / len(labels)


def predict(net, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    return nd.softmax(forward(net, nd.array(images, ctx=CTX)), axis=1).asnumpy()


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    log.start("mxnet", f"mxnet/{mx.__version__}", "cpu")  # the PyPI wheel is the CPU build
    if args.predict:
        net = init_params(args.seed, inputs.init)
        net.hybridize()
        for index, probabilities in enumerate(predict(net, inputs.images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    train_x, train_y = to_nd(splits.train_x, splits.train_y)
    val_x, val_y = to_nd(splits.val_x, splits.val_y)
    test_x, test_y = to_nd(splits.test_x, splits.test_y)

    net = init_params(args.seed, inputs.init)
    # static_alloc/static_shape: the cached graph keeps its memory and shapes between calls,
    # MXNet's advice for the fastest hybridized training.
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = make_trainer(net, args.lr, args.momentum)
    rng = np.random.default_rng(args.seed)  # the batches' order; MXNet's generator seeds the init

    if args.epochs > 0:
        progress.warmup()
        started = time.perf_counter()
        count = len(splits.train_y)
        warm_up(net, train_x, train_y, {min(args.batch_size, count), count % args.batch_size or args.batch_size})
        log.warmup(time.perf_counter() - started)

    for epoch in range(1, args.epochs + 1):
        count = len(splits.train_y)
        order = rng.permutation(count) if args.shuffle else np.arange(count)
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(net, trainer, train_x, train_y, order, args, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(net, val_x, val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(net, test_x, test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, get_weights(net))


if __name__ == "__main__":
    run_main(main, inputs)
