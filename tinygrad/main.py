"""MNIST in tinygrad: nn.Linear layers, nn.optim.SGD and a TinyJit-captured train step.

tinygrad builds a lazy graph of tensor operations; realizing it schedules, fuses and compiles the
graph into kernels (on the CPU: C source that clang compiles at run time). TinyJit records the
kernels one train step runs and replays them for every later step, so Python does no scheduling
after the warm-up. Run from the repository root:

    uv run --project tinygrad tinygrad/main.py --epochs 1
"""

import importlib.metadata
import math
import os
import time

import numpy as np

from mnist_common import cache, check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before tinygrad loads, so --help and bad input are answered at
# once. The training split stays a NumPy array: each batch is gathered there and copied into a
# Tensor, which on the CPU costs less than tinygrad's own gather (X[idx] on a Tensor index).
if __name__ == "__main__":
    inputs = read_inputs("tinygrad", cli.build_parser("Train the SPEC.md MLP on MNIST with tinygrad and TinyJit."))

# tinygrad keeps compiled kernels in an SQLite cache (CACHEDB), read when it is imported: keep it in
# the repository's cache folder, so a later run skips clang for every kernel it has seen.
os.environ.setdefault("CACHEDB", str(cache.cache_dir("tinygrad") / "cache.db"))

from tinygrad import Context, Device, Tensor, TinyJit, dtypes, nn  # noqa: E402


# ---------------------------------------------------------------- model
LAYERS = ("fc1", "fc2", "fc3")


class Net:
    """784 → 512 → ReLU → 512 → ReLU → 10 logits. A tinygrad model is a plain class whose Tensor
    attributes nn.state finds by name: fc1.weight, fc1.bias, ... (PyTorch's names and [out, in] layout)."""

    def __init__(self):
        # tinygrad's nn.Linear draws weight and bias from U(-1/sqrt(fan_in), +1/sqrt(fan_in)), as
        # PyTorch does: the contract's initialisation, from Tensor.manual_seed.
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)

    def __call__(self, x: Tensor) -> Tensor:
        return self.fc3(self.fc2(self.fc1(x).relu()).relu())


def init_params(seed: int, tensors: dict | None = None) -> Net:
    """A fresh Net from --seed, or with the given weights (by their state-dict names)."""
    Tensor.manual_seed(seed)
    model = Net()
    if tensors is not None:
        nn.state.load_state_dict(model, {name: Tensor(array) for name, array in tensors.items()}, verbose=False)
    Tensor.realize(*nn.state.get_parameters(model))  # draw (or copy) the weights now, not inside the first step
    return model


def forward(model: Net, x: Tensor) -> Tensor:
    return model(x)


# ---------------------------------------------------------------- train step
def make_train_step(model: Net, optimizer):
    """One TinyJit per batch shape: a captured step replays fixed kernels on fixed shapes, and the
    partial last batch (50,000 = 390·128 + 80) is a second shape."""

    @TinyJit
    @Context(TRAINING=1)  # the optimizer refuses to step outside training mode
    def train_step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """One SGD-with-momentum step; returns the batch's summed loss and its correct predictions."""
        optimizer.zero_grad()
        logits = forward(model, x)
        loss = logits.sparse_categorical_crossentropy(y)  # mean over the batch
        loss.backward()
        loss_sum, hits = loss * x.shape[0], (logits.argmax(axis=1) == y).sum()
        # schedule_step() is the parameter and momentum updates; realizing them with the loss runs it
        # all as one schedule (tinygrad's MNIST example does the same).
        Tensor.realize(loss_sum, hits, *optimizer.schedule_step())
        return loss_sum, hits

    return train_step


def warm_up(steps: dict, model: Net, optimizer) -> None:
    """TinyJit runs a function normally on its first call, captures its kernels on the second and
    replays them from the third. Make those two calls now for each batch shape, so no epoch pays for
    them, then put back the weights and the zero momentum they changed (into the same buffers, which
    the captured kernels point at)."""
    params = nn.state.get_parameters(model)
    saved = [p.numpy() for p in params]
    for size, step in steps.items():
        for _ in range(2):
            step(Tensor.zeros(size, 784).contiguous(), Tensor.zeros(size, dtype=dtypes.int32).contiguous())
    Tensor.realize(*[p.assign(Tensor(a)) for p, a in zip(params, saved)],
                   *[b.assign(b.zeros_like()) for b in optimizer.b])


