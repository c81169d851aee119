"""MNIST in PyTorch: an nn.Module trained by torch.optim.SGD, in the shape of pytorch/examples' mnist.

Run from the repository root:

    uv run --project pytorch pytorch/main.py --epochs 1
"""

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnist_common import UsageError, check_finite, cli, data, log, run_main, weights

# ---------------------------------------------------------------- data
# mnist_common.data.load reads the IDX files and splits them (SPEC.md §1); the arrays
# become tensors on the device once, and batches are index slices of them.


# ---------------------------------------------------------------- model
class Net(nn.Module):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits. nn.Linear's default init is the contract's."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


# ---------------------------------------------------------------- train step
def train(model, optimizer, images, labels, batch_size, generator):
    """One epoch; returns the mean training loss and accuracy over the epoch's examples."""
    model.train()
    count = len(labels)
    order = torch.randperm(count, generator=generator) if generator is not None else torch.arange(count)
    total_loss = torch.zeros((), device=images.device)
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    for batch in order.to(images.device).split(batch_size):
        x, y = images[batch], labels[batch]
        optimizer.zero_grad()
        output = model(x)
        loss = F.cross_entropy(output, y)
        loss.backward()
        optimizer.step()
        # Accumulate on the device: a .item() per step would wait for the GPU every batch.
        total_loss += loss.detach() * len(batch)
        correct += (output.argmax(dim=1) == y).sum()
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


def main():
    parser = cli.build_parser("Train the SPEC.md MLP on MNIST with PyTorch.")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train; auto picks CUDA when present (default: auto)")
    args = cli.parse_args(parser)
    device = pick_device(args.device)
    log.start("pytorch", f"torch/{torch.__version__}", device.type)
    if args.predict:
        model = Net()
        model.load_state_dict({name: torch.from_numpy(array) for name, array in weights.load(args.init).items()})
        images = torch.from_numpy(data.read_images(args.predict)).to(device)
        for index, probabilities in enumerate(predict(model.to(device), images).cpu().numpy()):
            log.predict(index, probabilities)
        return
    log.config(args)

    splits, seconds = data.load(args)
    log.data(splits, seconds)
    train_x, train_y, val_x, val_y, test_x, test_y = (torch.from_numpy(a).to(device) for a in splits)

    torch.manual_seed(args.seed)
    model = Net()
    if args.init:
        model.load_state_dict({name: torch.from_numpy(array) for name, array in weights.load(args.init).items()})
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    generator = torch.Generator().manual_seed(args.seed) if args.shuffle else None

    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        train_loss, train_acc = train(model, optimizer, train_x, train_y, args.batch_size, generator)
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
    run_main(main)
