"""MNIST in NumPy, from scratch: the forward pass, backpropagation and SGD with momentum by hand.

Every other row is checked against this one (SPEC.md): the same model, data and
hyperparameters. Run from the repository root:

    uv run --project numpy numpy/main.py --epochs 1
"""

import math
import time

import numpy as np

from mnist_common import check_finite, cli, data, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# mnist_common.read_inputs reads the flags (SPEC.md §4) and the IDX files, and splits them (SPEC.md §1).

# ---------------------------------------------------------------- model
LAYERS = (("fc1", 784, 512), ("fc2", 512, 512), ("fc3", 512, 10))


def init_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """PyTorch's nn.Linear default: weights and biases ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in))."""
    params = {}
    for name, fan_in, fan_out in LAYERS:
        bound = 1.0 / np.sqrt(fan_in)
        params[f"{name}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        params[f"{name}.bias"] = rng.uniform(-bound, bound, fan_out).astype(np.float32)
    return params


def forward(params, x):
    """Logits for a batch, plus the hidden activations that backward() needs."""
    h1 = np.maximum(x @ params["fc1.weight"].T + params["fc1.bias"], 0)
    h2 = np.maximum(h1 @ params["fc2.weight"].T + params["fc2.bias"], 0)
    logits = h2 @ params["fc3.weight"].T + params["fc3.bias"]
    return logits, (h1, h2)


def softmax_cross_entropy(logits, labels):
    """Per-example losses and the gradient of their batch mean with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # exp() cannot overflow
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    losses = np.log(sum_exp[:, 0]) - shifted[rows, labels]
    grad = exp / sum_exp
    grad[rows, labels] -= 1
    return losses, grad / len(labels)


def backward(params, x, hidden, grad_logits):
    """Backpropagation through fc3 → ReLU → fc2 → ReLU → fc1; returns a gradient per parameter."""
    h1, h2 = hidden
    grad_h2 = (grad_logits @ params["fc3.weight"]) * (h2 > 0)
    grad_h1 = (grad_h2 @ params["fc2.weight"]) * (h1 > 0)
    return {
        "fc3.weight": grad_logits.T @ h2, "fc3.bias": grad_logits.sum(axis=0),
        "fc2.weight": grad_h2.T @ h1, "fc2.bias": grad_h2.sum(axis=0),
        "fc1.weight": grad_h1.T @ x, "fc1.bias": grad_h1.sum(axis=0),
    }


# ---------------------------------------------------------------- train step
def train_step(params, velocity, x, labels, lr: float, momentum: float):
    """One SGD-with-momentum step (PyTorch's form: v = mu*v + g; p -= lr*v), in place.

    Returns the batch's summed loss and number of correct predictions.
    """
    logits, hidden = forward(params, x)
    losses, grad_logits = softmax_cross_entropy(logits, labels)
    grads = backward(params, x, hidden, grad_logits)
    for name, grad in grads.items():
        velocity[name] *= momentum
        velocity[name] += grad
        params[name] -= lr * velocity[name]
    return float(losses.sum()), int((logits.argmax(axis=1) == labels).sum())


def train_epoch(params, velocity, x, y, args, rng, epoch: int):
    """One pass over the training set; returns its mean loss and accuracy."""
    total_loss, correct, seen = 0.0, 0, 0
    batches = math.ceil(len(y) / args.batch_size)
    # A too-large --lr overflows the weights to inf and then NaN; the epoch's loss shows it and
    # check_finite() ends the run with one error line, so NumPy's RuntimeWarnings on the way are noise.
    with np.errstate(over="ignore", invalid="ignore"):
        for index, batch in enumerate(data.batches(len(y), args.batch_size, rng if args.shuffle else None), 1):
            loss, hits = train_step(params, velocity, x[batch], y[batch], args.lr, args.momentum)
            total_loss += loss
            correct += hits
            seen += len(batch)
            progress.train(epoch, args.epochs, index, batches, total_loss / seen)  # a few lines a second
    return total_loss / len(y), correct / len(y)


# ---------------------------------------------------------------- evaluate
def evaluate(params, x, y, batch_size: int = 1000):
    """Mean loss and accuracy over a whole split."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        logits, _ = forward(params, x[start:start + batch_size])
        losses, _ = softmax_cross_entropy(logits, y[start:start + batch_size])
        total_loss += float(losses.sum())
        correct += int((logits.argmax(axis=1) == y[start:start + batch_size]).sum())
    return total_loss / len(y), correct / len(y)


def predict(params, x):
    """Softmax probabilities of each image's ten classes (--predict)."""
    logits, _ = forward(params, x)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- main
def main():
    parser = cli.build_parser("Train the SPEC.md MLP on MNIST with hand-written NumPy backprop.")
    inputs = read_inputs("numpy", parser)  # flags and files, checked; bad input ends the run here
    args, splits = inputs.args, inputs.splits
    log.start("numpy", f"numpy/{np.__version__}")
    if args.predict:
        for index, probabilities in enumerate(predict(inputs.init, inputs.images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)

    rng = np.random.default_rng(args.seed)
    params = inputs.init if args.init else init_params(rng)
    velocity = {name: np.zeros_like(value) for name, value in params.items()}

    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(params, velocity, splits.train_x, splits.train_y, args, rng, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(params, splits.val_x, splits.val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(params, splits.test_x, splits.test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, params)


if __name__ == "__main__":
    run_main(main)
