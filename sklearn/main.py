"""MNIST in scikit-learn: an MLPClassifier with the SGD solver, trained by partial_fit one epoch a call.

scikit-learn is the classic-ML baseline: no tensors, no autograd, no compiler. MLPClassifier's
forward pass, backpropagation and momentum update are NumPy code inside scikit-learn, and its
matrix products go to the OpenBLAS that NumPy's wheel carries. Run from the repository root:

    uv run --project sklearn sklearn/main.py --epochs 1
"""

import math
import time
import warnings

import numpy as np

from mnist_common import Diverged, check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before scikit-learn (and SciPy under it) loads, so --help and bad
# input are answered at once. The images are float32 [n, 784] NumPy arrays, which is what
# scikit-learn takes; each epoch hands partial_fit the examples in the contract's shuffled order.
if __name__ == "__main__":
    inputs = read_inputs("sklearn", cli.build_parser("Train the SPEC.md MLP on MNIST with scikit-learn's MLPClassifier."))

import sklearn
from sklearn.neural_network import MLPClassifier

# partial_fit clips a batch larger than the training set to the set, which is the contract's rule
# (one partial batch) too; its warning about it is noise here.
warnings.filterwarnings("ignore", message="Got `batch_size` less than 1 or larger than sample size")

# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))
CLASSES = np.arange(10)


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The contract's initial weights: PyTorch's nn.Linear default, U(-1/sqrt(fan_in), +1/sqrt(fan_in))
    for weights and biases alike, in the contract's [out, in] layout (drawn as NumPy's row draws them)."""
    params = {}
    for name, fan_in, fan_out in LAYERS:
        bound = 1.0 / np.sqrt(fan_in)
        params[f"{name}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        params[f"{name}.bias"] = rng.uniform(-bound, bound, fan_out).astype(np.float32)
    return params


def set_weights(model: MLPClassifier, params: dict[str, np.ndarray]) -> None:
    """Contract tensors into MLPClassifier's fitted attributes. It keeps a layer as x @ coefs_[i] +
    intercepts_[i], so coefs_[i] is [in, out]: the transpose of fcK.weight. The last line sets what
    predict_proba reads besides the weights (the values scikit-learn's first fit sets for 10 classes)."""
    model.coefs_ = [np.ascontiguousarray(params[f"{name}.weight"].T) for name, _, _ in LAYERS]
    model.intercepts_ = [params[f"{name}.bias"].copy() for name, _, _ in LAYERS]
    model.n_layers_, model.n_outputs_, model.out_activation_ = len(LAYERS) + 1, 10, "softmax"


def get_weights(model: MLPClassifier) -> dict[str, np.ndarray]:
    """MLPClassifier's fitted attributes → the contract's tensors (coefs_[i] transposed back)."""
    tensors = {}
    for (name, _, _), coef, intercept in zip(LAYERS, model.coefs_, model.intercepts_):
        tensors[f"{name}.weight"], tensors[f"{name}.bias"] = coef.T, intercept
    return tensors


class ContractMLP(MLPClassifier):
    """MLPClassifier plus two hooks for what scikit-learn has no option for (nor callbacks, in MLP).

    The forward pass (ReLU hidden layers, softmax output), the loss and backpropagation are
    scikit-learn's own: this class changes none of the arithmetic.
    """

    start = None  # the contract's initial weights, put in at the first partial_fit
    tally = None  # the running epoch's EpochTally, fed a batch at a time

    def _initialize(self, y, layer_units, dtype):
        # scikit-learn sets a model up at its first fit: label and layer bookkeeping, and Glorot-uniform
        # weights with zero-mean uniform biases, U(±sqrt(6 / (fan_in + fan_out))). The contract wants
        # U(±1/sqrt(fan_in)): keep the bookkeeping, overwrite the weights with the contract's.
        super()._initialize(y, layer_units, dtype)
        set_weights(self, self.start)

    def _backprop(self, X, y, sample_weight, activations, deltas, coef_grads, intercept_grads):
        # One batch: forward pass, mean cross-entropy and its gradients, all scikit-learn's; the
        # momentum update follows in partial_fit. activations[-1] is then the batch's softmax output,
        # so the contract's training accuracy comes from the forward pass the step used.
        loss, coef_grads, intercept_grads = super()._backprop(X, y, sample_weight, activations, deltas,
                                                              coef_grads, intercept_grads)
        self.tally.batch(float(loss), len(y), int((activations[-1].argmax(axis=1) == y.argmax(axis=1)).sum()))
        return loss, coef_grads, intercept_grads


def build_model(args, start: dict[str, np.ndarray]) -> ContractMLP:
    """The contract's network and optimiser as MLPClassifier's hyperparameters."""
    model = ContractMLP(
        hidden_layer_sizes=(512, 512), activation="relu",  # 784 → 512 → ReLU → 512 → ReLU → 10 (softmax)
        solver="sgd", learning_rate="constant", learning_rate_init=args.lr, alpha=0.0,  # no weight decay
        momentum=args.momentum, nesterovs_momentum=False,  # scikit-learn's default is Nesterov
        batch_size=args.batch_size,
        shuffle=False,  # we hand partial_fit each epoch's examples in the contract's order (below)
        early_stopping=False,
    )
    model.start = start
    return model


# ---------------------------------------------------------------- train step
# scikit-learn owns the train step: partial_fit runs one epoch of them, over consecutive batches of
# the examples in the order given (shuffle=False). Each is _backprop (above) and then its SGD update,
#     velocity = momentum * velocity - lr * grad;  param += velocity
# which for a constant learning rate is the contract's buf = momentum*buf + g, p -= lr*buf, with
# velocity = -lr * buf. The gradient is of the batch's mean cross-entropy: the softmax output minus
# the one-hot label, divided by the batch size (alpha=0 adds no L2 term to the loss or the gradient).
class EpochTally:
    """The epoch's running loss and hits, from each batch as it was trained, and its progress lines."""

    def __init__(self, epoch: int, epochs: int, batches: int):
        self.epoch, self.epochs, self.batches = epoch, epochs, batches
        self.loss, self.correct, self.seen, self.done = 0.0, 0, 0, 0

    def batch(self, loss: float, size: int, correct: int) -> None:
        self.loss += loss * size
        self.correct += correct
        self.seen += size
        self.done += 1
        progress.train(self.epoch, self.epochs, self.done, self.batches, self.loss / self.seen)


def train_epoch(model: ContractMLP, x, y, args, rng, epoch: int):
    """One pass over the training set, as one partial_fit call; returns its mean loss and accuracy."""
    order = rng.permutation(len(y)) if args.shuffle else slice(None)  # mnist_common.data.batches' order
    model.tally = EpochTally(epoch, args.epochs, math.ceil(len(y) / args.batch_size))
    # A too-large --lr overflows the weights to inf and NaN: scikit-learn then refuses the fit
    # (ValueError "Solver produced non-finite parameter weights"); NumPy's warnings on the way are noise.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            model.partial_fit(x[order], y[order], classes=CLASSES)
        except ValueError:
            if all(np.isfinite(w).all() for w in model.coefs_ + model.intercepts_):
                raise
            check_finite(epoch, float(model.loss_))  # the contract's message, when the loss went NaN too
            raise Diverged(f"training diverged in epoch {epoch}: the weights are no longer finite; "
                           "try a smaller --lr") from None
    # loss_ is scikit-learn's mean of the epoch's batch losses, weighted by batch size: the contract's.
    return float(model.loss_), model.tally.correct / len(y)


# ---------------------------------------------------------------- evaluate
def predict(model: MLPClassifier, x):
    """Softmax probabilities of each image's ten classes: predict_proba (the forward pass, float32)."""
    return model.predict_proba(x)


def evaluate(model: MLPClassifier, x, y):
    """Mean cross-entropy and accuracy over a whole split, from predict_proba."""
    probabilities = predict(model, x)
    with np.errstate(divide="ignore"):  # a probability that underflowed to 0 is an infinite loss
        losses = -np.log(probabilities[np.arange(len(y)), y])
    return float(losses.sum(dtype=np.float64)) / len(y), float(np.mean(probabilities.argmax(axis=1) == y))


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    log.start("sklearn", f"scikit-learn/{sklearn.__version__}+numpy/{np.__version__}")
    if args.predict:
        model = build_model(args, inputs.init)
        set_weights(model, inputs.init)
        for index, probabilities in enumerate(predict(model, inputs.images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)

    rng = np.random.default_rng(args.seed)  # seeds the initial weights, then every epoch's order
    model = build_model(args, inputs.init if args.init else init_params(rng))
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(model, splits.train_x, splits.train_y, args, rng, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(model, splits.val_x, splits.val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)
    if args.epochs == 0:  # no partial_fit ran to put the weights in: only evaluate them
        set_weights(model, model.start)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, splits.test_x, splits.test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, get_weights(model))


if __name__ == "__main__":
    run_main(main, inputs)
