"""MNIST in Keras 3: one keras.Sequential of Dense layers, trained by model.fit, on any of Keras's backends.

The same file runs on JAX, PyTorch or TensorFlow: KERAS_BACKEND picks one before Keras is imported.
row.toml makes each backend a row of its own (keras-jax, keras-torch, keras-tensorflow; `--project
tensorflow` is keras-tensorflow). Only the quiet import and the steps-per-execution setting know which.
Run from the repository root:

    KERAS_BACKEND=jax uv run --project keras --extra jax keras/main.py --epochs 1
"""

import importlib.util
import math
import os
import time

from mnist_common import cache, check_finite, cli, errors, log, progress, quiet, read_inputs, run_main, weights

BACKENDS = ("tensorflow", "jax", "torch")
BACKEND = os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # unset: Keras's own default, TensorFlow

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before the backend loads, which takes seconds, so --help and bad
# input are answered at once. model.fit then batches and shuffles the NumPy arrays itself.
if __name__ == "__main__":
    with errors.exit_on_error():
        if BACKEND not in BACKENDS:
            raise errors.UsageError(f"KERAS_BACKEND must be one of {', '.join(BACKENDS)}, got {BACKEND!r}")
        if importlib.util.find_spec(BACKEND) is None:  # each backend has an environment of its own (row.toml)
            raise errors.UsageError(f"KERAS_BACKEND={BACKEND} needs {BACKEND} installed: run keras/.venv-{BACKEND}/bin/python"
                                    f" (invoke setup --project keras-{BACKEND})")
    parser = cli.build_parser(f"Train the SPEC.md MLP on MNIST with Keras 3 (model.fit) on {BACKEND}.")
    parser.add_argument("--save-keras", type=cli.output_file("--save-keras", ".keras"), metavar="FILE",
                        help="also write Keras's own .keras archive (model and optimizer state) to FILE")
    inputs = read_inputs(f"keras-{BACKEND}", parser)

with quiet.tensorflow():  # TensorFlow's C++ libraries greet stderr while they load (when they do)
    import keras

if BACKEND == "jax":  # JAX's persistent compilation cache: a later run loads the compiled step from disk
    cache.use_jax_compilation_cache()


# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


def init_params(seed: int) -> keras.Sequential:
    """784 → 512 → ReLU → 512 → ReLU → 10 logits, no softmax (the loss takes logits).

    Keras defaults to Glorot weights and zero biases; the contract wants PyTorch's
    U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for weights and biases alike. The model's
    forward pass is the Sequential's own call: model(x).
    """
    if BACKEND == "torch" and seed >= 2**31:  # PyTorch has no uint32: Keras keeps the seed's state as int32
        seed -= 2**32  # there, so a seed above 2^31 - 1 goes in as the int32 with the same 32 bits
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
        tensors[f"{name}.weight"] = keras.ops.convert_to_numpy(layer.kernel).T
        tensors[f"{name}.bias"] = keras.ops.convert_to_numpy(layer.bias)
    return tensors


def set_weights(model: keras.Model, tensors: dict) -> None:
    for name, _, _ in LAYERS:
        layer = model.get_layer(name)
        layer.kernel.assign(tensors[f"{name}.weight"].T)
        layer.bias.assign(tensors[f"{name}.bias"])


# ---------------------------------------------------------------- train step
# Keras owns the train step (Model.train_step, compiled by the backend: a tf.function, jax.jit, or
# eager PyTorch) and the epoch loop (model.fit); compile() picks the loss and optimiser they use, and
# a Callback prints the contract's lines from fit's hooks. One call of the compiled train function
# runs STEPS_PER_EXECUTION batches in a loop: with this small model a step's Python round trip costs
# as much as its arithmetic. Keras allows only 1 on PyTorch, whose steps run eagerly.
STEPS_PER_EXECUTION = 1 if BACKEND == "torch" else 32


def compile_model(model: keras.Model, lr: float, momentum: float) -> None:
    """Keras's SGD keeps v = momentum*v - lr*g and adds v to the weights: for a constant learning
    rate that is PyTorch's buf = momentum*buf + g, p -= lr*buf, with v = -lr*buf."""
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),  # mean over the batch
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        steps_per_execution=STEPS_PER_EXECUTION,
    )


def warm_up(model: keras.Model, images, labels, batch_size: int) -> None:
    """Trace and compile Keras's train function before epoch 1: one execution on the first batches,
    then the weights and the optimizer's state put back, so that training starts where it would have."""
    model.optimizer.build(model.trainable_variables)
    state = model.variables + model.optimizer.variables
    saved = [keras.ops.convert_to_numpy(variable) for variable in state]
    first = slice(0, STEPS_PER_EXECUTION * batch_size)
    model.fit(images[first], labels[first], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
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
        progress.train(self.epoch, self.params["epochs"], done, self.batches, float(logs["loss"]))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        check_finite(epoch + 1, logs["loss"])
        log.epoch(epoch + 1, logs["loss"], logs["accuracy"], logs["val_loss"], logs["val_accuracy"],
                  self.train_ended - self.epoch_started)


# ---------------------------------------------------------------- evaluate
def evaluate(model: keras.Model, images, labels) -> tuple[float, float]:
    """Mean loss and accuracy over a whole split."""
    results = model.evaluate(images, labels, batch_size=1000, verbose=0, return_dict=True)
    return results["loss"], results["accuracy"]


def predict(model: keras.Model, images):
    """Softmax probabilities of each image's ten classes (--predict); the model outputs logits."""
    logits = model.predict(images, batch_size=1000, verbose=0)
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits))


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    backend = __import__(BACKEND)  # already loaded by Keras: its version goes into the start line
    log.start(f"keras-{BACKEND}", f"keras/{keras.__version__}+{BACKEND}/{backend.__version__}", "cpu")
    if args.predict:
        model = init_params(args.seed)
        set_weights(model, inputs.init)
        for index, probabilities in enumerate(predict(model, inputs.images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)

    with quiet.tensorflow():  # seeds every backend's shuffle (Python, NumPy, torch), and TensorFlow's
        keras.utils.set_random_seed(args.seed)  # for tf.data whenever it is installed, loading it
    model = init_params(args.seed)
    if args.init:
        set_weights(model, inputs.init)
    compile_model(model, args.lr, args.momentum)

    if args.epochs > 0:
        progress.warmup()
        started = time.perf_counter()
        warm_up(model, splits.train_x, splits.train_y, args.batch_size)
        log.warmup(time.perf_counter() - started)
        # verbose=0: Keras's progress bar would go to stdout, which carries only the log lines;
        # the callback prints the contract's progress lines on stderr instead. shuffle: a fresh
        # permutation of the examples every epoch (file order with --no-shuffle); the last,
        # partial batch is kept.
        batches = math.ceil(len(splits.train_y) / args.batch_size)
        model.fit(splits.train_x, splits.train_y, batch_size=args.batch_size, epochs=args.epochs,
                  shuffle=args.shuffle, validation_data=(splits.val_x, splits.val_y), validation_batch_size=1000,
                  callbacks=[ContractLog(batches)], verbose=0)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, splits.test_x, splits.test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, get_weights(model))
    if args.save_keras:
        model.save(args.save_keras)  # Keras's own archive, only when asked (SPEC.md §8)


if __name__ == "__main__":
    run_main(main, inputs)
