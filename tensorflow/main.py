"""MNIST in TensorFlow: a keras.Sequential of Dense layers, trained by model.fit on a tf.data pipeline.

Keras (as shipped with TensorFlow) runs the loop; a Callback prints the contract's log lines.
Run from the repository root:

    uv run --project tensorflow tensorflow/main.py --epochs 1
"""

import contextlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from mnist_common import check_finite, cli, data, log, run_main, weights


@contextlib.contextmanager
def without_native_chatter():
    """TensorFlow's C++ libraries log a start-up banner to stderr that TF_CPP_MIN_LOG_LEVEL no longer
    reaches (it is written before absl logging is set up). Capture file descriptor 2 while they load
    and pass on every line except that banner."""
    noise = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the rest of TensorFlow's C++ info and warnings
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not any(text in line for text in noise):
                    print(line, file=sys.stderr)


with without_native_chatter():
    import keras
    import tensorflow as tf

LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


# ---------------------------------------------------------------- data
# mnist_common.data.load reads the IDX files and splits them (SPEC.md §1); tf.data batches them.
def make_dataset(images, labels, batch_size: int, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """Batches of (images, labels); shuffled afresh every epoch (a full-size buffer) when asked."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)  # the last, partial batch is kept


# ---------------------------------------------------------------- model
def build_model(seed: int) -> keras.Sequential:
    """784 → 512 → ReLU → 512 → ReLU → 10 logits, no softmax (the loss takes logits).

    Keras defaults to Glorot weights and zero biases; the contract wants PyTorch's
    U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for weights and biases alike.
    """
    seeds = keras.random.SeedGenerator(seed)
    layers = [keras.Input(shape=(784,))]
    for index, (name, fan_in, fan_out) in enumerate(LAYERS):
        bound = 1.0 / math.sqrt(fan_in)
        uniform = keras.initializers.RandomUniform(-bound, bound, seed=seeds)
        activation = "relu" if index < len(LAYERS) - 1 else None
        layers.append(keras.layers.Dense(fan_out, activation=activation, name=name,
                                         kernel_initializer=uniform, bias_initializer=uniform))
    return keras.Sequential(layers, name="mlp")


# Keras keeps a Dense kernel as [in, out]; the weights file has PyTorch's [out, in].
def get_weights(model: keras.Model) -> dict:
    tensors = {}
    for name, _, _ in LAYERS:
        layer = model.get_layer(name)
        tensors[f"{name}.weight"] = layer.kernel.numpy().T
        tensors[f"{name}.bias"] = layer.bias.numpy()
    return tensors


def set_weights(model: keras.Model, tensors: dict) -> None:
    for name, _, _ in LAYERS:
        layer = model.get_layer(name)
        layer.kernel.assign(tensors[f"{name}.weight"].T)
        layer.bias.assign(tensors[f"{name}.bias"])


# ---------------------------------------------------------------- train step
def compile_model(model: keras.Model, lr: float, momentum: float) -> None:
    """Keras's SGD keeps v = momentum*v - lr*g and adds v to the weights: for a constant learning
    rate that is PyTorch's buf = momentum*buf + g, p -= lr*buf, with v = -lr*buf."""
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),  # mean over the batch
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


class ContractLog(keras.callbacks.Callback):
    """Prints the contract's warmup and epoch lines (SPEC.md §6) from model.fit's hooks.

    Keras's epoch logs are already the contract's: `loss` and `accuracy` are means over the
    epoch's examples as they were trained (weighted by batch size), `val_*` over the split.
    fit() runs validation inside the epoch, so an epoch's seconds stop at its last training
    batch. The first call of the train function traces it into a graph: that first step is
    reported as the warm-up and not counted in epoch 1.
    """

    def on_train_batch_begin(self, batch, logs=None):
        if not hasattr(self, "warmup_started"):
            self.warmup_started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.train_ended = time.perf_counter()
        if not hasattr(self, "warmup_seconds"):
            self.warmup_seconds = self.train_ended - self.warmup_started
            log.warmup(self.warmup_seconds)
            self.epoch_started = self.train_ended

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        check_finite(epoch + 1, logs["loss"])
        log.epoch(epoch + 1, logs["loss"], logs["accuracy"], logs["val_loss"], logs["val_accuracy"],
                  self.train_ended - self.epoch_started)


# ---------------------------------------------------------------- evaluate
def evaluate(model: keras.Model, dataset: tf.data.Dataset) -> tuple[float, float]:
    """Mean loss and accuracy over a whole split."""
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    return results["loss"], results["accuracy"]


def predict(model: keras.Model, images):
    """Softmax probabilities of each image's ten classes (--predict); the model outputs logits."""
    return tf.nn.softmax(model.predict(images, batch_size=1000, verbose=0)).numpy()


# ---------------------------------------------------------------- main
def save(model: keras.Model, path: Path) -> None:
    """The contract's safetensors file, and Keras's own .keras archive next to it (same stem)."""
    weights.save(path, get_weights(model))
    native = path.with_suffix(".keras")
    if native != path:
        model.save(native)


def main():
    parser = cli.build_parser("Train the SPEC.md MLP on MNIST with TensorFlow / Keras (model.fit).")
    args = cli.parse_args(parser)
    log.start("tensorflow", f"tensorflow/{tf.__version__}", "cpu")  # the tensorflow-cpu wheel
    if args.predict:
        model = build_model(args.seed)
        set_weights(model, weights.load(args.init))
        for index, probabilities in enumerate(predict(model, data.read_images(args.predict))):
            log.predict(index, probabilities)
        return
    log.config(args)

    splits, seconds = data.load(args)
    log.data(splits, seconds)
    train = make_dataset(splits.train_x, splits.train_y, args.batch_size, args.shuffle, args.seed)
    val = make_dataset(splits.val_x, splits.val_y, 1000)
    test = make_dataset(splits.test_x, splits.test_y, 1000)

    keras.utils.set_random_seed(args.seed)
    model = build_model(args.seed)
    if args.init:
        set_weights(model, weights.load(args.init))
    compile_model(model, args.lr, args.momentum)

    if args.epochs > 0:
        # verbose=0: Keras's progress bar would go to stdout, which carries only the log lines.
        # shuffle=False: the tf.data pipeline shuffles; fit() cannot shuffle a Dataset itself.
        model.fit(train, validation_data=val, epochs=args.epochs, callbacks=[ContractLog()],
                  shuffle=False, verbose=0)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, test)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        save(model, args.save)


if __name__ == "__main__":
    run_main(main)
