"""MNIST in JAX + Equinox: an eqx.Module of eqx.nn.Linear layers, optax's SGD and an eqx.filter_jit train step.

In Equinox the model *is* a PyTree: a dataclass whose fields are the layers, whose leaves are the
weight arrays. eqx.filter_value_and_grad differentiates the loss with respect to the model, optax
updates it, eqx.filter_jit compiles the step; the new model is returned, never mutated. The step is
compiled ahead of time, before epoch 1, and reported as the warm-up. Run from the repository root:

    uv run --project equinox equinox/main.py --epochs 1
"""

import math
import time

import numpy as np

from mnist_common import cache, check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before JAX loads, which takes seconds, so --help and bad input
# are answered at once. The arrays go to the device once, and a batch is a slice of a shuffled
# index array, gathered inside the train step.
if __name__ == "__main__":
    inputs = read_inputs("equinox", cli.build_parser("Train the SPEC.md MLP on MNIST with JAX + Equinox and optax."))

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

# JAX's persistent compilation cache: a later run loads its compiled programs from disk instead of
# compiling them again (the start-up advice of JAX's documentation).
cache.use_jax_compilation_cache()


# ---------------------------------------------------------------- model
class Net(eqx.Module):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits, for ONE image: jax.vmap(model) maps it over a batch.

    eqx.nn.Linear's default init is already the contract's: weight and bias both drawn from
    U(-1/sqrt(in_features), +1/sqrt(in_features)), and weight is stored [out, in] like PyTorch's.
    """

    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear
    fc3: eqx.nn.Linear

    def __init__(self, key):
        key1, key2, key3 = jax.random.split(key, 3)  # explicit RNG: one key per layer
        self.fc1 = eqx.nn.Linear(784, 512, key=key1)
        self.fc2 = eqx.nn.Linear(512, 512, key=key2)
        self.fc3 = eqx.nn.Linear(512, 10, key=key3)

    def __call__(self, x):
        x = jax.nn.relu(self.fc1(x))
        x = jax.nn.relu(self.fc2(x))
        return self.fc3(x)


def init_params(seed: int) -> Net:
    # filter_jit: one compiled program draws all six tensors (run eagerly, each random op compiles on its own)
    return eqx.filter_jit(Net)(jax.random.PRNGKey(seed))


NAMES = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias")


def leaves(model: Net) -> list:
    """The model's six arrays, in the order of NAMES (the weights file's names are the fields' paths)."""
    return [model.fc1.weight, model.fc1.bias, model.fc2.weight, model.fc2.bias, model.fc3.weight, model.fc3.bias]


def params_from_tensors(tensors: dict) -> Net:
    # The model's shape without drawing any numbers (filter_eval_shape), then its leaves swapped for the
    # file's tensors by eqx.tree_at, Equinox's model surgery. Same layout as the file: no transpose.
    skeleton = eqx.filter_eval_shape(Net, jax.random.PRNGKey(0))
    return eqx.tree_at(leaves, skeleton, [jnp.asarray(tensors[name]) for name in NAMES])


def params_to_tensors(model: Net) -> dict:
    return {name: np.asarray(array) for name, array in zip(NAMES, leaves(model))}


def loss_and_hits(model, x, y):
    """Mean softmax cross-entropy over the batch, and (summed loss, correct predictions) for the log."""
    logits = jax.vmap(model)(x)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return losses.mean(), (losses.sum(), (logits.argmax(axis=1) == y).sum())


# ---------------------------------------------------------------- train step
def make_train_step(optimizer: optax.GradientTransformation):
    """optax.sgd(lr, momentum) is trace (buf = g + momentum*buf) then scale (update = -lr*buf):
    exactly the contract's PyTorch form."""

    # filter_jit traces every array in the arguments and holds everything else (the layers' sizes,
    # the activation functions) static. donate="all-except-first": the new model and optimizer state
    # reuse the old ones' buffers; the first argument, the data, is left alone.
    @eqx.filter_jit(donate="all-except-first")
    def train_step(data, model, opt_state):
        images, labels, batch = data
        x, y = images[batch], labels[batch]
        (_, (loss_sum, hits)), grads = eqx.filter_value_and_grad(loss_and_hits, has_aux=True)(model, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss_sum, hits

    return train_step


def batch_sizes(count: int, batch_size: int) -> set[int]:
    """The shapes the train step will see: full batches and, if any, the last, partial one."""
    return {min(batch_size, count), count % batch_size or min(batch_size, count)}


def train_epoch(compiled, model, opt_state, images, labels, order, args, epoch: int):
    """One epoch over the given order; returns new state, mean training loss and accuracy."""
    loss_sum, hits = jnp.zeros(()), jnp.zeros((), jnp.int32)
    batches = math.ceil(len(order) / args.batch_size)
    for index, start in enumerate(range(0, len(order), args.batch_size), 1):
        batch = order[start:start + args.batch_size]
        model, opt_state, batch_loss, batch_hits = compiled[len(batch)]((images, labels, batch), model, opt_state)
        loss_sum, hits = loss_sum + batch_loss, hits + batch_hits  # on the device: no wait per step
        # The running loss is read from the device only for the few progress lines a second that print.
        seen = start + len(batch)
        progress.train(epoch, args.epochs, index, batches, lambda: float(loss_sum) / seen)
    return model, opt_state, float(loss_sum) / len(order), int(hits) / len(order)


# ---------------------------------------------------------------- evaluate
@eqx.filter_jit
def evaluate(model, images, labels):
    """Mean loss and accuracy over a whole split, in one call."""
    _, (loss_sum, hits) = loss_and_hits(model, images, labels)
    return loss_sum / len(labels), hits / len(labels)


@eqx.filter_jit
def predict(model, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    return jax.nn.softmax(jax.vmap(model)(images))


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    device = jax.devices()[0]
    log.start("equinox", f"equinox/{eqx.__version__}+jax/{jax.__version__}", device.platform)
    if args.predict:
        model = params_from_tensors(inputs.init)
        for index, probabilities in enumerate(np.asarray(predict(model, inputs.images))):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    train_x, train_y, val_x, val_y, test_x, test_y = map(jax.device_put, splits)  # labels become int32

    model = params_from_tensors(inputs.init) if args.init else init_params(args.seed)
    optimizer = optax.sgd(args.lr, momentum=args.momentum)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))  # optax sees the arrays only
    rng = np.random.default_rng(args.seed)

    # Warm-up: compile the train step for each batch shape it will see (a partial last batch is a
    # second shape) and the evaluation, so no epoch pays for compilation.
    progress.warmup()
    started = time.perf_counter()
    train_step = make_train_step(optimizer)
    compiled = {} if args.epochs == 0 else {
        size: train_step.lower((train_x, train_y, np.zeros(size, np.int32)), model, opt_state).compile()
        for size in batch_sizes(len(splits.train_y), args.batch_size)}
    evaluate_compiled = evaluate.lower(model, val_x, val_y).compile()
    log.warmup(time.perf_counter() - started)

    for epoch in range(1, args.epochs + 1):
        count = len(splits.train_y)
        order = (rng.permutation(count) if args.shuffle else np.arange(count)).astype(np.int32)
        started = time.perf_counter()
        model, opt_state, train_loss, train_acc = train_epoch(compiled, model, opt_state, train_x, train_y,
                                                              order, args, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = map(float, evaluate_compiled(model, val_x, val_y))
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = map(float, evaluate_compiled(model, test_x, test_y))
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, params_to_tensors(model))


if __name__ == "__main__":
    run_main(main, inputs)
