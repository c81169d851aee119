"""MNIST in TensorFlow: a keras.Sequential of Dense layers, trained by model.fit on a tf.data pipeline.

Keras (as shipped with TensorFlow) runs the loop; a Callback prints the contract's log lines.
Run from the repository root:

    uv run --project tensorflow tensorflow/main.py --epochs 1
"""

import math
import time

from mnist_common import check_finite, cli, log, progress, quiet, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before TensorFlow loads, which takes seconds, so --help and bad
# input are answered at once. tf.data then batches the arrays.
if __name__ == "__main__":
    parser = cli.build_parser("Train the SPEC.md MLP on MNIST with TensorFlow / Keras (model.fit).")
    parser.add_argument("--save-keras", type=cli.output_file("--save-keras", ".keras"), metavar="FILE",
                        help="also write Keras's own .keras archive (model and optimizer state) to FILE")
    inputs = read_inputs("tensorflow", parser)

with quiet.tensorflow():  # TensorFlow's C++ libraries greet stderr while they load
    import keras
    import tensorflow as tf


def make_dataset(images, labels, batch_size: int, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """Batches of (images, labels); shuffled afresh every epoch (a full-size buffer) when asked."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)  # the last, partial batch is kept


# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


def init_params(seed: int) -> keras.Sequential:
    """784 → 512 → ReLU → 512 → ReLU → 10 logits, no softmax (the loss takes logits).

    Keras defaults to Glorot weights and zero biases; the contract wants PyTorch's
    U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for weights and biases alike. The model's
    forward pass is the Sequential's own call: model(x).
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
# Keras owns the train step (Model.train_step) and the epoch loop (model.fit); compile() picks
# the loss and optimiser they use, and a Callback prints the contract's lines from fit's hooks.
# One call of Keras's compiled train function runs STEPS_PER_EXECUTION batches in a graph loop:
# with this small model a step's Python round trip costs as much as its arithmetic.
STEPS_PER_EXECUTION = 32


def compile_model(model: keras.Model, lr: float, momentum: float) -> None:
    """Keras's SGD keeps v = momentum*v - lr*g and adds v to the weights: for a constant learning
    rate that is PyTorch's buf = momentum*buf + g, p -= lr*buf, with v = -lr*buf."""
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),  # mean over the batch
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        steps_per_execution=STEPS_PER_EXECUTION,
    )


def warm_up(model: keras.Model, dataset: tf.data.Dataset) -> None:
    """Trace and compile Keras's train function before epoch 1: one execution on `dataset` (the first
    batches), then the weights and the optimizer's state put back, so that training starts where it would have."""
    model.optimizer.build(model.trainable_variables)
    state = model.variables + model.optimizer.variables
    saved = [variable.numpy() for variable in state]
    model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    for variable, value in zip(state, saved):
        variable.assign(value)


class ContractLog(keras.callbacks.Callback):
    """Prints the contract's epoch lines (SPEC.md §6) and its progress lines from model.fit's hooks.

    Keras's logs are already the contract's: `loss` and `accuracy` are means over the epoch's
    examples as they were trained so far (weighted by batch size), `val_*` over the split.
    fit() runs validation inside the epoch, so an epoch's seconds stop at its last training
    batch. Keras calls the batch hooks once per execution (STEPS_PER_EXECUTION batches).
    """

    def __init__(self, batches: int):
        super().__init__()
        self.batches = batches  # training batches per epoch

    def on_train_batch_end(self, batch, logs=None):
        self.train_ended = time.perf_counter()
        done = min(batch + 1, self.batches)  # Keras numbers a last, shorter execution as if it were full
        progress.train(self.epoch, self.params["epochs"], done, self.batches, logs["loss"])

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
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
def main(inputs):
    args, splits = inputs.args, inputs.splits
    log.start("tensorflow", f"tensorflow/{tf.__version__}", "cpu")  # the tensorflow-cpu wheel
    if args.predict:
        model = init_params(args.seed)
        set_weights(model, inputs.init)
        for index, probabilities in enumerate(predict(model, inputs.images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    train = make_dataset(splits.train_x, splits.train_y, args.batch_size, args.shuffle, args.seed)
    val = make_dataset(splits.val_x, splits.val_y, 1000)
    test = make_dataset(splits.test_x, splits.test_y, 1000)

    keras.utils.set_random_seed(args.seed)
    model = init_params(args.seed)
    if args.init:
        set_weights(model, inputs.init)
    compile_model(model, args.lr, args.momentum)

    if args.epochs > 0:
        progress.warmup()
        started = time.perf_counter()
        first = slice(0, STEPS_PER_EXECUTION * args.batch_size)  # the batches the warm-up runs
        warm_up(model, make_dataset(splits.train_x[first], splits.train_y[first], args.batch_size))
        log.warmup(time.perf_counter() - started)
        # verbose=0: Keras's progress bar would go to stdout, which carries only the log lines;
        # the callback prints the contract's progress lines on stderr instead.
        # shuffle=False: the tf.data pipeline shuffles; fit() cannot shuffle a Dataset itself.
        batches = math.ceil(len(splits.train_y) / args.batch_size)
        model.fit(train, validation_data=val, epochs=args.epochs, callbacks=[ContractLog(batches)],
                  shuffle=False, verbose=0)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, test)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, get_weights(model))
    if args.save_keras:
        model.save(args.save_keras)  # Keras's own archive, only when asked (SPEC.md §8)


if __name__ == "__main__":
    run_main(main, inputs)
