"""MNIST in PaddlePaddle: a paddle.nn.Layer compiled by paddle.jit.to_static, trained by paddle.optimizer.Momentum.

The shape is Paddle's own MNIST tutorial: a Layer of nn.Linear, F.cross_entropy on the logits,
loss.backward(), opt.step(), opt.clear_grad(). paddle.jit.to_static turns the Layer's forward into a
static graph that Paddle runs, with its backward, as one program. Run from the repository root:

    uv run --project paddle paddle/main.py --epochs 1
"""

import math
import os
import time
import warnings

from mnist_common import check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before Paddle loads, which takes seconds, so --help and bad
# input are answered at once. The arrays become Paddle tensors once; a batch is an index slice.
if __name__ == "__main__":
    inputs = read_inputs("paddle", cli.build_parser("Train the SPEC.md MLP on MNIST with PaddlePaddle."))

with warnings.catch_warnings():
    # paddle.utils.cpp_extension warns at import that ccache is missing: that matters only when
    # compiling custom C++ operators, which this row never does. Paddle's own (glog) lines stay on stderr.
    warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
    import paddle
import paddle.nn as nn
import paddle.nn.functional as F


# ---------------------------------------------------------------- model
def linear(fan_in: int, fan_out: int) -> nn.Linear:
    """nn.Linear defaults to Xavier weights and zero biases; the contract wants PyTorch's
    U(-1/sqrt(fan_in), +1/sqrt(fan_in)) for both, so each gets a ParamAttr with that initializer."""
    bound = 1.0 / math.sqrt(fan_in)

    def uniform():
        return paddle.ParamAttr(initializer=nn.initializer.Uniform(-bound, bound))

    return nn.Linear(fan_in, fan_out, weight_attr=uniform(), bias_attr=uniform())


class Net(nn.Layer):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits."""

    def __init__(self):
        super().__init__()
        self.fc1 = linear(784, 512)
        self.fc2 = linear(512, 512)
        self.fc3 = linear(512, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def init_params(seed: int, tensors: dict | None = None) -> Net:
    """A Net drawn from paddle.seed(seed), or holding the given weights.

    Paddle's Linear keeps its weight as [in, out] (y = x·W + b); the weights file has PyTorch's
    [out, in], so weights are transposed on the way in and out. The state-dict names match.
    """
    paddle.seed(seed)  # also seeds the shuffle (paddle.randperm) that follows
    model = Net()
    if tensors is not None:
        model.set_state_dict({name: array.T if name.endswith(".weight") else array
                              for name, array in tensors.items()})
    # Dynamic-graph mode runs each op from Python as it comes; to_static translates forward() into a
    # static program once (full_graph: from its source, no Python fallback), and then runs the
    # forward and backward passes as one program each. InputSpec's None batch dimension lets one
    # program serve every batch size: 128, the last 80, and 1000 in evaluation.
    return paddle.jit.to_static(model, input_spec=[paddle.static.InputSpec([None, 784], "float32")],
                                full_graph=True)


def get_tensors(model: Net) -> dict:
    return {name: t.numpy().T if name.endswith(".weight") else t.numpy()
            for name, t in model.state_dict().items()}


# ---------------------------------------------------------------- train step
def train_step(model, optimizer, x, y):
    """One SGD-with-momentum step on a batch; returns its mean loss and its logits."""
    output = model(x)
    loss = F.cross_entropy(output, y)  # softmax cross-entropy of the logits, mean over the batch
    loss.backward()
    optimizer.step()
    optimizer.clear_grad()
    return loss, output


def warm_up(model, x, y):
    """Translate and build the training program (a forward and backward pass, gradients thrown away,
    parameters untouched) and the evaluation one, so that no epoch pays for them."""
    with warnings.catch_warnings():  # Paddle 3.3 warns about its own code while it builds the backward
        warnings.filterwarnings("ignore", message="Tensor do not have 'place' interface", category=UserWarning)
        F.cross_entropy(model(x), y).backward()
    model.clear_gradients()
    evaluate(model, x, y)


def train_epoch(model, optimizer, images, labels, args, epoch: int):
    """One epoch; returns the mean training loss and accuracy over the epoch's examples."""
    model.train()
    count = len(labels)
    # paddle.randperm draws from the generator paddle.seed seeded: a fresh order every epoch.
    order = paddle.randperm(count) if args.shuffle else paddle.arange(count)
    batches = math.ceil(count / args.batch_size)
    total_loss, correct, seen = 0.0, 0, 0
    for index, start in enumerate(range(0, count, args.batch_size), 1):
        batch = order[start:start + args.batch_size]
        # paddle.gather takes whole rows in one kernel: no per-example Python, and ten times
        # cheaper than images[batch], whose Python indexing logic costs about 1 ms a step.
        x, y = paddle.gather(images, batch), paddle.gather(labels, batch)
        loss, output = train_step(model, optimizer, x, y)
        # The CPU wheel computes on the host, so reading the loss per step costs no device round trip.
        total_loss += float(loss) * len(batch)
        correct += int((output.argmax(axis=1) == y).sum())
        seen += len(batch)
        progress.train(epoch, args.epochs, index, batches, lambda: total_loss / seen)
    return total_loss / count, correct / count


# ---------------------------------------------------------------- evaluate
@paddle.no_grad()
def evaluate(model, images, labels, batch_size=1000):
    """Mean loss and accuracy over a whole split."""
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        x, y = images[start:start + batch_size], labels[start:start + batch_size]
        output = model(x)
        total_loss += float(F.cross_entropy(output, y, reduction="sum"))
        correct += int((output.argmax(axis=1) == y).sum())
    return total_loss / len(labels), correct / len(labels)


@paddle.no_grad()
def predict(model, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    model.eval()
    return F.softmax(model(images), axis=1)


# ---------------------------------------------------------------- main
def main(inputs):
    args = inputs.args
    # Paddle runs its CPU math library (MKL) on ONE thread unless told otherwise
    # (FLAGS_paddle_num_threads=1); use the machine's cores, as PyTorch does by default.
    paddle.base.core.set_num_threads(len(os.sched_getaffinity(0)))
    log.start("paddle", f"paddle/{paddle.__version__}", paddle.device.get_device().split(":")[0])
    if args.predict:
        model = init_params(args.seed, inputs.init)
        for index, probabilities in enumerate(predict(model, paddle.to_tensor(inputs.images)).numpy()):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(inputs.splits, inputs.data_seconds)
    train_x, train_y, val_x, val_y, test_x, test_y = map(paddle.to_tensor, inputs.splits)

    model = init_params(args.seed, inputs.init)
    # Momentum with use_nesterov=False and no weight_decay is the contract's optimiser (see README).
    optimizer = paddle.optimizer.Momentum(learning_rate=args.lr, momentum=args.momentum,
                                          parameters=model.parameters())

    if args.epochs > 0:
        progress.warmup()
        started = time.perf_counter()
        warm_up(model, train_x[:args.batch_size], train_y[:args.batch_size])
        log.warmup(time.perf_counter() - started)

    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(model, optimizer, train_x, train_y, args, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(model, val_x, val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, test_x, test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, get_tensors(model))


if __name__ == "__main__":
    run_main(main, inputs)