def train_epoch(steps: dict, images: np.ndarray, labels: np.ndarray, order: np.ndarray, args, epoch: int):
    """One epoch over the given order; returns the mean training loss and accuracy."""
    total_loss, correct = 0.0, 0
    batches = math.ceil(len(order) / args.batch_size)
    for index, start in enumerate(range(0, len(order), args.batch_size), 1):
        batch = order[start:start + args.batch_size]
        loss_sum, hits = steps[len(batch)](Tensor(images[batch]), Tensor(labels[batch]))
        # A captured step writes its outputs into the same buffers every call: read them now.
        total_loss += loss_sum.item()
        correct += hits.item()
        progress.train(epoch, args.epochs, index, batches, lambda: total_loss / (start + len(batch)))
    return total_loss / len(order), correct / len(order)


# ---------------------------------------------------------------- evaluate
@TinyJit
def evaluate_split(model: Net, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Each example's loss and whether it was classified right, over a whole split, in one captured call."""
    logits = forward(model, x)
    return logits.sparse_categorical_crossentropy(y, reduction="none").realize(), (logits.argmax(axis=1) == y).realize()


def evaluate(model: Net, x: Tensor, y: Tensor) -> tuple[float, float]:
    """Mean loss and accuracy over a split (validation and test: both 10,000 images, one shape). The
    mean is taken in NumPy, in float64: tinygrad's float32 sum of 10,000 losses runs in one accumulator
    and drifts in the sixth decimal."""
    losses, hits = evaluate_split(model, x, y)
    return float(losses.numpy().mean(dtype=np.float64)), float(hits.numpy().mean())


def predict(model: Net, images: np.ndarray) -> np.ndarray:
    """Softmax probabilities of each image's ten classes (--predict), in one call."""
    return forward(model, Tensor(images)).softmax(axis=1).numpy()


# ---------------------------------------------------------------- main
def main(inputs):
    args, splits = inputs.args, inputs.splits
    log.start("tinygrad", f"tinygrad/{importlib.metadata.version('tinygrad')}", Device.DEFAULT.lower())
    if args.predict:
        model = init_params(args.seed, inputs.init)
        for index, probabilities in enumerate(predict(model, inputs.images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(splits, inputs.data_seconds)
    train_x, train_y = splits.train_x, splits.train_y.astype(np.int32)
    val_x, val_y, test_x, test_y = (Tensor(a if a.dtype == np.float32 else a.astype(np.int32)).realize()
                                    for a in splits[2:])

    model = init_params(args.seed, inputs.init)
    # tinygrad's SGD with momentum (classic=False, nesterov=False) is buf = momentum*buf + g,
    # p -= lr*buf: the contract's PyTorch form.
    optimizer = nn.optim.SGD(nn.state.get_parameters(model), lr=args.lr, momentum=args.momentum)
    rng = np.random.default_rng(args.seed)

    # Warm-up: compile and capture the train step for each batch shape and the evaluation.
    progress.warmup()
    started = time.perf_counter()
    count = len(train_y)
    sizes = {min(args.batch_size, count), count % args.batch_size or min(args.batch_size, count)}
    steps = {size: make_train_step(model, optimizer) for size in sizes} if args.epochs else {}
    warm_up(steps, model, optimizer)
    for _ in range(2):
        evaluate(model, val_x, val_y)
    log.warmup(time.perf_counter() - started)

    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(count) if args.shuffle else np.arange(count)
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(steps, train_x, train_y, order, args, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(model, val_x, val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, test_x, test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, {name: t.numpy() for name, t in nn.state.get_state_dict(model).items()})


if __name__ == "__main__":
    run_main(main, inputs)
