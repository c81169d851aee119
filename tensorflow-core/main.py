"""MNIST in TensorFlow's Core APIs, without Keras: a tf.Module of tf.Variables, differentiated by
tf.GradientTape and updated by an SGD-with-momentum optimizer written out, in a tf.function-compiled loop.

This is the Keras row's program (keras/main.py on TensorFlow) with everything Keras does written by
hand, in the shape of TensorFlow's "Core APIs" guides (MLPs, optimizers). Run from the repository root:

    uv run --project tensorflow-core tensorflow-core/main.py --epochs 1
"""

import math
import time

from mnist_common import check_finite, cli, log, progress, quiet, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before TensorFlow loads, which takes seconds, so --help and bad
# input are answered at once. The arrays become tensors once; an epoch is a shuffled index order, and
# each batch is gathered from the tensors inside the compiled loop.
if __name__ == "__main__":
    inputs = read_inputs("tensorflow-core", cli.build_parser(
        "Train the SPEC.md MLP on MNIST with TensorFlow's Core APIs (tf.Module, GradientTape, tf.function)."))

with quiet.tensorflow():  # TensorFlow's C++ libraries greet stderr while they load
    import tensorflow as tf


def epoch_order(count: int, rng: tf.random.Generator | None) -> tf.Tensor:
    """A fresh permutation of the examples drawn from the run's generator, or file order (--no-shuffle)."""
    if rng is None:
        return tf.range(count, dtype=tf.int64)
    # The Generator draws a seed for a stateless shuffle: the same --seed, the same orders.
    return tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=rng.make_seeds(1)[:, 0])


# ---------------------------------------------------------------- model
class Dense(tf.Module):
    """x·w + b, then the activation. The guides keep w as [in, out], as Keras does; the weights file
    has PyTorch's [out, in], so get_weights / set_weights transpose."""

    def __init__(self, fan_in: int, fan_out: int, rng: tf.random.Generator, activation, name: str):
        super().__init__(name=name)
        # The contract's init, PyTorch's: weights *and* biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)).
        # (The guide's Xavier weights and zero biases would be Keras's defaults.)
        bound = 1.0 / math.sqrt(fan_in)
        self.w = tf.Variable(rng.uniform((fan_in, fan_out), -bound, bound), name="w")
        self.b = tf.Variable(rng.uniform((fan_out,), -bound, bound), name="b")
        self.activation = activation

    def __call__(self, x):
        return self.activation(tf.matmul(x, self.w) + self.b)


class MLP(tf.Module):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits, no softmax (the loss takes logits).
    Its forward pass is the module's own call, model(x); tf.Module collects the six variables."""

    def __init__(self, rng: tf.random.Generator):
        super().__init__(name="mlp")
        self.layers = [Dense(784, 512, rng, tf.nn.relu, "fc1"),
                       Dense(512, 512, rng, tf.nn.relu, "fc2"),
                       Dense(512, 10, rng, tf.identity, "fc3")]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def init_params(rng: tf.random.Generator, tensors: dict | None = None) -> MLP:
    """The model, drawn from the run's generator; or holding the given weights (--init, --load)."""
    model = MLP(rng)
    if tensors is not None:
        for layer in model.layers:
            layer.w.assign(tensors[f"{layer.name}.weight"].T)
            layer.b.assign(tensors[f"{layer.name}.bias"])
    return model


def get_weights(model: MLP) -> dict:
    return {key: value for layer in model.layers for key, value in
            ((f"{layer.name}.weight", layer.w.numpy().T), (f"{layer.name}.bias", layer.b.numpy()))}


def loss_and_hits(model: MLP, x, y):
    """Per-example softmax cross-entropy of the logits, and how many predictions are right."""
    logits = model(x)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
    return losses, tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == y, tf.int64))


# ---------------------------------------------------------------- train step
class SGDMomentum(tf.Module):
    """SPEC.md §3 written out: buf ← μ·buf + g (buf starts at 0), then p ← p − lr·buf; one buffer
    variable per parameter. Keras's SGD keeps v = μ·v − lr·g instead (the same for a constant lr)."""

    def __init__(self, variables, lr: float, momentum: float):
        super().__init__(name="sgd_momentum")
        self.lr, self.momentum = lr, momentum
        self.buffers = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    def apply_gradients(self, grads, variables):
        for buf, grad, var in zip(self.buffers, grads, variables):
            buf.assign(self.momentum * buf + grad)
            var.assign_sub(self.lr * buf)  # tf.function keeps program order: this reads the new buf


