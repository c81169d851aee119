"""MNIST in Flax NNX: an nnx.Module of nnx.Linear layers, nnx.Optimizer over optax's SGD, an nnx.jit train step.

NNX modules are ordinary Python objects that hold their parameters, the way PyTorch's do; nnx.jit
and nnx.value_and_grad lift JAX's transforms to such objects, and nnx.Optimizer updates the model in
place. The train step is compiled ahead of time, before epoch 1, and reported as the warm-up. Run from
the repository root:

    uv run --project flax flax/main.py --epochs 1
"""

import math
import time

import numpy as np

from mnist_common import cache, check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before JAX and Flax load, which takes seconds, so --help and bad
# input are answered at once. The arrays go to the device once, and a batch is a slice of a shuffled
# index array, gathered inside the train step.
if __name__ == "__main__":
    inputs = read_inputs("flax", cli.build_parser("Train the SPEC.md MLP on MNIST with Flax NNX and optax."))

import flax
import jax
import jax.numpy as jnp
import optax
from flax import nnx

# JAX's persistent compilation cache: a later run loads its compiled programs from disk instead of
# compiling them again (the start-up advice of JAX's documentation).
cache.use_jax_compilation_cache()


# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


def uniform(bound: float):
    """An initializer is any function (key, shape, dtype) -> array: this one draws U(-bound, +bound)."""
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


class MLP(nnx.Module):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits.

    nnx.Linear defaults to lecun-normal weights and zero biases; the contract wants PyTorch's
    U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for both, the bias bound from the layer's fan_in too.
    """

    def __init__(self, rngs: nnx.Rngs):
        for name, fan_in, fan_out in LAYERS:
            init = uniform(1.0 / math.sqrt(fan_in))
            setattr(self, name, nnx.Linear(fan_in, fan_out, kernel_init=init, bias_init=init, rngs=rngs))

    def __call__(self, x):
        x = nnx.relu(self.fc1(x))
        x = nnx.relu(self.fc2(x))
        return self.fc3(x)


def init_params(seed: int) -> MLP:
    """Eager, the way Flax teaches it: the constructor draws the parameters from the seeded key."""
    return MLP(nnx.Rngs(seed))


def forward(model: MLP, x):
    """The forward pass is the module's own __call__."""
    return model(x)


# NNX keeps a kernel as [in, out]; the weights file has PyTorch's names and [out, in] layout.
def model_from_tensors(tensors: dict) -> MLP:
    model = nnx.eval_shape(lambda: MLP(nnx.Rngs(0)))  # the structure only: no random numbers drawn
    for name, _, _ in LAYERS:
        layer = getattr(model, name)
        layer.kernel.set_value(jnp.asarray(tensors[f"{name}.weight"].T))
        layer.bias.set_value(jnp.asarray(tensors[f"{name}.bias"]))
    return model


def model_to_tensors(model: MLP) -> dict:
    tensors = {}
    for name, _, _ in LAYERS:
        layer = getattr(model, name)
        tensors[f"{name}.weight"] = np.asarray(layer.kernel[...]).T
        tensors[f"{name}.bias"] = np.asarray(layer.bias[...])
    return tensors


def loss_fn(model: MLP, x, y):
    """Mean softmax cross-entropy over the batch; the per-example losses and logits for the metrics."""
    logits = forward(model, x)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return losses.mean(), (losses, logits)


# ---------------------------------------------------------------- train step
# nnx.Optimizer(model, optax.sgd(lr, momentum), wrt=nnx.Param): optax.sgd is trace (buf = g + momentum*buf)
# then scale (update = -lr*buf), exactly the contract's PyTorch form. nnx.jit carries the model's, the
# optimizer's and the metrics' in-place updates out of the compiled function; donating them lets XLA
# write the new state into the old buffers.
@nnx.jit(donate_argnames=("model", "optimizer", "metrics"))
def train_step(model: MLP, optimizer: nnx.Optimizer, metrics: nnx.MultiMetric, images, labels, batch):
    x, y = images[batch], labels[batch]
    (_, (losses, logits)), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, x, y)
    optimizer.update(model, grads)  # in place: model.fcK.kernel -= lr * buf
    # Average over the per-example losses, not the batch mean: the last, partial batch weighs its size.
    metrics.update(loss=losses, logits=logits, labels=y)


def batch_sizes(count: int, batch_size: int) -> set[int]:
    """The shapes the train step will see: full batches and, if any, the last, partial one."""
    return {min(batch_size, count), count % batch_size or min(batch_size, count)}


def train_epoch(steps, metrics, images, labels, order, args, epoch: int):
    """One epoch over the given order; returns the mean training loss and accuracy."""
    metrics.reset()
    batches = math.ceil(len(order) / args.batch_size)
    for index, start in enumerate(range(0, len(order), args.batch_size), 1):
        batch = order[start:start + args.batch_size]
        steps[len(batch)](images, labels, batch)  # no wait per step: JAX dispatches it and returns
        # The running loss is read from the device only for the few progress lines a second that print.
        progress.train(epoch, args.epochs, index, batches, lambda: float(metrics.compute()["loss"]))
    totals = metrics.compute()
    return float(totals["loss"]), float(totals["accuracy"])


# ---------------------------------------------------------------- evaluate
@nnx.jit
def evaluate(model: MLP, images, labels):
    """Mean loss and accuracy over a whole split, in one call."""
    _, (losses, logits) = loss_fn(model, images, labels)
    return losses.mean(), (logits.argmax(axis=1) == labels).mean()


@nnx.jit
def predict(model: MLP, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    return jax.nn.softmax(forward(model, images))


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    device = jax.devices()[0]
    log.start("flax", f"flax/{flax.__version__}+jax/{jax.__version__}", device.platform)
    if args.predict:
        model = model_from_tensors(inputs.init)
        for index, probabilities in enumerate(np.asarray(predict(model, inputs.images))):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    train_x, train_y, val_x, val_y, test_x, test_y = map(jax.device_put, splits)  # labels become int32

    model = model_from_tensors(inputs.init) if args.init else init_params(args.seed)
    optimizer = nnx.Optimizer(model, optax.sgd(args.lr, momentum=args.momentum), wrt=nnx.Param)
    metrics = nnx.MultiMetric(loss=nnx.metrics.Average("loss"), accuracy=nnx.metrics.Accuracy())
    rng = np.random.default_rng(args.seed)

    # Warm-up: compile the train step for each batch shape it will see (a partial last batch is a
    # second shape) and the evaluation, so no epoch pays for compilation. nnx.cached_partial binds the
    # model, optimizer and metrics once (Flax's performance guide), so a step no longer walks their
    # object graph in Python: that walk cost more host time per step than the rest of the call.
    progress.warmup()
    started = time.perf_counter()
    steps = {} if args.epochs == 0 else {
        size: nnx.cached_partial(train_step.lower(model, optimizer, metrics, train_x, train_y,
                                                  np.zeros(size, np.int32)).compile(), model, optimizer, metrics)
        for size in batch_sizes(len(splits.train_y), args.batch_size)}
    evaluate_compiled = evaluate.lower(model, val_x, val_y).compile()
    log.warmup(time.perf_counter() - started)

    for epoch in range(1, args.epochs + 1):
        count = len(splits.train_y)
        order = (rng.permutation(count) if args.shuffle else np.arange(count)).astype(np.int32)
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(steps, metrics, train_x, train_y, order, args, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = map(float, evaluate_compiled(model, val_x, val_y))
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = map(float, evaluate_compiled(model, test_x, test_y))
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, model_to_tensors(model))


if __name__ == "__main__":
    run_main(main, inputs)
