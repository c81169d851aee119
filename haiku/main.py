"""MNIST in JAX + Haiku: an hk.transform'd MLP, optax's SGD and a jax.jit-compiled train step.

Haiku turns the network into a pair of pure functions (init, apply) over a params dict;
jax.grad differentiates the loss and optax updates the params. The train step is compiled
ahead of time, before epoch 1, and reported as the warm-up. Run from the repository root:

    uv run --project haiku haiku/main.py --epochs 1
"""

import functools
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
    inputs = read_inputs("haiku", cli.build_parser("Train the SPEC.md MLP on MNIST with JAX + Haiku and optax."))

import haiku as hk
import jax
import jax.numpy as jnp
import optax

# JAX's persistent compilation cache: a later run loads its compiled programs from disk instead of
# compiling them again (the start-up advice of JAX's documentation).
cache.use_jax_compilation_cache()


# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


def forward(x):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits.

    hk.Linear defaults to truncated-normal weights and zero biases; the contract wants
    PyTorch's U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for both.
    """
    for index, (name, fan_in, fan_out) in enumerate(LAYERS):
        bound = 1.0 / math.sqrt(fan_in)
        uniform = hk.initializers.RandomUniform(-bound, bound)
        x = hk.Linear(fan_out, name=name, w_init=uniform, b_init=uniform)(x)
        if index < len(LAYERS) - 1:
            x = jax.nn.relu(x)
    return x


network = hk.without_apply_rng(hk.transform(forward))  # params: {"fc1": {"w": [in, out], "b": [out]}, ...}


def init_params(seed: int):
    # jax.jit: one compiled program draws all six tensors (op by op, each random op compiles on its own)
    return jax.jit(network.init)(jax.random.PRNGKey(seed), jnp.zeros((1, 784), jnp.float32))


# Haiku keeps w as [in, out]; the weights file has PyTorch's names and [out, in] layout.
def params_from_tensors(tensors: dict):
    return {name: {"w": jnp.asarray(tensors[f"{name}.weight"].T), "b": jnp.asarray(tensors[f"{name}.bias"])}
            for name, _, _ in LAYERS}


def params_to_tensors(params) -> dict:
    tensors = {}
    for name, _, _ in LAYERS:
        tensors[f"{name}.weight"] = np.asarray(params[name]["w"]).T
        tensors[f"{name}.bias"] = np.asarray(params[name]["b"])
    return tensors


def loss_and_hits(params, x, y):
    """Mean softmax cross-entropy over the batch, and (summed loss, correct predictions) for the log."""
    logits = network.apply(params, x)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return losses.mean(), (losses.sum(), (logits.argmax(axis=1) == y).sum())


# ---------------------------------------------------------------- train step
def make_train_step(optimizer: optax.GradientTransformation):
    """optax.sgd(lr, momentum) is trace (buf = g + momentum*buf) then scale (update = -lr*buf):
    exactly the contract's PyTorch form."""

    @functools.partial(jax.jit, donate_argnums=(0, 1))  # the new params and state reuse the old ones' buffers
    def train_step(params, opt_state, images, labels, batch):
        x, y = images[batch], labels[batch]
        grads, (loss_sum, hits) = jax.grad(loss_and_hits, has_aux=True)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss_sum, hits

    return train_step


def batch_sizes(count: int, batch_size: int) -> set[int]:
    """The shapes the train step will see: full batches and, if any, the last, partial one."""
    return {min(batch_size, count), count % batch_size or min(batch_size, count)}


def train_epoch(compiled, params, opt_state, images, labels, order, args, epoch: int):
    """One epoch over the given order; returns new state, mean training loss and accuracy."""
    loss_sum, hits = jnp.zeros(()), jnp.zeros((), jnp.int32)
    batches = math.ceil(len(order) / args.batch_size)
    for index, start in enumerate(range(0, len(order), args.batch_size), 1):
        batch = order[start:start + args.batch_size]
        params, opt_state, batch_loss, batch_hits = compiled[len(batch)](params, opt_state, images, labels, batch)
        loss_sum, hits = loss_sum + batch_loss, hits + batch_hits  # on the device: no wait per step
        # The running loss is read from the device only for the few progress lines a second that print.
        seen = start + len(batch)
        progress.train(epoch, args.epochs, index, batches, lambda: float(loss_sum) / seen)
    return params, opt_state, float(loss_sum) / len(order), int(hits) / len(order)


# ---------------------------------------------------------------- evaluate
@jax.jit
def evaluate(params, images, labels):
    """Mean loss and accuracy over a whole split, in one call."""
    _, (loss_sum, hits) = loss_and_hits(params, images, labels)
    return loss_sum / len(labels), hits / len(labels)


@jax.jit
def predict(params, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    return jax.nn.softmax(network.apply(params, images))


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    device = jax.devices()[0]
    log.start("haiku", f"haiku/{hk.__version__}+jax/{jax.__version__}", device.platform)
    if args.predict:
        params = params_from_tensors(inputs.init)
        for index, probabilities in enumerate(np.asarray(predict(params, inputs.images))):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    train_x, train_y, val_x, val_y, test_x, test_y = map(jax.device_put, splits)  # labels become int32

    params = params_from_tensors(inputs.init) if args.init else init_params(args.seed)
    optimizer = optax.sgd(args.lr, momentum=args.momentum)
    opt_state = optimizer.init(params)
    rng = np.random.default_rng(args.seed)

    # Warm-up: compile the train step for each batch shape it will see (a partial last batch is a
    # second shape) and the evaluation, so no epoch pays for compilation.
    progress.warmup()
    started = time.perf_counter()
    train_step = make_train_step(optimizer)
    compiled = {} if args.epochs == 0 else {
        size: train_step.lower(params, opt_state, train_x, train_y, np.zeros(size, np.int32)).compile()
        for size in batch_sizes(len(splits.train_y), args.batch_size)}
    evaluate_compiled = evaluate.lower(params, val_x, val_y).compile()
    log.warmup(time.perf_counter() - started)

    for epoch in range(1, args.epochs + 1):
        count = len(splits.train_y)
        order = (rng.permutation(count) if args.shuffle else np.arange(count)).astype(np.int32)
        started = time.perf_counter()
        params, opt_state, train_loss, train_acc = train_epoch(compiled, params, opt_state, train_x, train_y,
                                                               order, args, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = map(float, evaluate_compiled(params, val_x, val_y))
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = map(float, evaluate_compiled(params, test_x, test_y))
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, params_to_tensors(params))


if __name__ == "__main__":
    run_main(main, inputs)