def train_step(model: MLP, optimizer: SGDMomentum, x, y):
    """One step on a batch: the tape records the forward pass and differentiates the batch's mean loss.
    Returns the batch's summed loss and hits, for the epoch's means."""
    with tf.GradientTape() as tape:
        losses, hits = loss_and_hits(model, x, y)
        loss = tf.reduce_mean(losses)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(grads, model.trainable_variables)
    return tf.reduce_sum(losses), hits


# One call of the compiled loop runs CHUNK batches: with this small model a step's round trip through
# Python costs as much as its arithmetic. Between calls Python prints the progress lines.
CHUNK = 32


@tf.function
def train_steps(model, optimizer, images, labels, order, first, stop, batch_size):
    """Batches first … stop-1 of the epoch's order, in one graph: AutoGraph turns the loop over
    tf.range into a tf.while_loop, and each batch is gathered from the in-memory tensors."""
    loss_sum, hits = tf.constant(0.0), tf.constant(0, tf.int64)
    for index in tf.range(first, stop):
        batch = order[index * batch_size:(index + 1) * batch_size]  # the last one may be short
        batch_loss, batch_hits = train_step(model, optimizer, tf.gather(images, batch), tf.gather(labels, batch))
        loss_sum, hits = loss_sum + batch_loss, hits + batch_hits
    return loss_sum, hits


def train_epoch(model, optimizer, images, labels, order, args, epoch: int):
    """One epoch over `order`; returns the mean training loss and accuracy over its examples."""
    count = int(order.shape[0])
    batches = math.ceil(count / args.batch_size)
    loss_sum, hits = tf.constant(0.0), tf.constant(0, tf.int64)
    for first in range(0, batches, CHUNK):
        stop = min(first + CHUNK, batches)
        chunk_loss, chunk_hits = train_steps(model, optimizer, images, labels, order,
                                             tf.constant(first), tf.constant(stop), tf.constant(args.batch_size))
        loss_sum, hits = loss_sum + chunk_loss, hits + chunk_hits
        seen = min(stop * args.batch_size, count)
        progress.train(epoch, args.epochs, stop, batches, lambda: float(loss_sum) / seen)  # read only to print
    return float(loss_sum) / count, int(hits) / count


def warm_up(model, optimizer, images, labels, batch_size: int) -> None:
    """Trace and optimise the train loop's graph before epoch 1 by running it on one batch, then put the
    weights and momentum buffers back, so that training starts where it would have. tf.function traces
    once per argument shape, so the warm-up passes an order of the epoch's length."""
    state = model.trainable_variables + tuple(optimizer.buffers)
    saved = [variable.numpy() for variable in state]
    order = tf.range(int(labels.shape[0]), dtype=tf.int64)
    train_steps(model, optimizer, images, labels, order, tf.constant(0), tf.constant(1), tf.constant(batch_size))
    for variable, value in zip(state, saved):
        variable.assign(value)


# ---------------------------------------------------------------- evaluate
@tf.function
def evaluate(model, images, labels):
    """Mean loss and accuracy over a whole split, in one call."""
    losses, hits = loss_and_hits(model, images, labels)
    return tf.reduce_mean(losses), tf.cast(hits, tf.float64) / tf.cast(tf.size(labels), tf.float64)


@tf.function
def predict(model, images):
    """Softmax probabilities of each image's ten classes (--predict); the model outputs logits."""
    return tf.nn.softmax(model(images))


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    log.start("tensorflow-core", f"tensorflow/{tf.__version__}", "cpu")  # the tensorflow-cpu wheel
    rng = tf.random.Generator.from_seed(args.seed)  # the run's one RNG: init, then every epoch's order
    if args.predict:
        model = init_params(rng, inputs.init)
        for index, probabilities in enumerate(predict(model, tf.constant(inputs.images)).numpy()):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    train_x, train_y, val_x, val_y, test_x, test_y = map(tf.constant, splits)  # labels stay int64

    model = init_params(rng, inputs.init)
    optimizer = SGDMomentum(model.trainable_variables, args.lr, args.momentum)

    if args.epochs > 0:
        progress.warmup()
        started = time.perf_counter()
        warm_up(model, optimizer, train_x, train_y, args.batch_size)
        evaluate(model, val_x, val_y)  # traced here too, so no epoch's validation pays for it
        log.warmup(time.perf_counter() - started)

    for epoch in range(1, args.epochs + 1):
        order = epoch_order(len(splits.train_y), rng if args.shuffle else None)
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(model, optimizer, train_x, train_y, order, args, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(model, val_x, val_y)
        log.epoch(epoch, train_loss, train_acc, float(val_loss), float(val_acc), seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, test_x, test_y)
    log.test(float(test_loss), float(test_acc), time.perf_counter() - started)
    if args.save:
        weights.save(args.save, get_weights(model))


if __name__ == "__main__":
    run_main(main, inputs)
