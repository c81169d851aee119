"""MNIST in PyTorch: an nn.Module trained by torch.optim.SGD, in the shape of pytorch/examples' mnist.

Run from the repository root:

    uv run --project pytorch pytorch/main.py --epochs 1
"""

import math
import time

from mnist_common import UsageError, check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before PyTorch loads, which takes seconds, so --help and bad
# input are answered at once. The arrays become tensors on the device once; batches are index slices.
if __name__ == "__main__":
    parser = cli.build_parser("Train the SPEC.md MLP on MNIST with PyTorch.")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train; auto picks CUDA when present (default: auto)")
    inputs = read_inputs("pytorch", parser)

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- model
class Net(nn.Module):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def init_params(seed: int, tensors: dict | None = None) -> Net:
    """nn.Linear's default init is the contract's: U(±1/sqrt(fan_in)). Or the given weights, by name."""
    torch.manual_seed(seed)
    model = Net()
    if tensors is not None:
        model.load_state_dict({name: torch.from_numpy(array) for name, array in tensors.items()})
    return model


# ---------------------------------------------------------------- train step
def train_step(model, optimizer, x, y):
    """One SGD-with-momentum step on a batch; returns its mean loss and its logits."""
    optimizer.zero_grad()
    output = model(x)
    loss = F.cross_entropy(output, y)
    loss.backward()
    optimizer.step()
    return loss.detach(), output


def train_epoch(model, optimizer, images, labels, args, generator, epoch: int):
    """One epoch; returns the mean training loss and accuracy over the epoch's examples."""
    model.train()
    count = len(labels)
    order = torch.randperm(count, generator=generator) if generator is not None else torch.arange(count)
    batches = math.ceil(count / args.batch_size)
    total_loss = torch.zeros((), device=images.device)
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    seen = 0
    for index, batch in enumerate(order.to(images.device).split(args.batch_size), 1):
        x, y = images[batch], labels[batch]
        loss, output = train_step(model, optimizer, x, y)
        # Accumulate on the device: a .item() per step would wait for the GPU every batch.
        total_loss += loss * len(batch)
        correct += (output.argmax(dim=1) == y).sum()
        seen += len(batch)
        # The running loss is read from the device only for the few progress lines a second that print.
        progress.train(epoch, args.epochs, index, batches, lambda: total_loss.item() / seen)
    return total_loss.item() / count, correct.item() / count


# ---------------------------------------------------------------- evaluate
@torch.no_grad()
def evaluate(model, images, labels, batch_size=1000):
    """Mean loss and accuracy over a whole split."""
    model.eval()
    total_loss, correct = 0.0, 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        output = model(x)
        total_loss += F.cross_entropy(output, y, reduction="sum").item()
        correct += (output.argmax(dim=1) == y).sum().item()
    return total_loss / len(labels), correct / len(labels)


@torch.no_grad()
def predict(model, images):
    """Softmax probabilities of each image's ten classes (--predict)."""
    model.eval()
    return torch.softmax(model(images), dim=1)


# ---------------------------------------------------------------- main
def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    return torch.device(name)


def main(inputs):
    args = inputs.args
    device = pick_device(args.device)
    log.start("pytorch", f"torch/{torch.__version__}", device.type)
    if args.predict:
        model = init_params(args.seed, inputs.init).to(device)
        images = torch.from_numpy(inputs.images).to(device)
        for index, probabilities in enumerate(predict(model, images).cpu().numpy()):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(inputs.splits, inputs.data_seconds)
    train_x, train_y, val_x, val_y, test_x, test_y = (torch.from_numpy(a).to(device) for a in inputs.splits)

    model = init_params(args.seed, inputs.init).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    generator = torch.Generator().manual_seed(args.seed) if args.shuffle else None

    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = train_epoch(model, optimizer, train_x, train_y, args, generator, epoch)
        seconds = time.perf_counter() - started
        check_finite(epoch, train_loss)
        val_loss, val_acc = evaluate(model, val_x, val_y)
        log.epoch(epoch, train_loss, train_acc, val_loss, val_acc, seconds)

    started = time.perf_counter()
    test_loss, test_acc = evaluate(model, test_x, test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, {name: t.detach().cpu().numpy() for name, t in model.state_dict().items()})


if __name__ == "__main__":
    run_main(main, inputs)
