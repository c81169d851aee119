"""MNIST in fast.ai: fastai DataLoaders and a Learner around a PyTorch nn.Module, trained by Learner.fit.

The model is the PyTorch row's; fastai owns the loop: Learner.fit runs the batches, fastai's SGD
steps, its Recorder keeps the validation metrics and a Callback prints the contract's log lines.
Run from the repository root:

    uv run --project fastai fastai/main.py --epochs 1
"""

import math
import time
import warnings
from functools import partial

from mnist_common import check_finite, cli, log, progress, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before fastai loads, which takes seconds (it imports PyTorch,
# pandas, matplotlib and scikit-learn), so --help and bad input are answered at once.
if __name__ == "__main__":
    inputs = read_inputs("fastai", cli.build_parser("Train the SPEC.md MLP on MNIST with fast.ai (Learner.fit)."))

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset

with warnings.catch_warnings():
    # fastai.layers compiles a swish activation with torch.jit.script as it is imported, which
    # torch 2.15 deprecates; this row never uses it.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
    from fastai.callback.core import Callback, CancelFitException
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import AvgLoss, AvgMetric, Learner
    from fastai.losses import CrossEntropyLossFlat
    from fastai.metrics import accuracy
    from fastai.optimizer import SGD
    from fastai.torch_core import default_device, set_seed
    import fastai


class TensorBatches(DataLoader):
    """fastai's DataLoader over tensors already in memory, one index operation per batch.

    By default a fastai DataLoader fetches every example with dataset[i] and collates them in
    Python (fa_collate): 50,000 calls an epoch. Here, as fastai's own TabDataLoader does, an
    item is just its index, and create_batch indexes the TensorDataset with the whole batch.
    fastai shuffles the indices (shuffle=True) with its own random.Random, seeded by set_seed;
    the last, partial batch is kept (drop_last=False).
    """

    def do_item(self, s):
        return s

    def create_batch(self, b):
        return self.dataset[torch.tensor(b, device=self.dataset.tensors[0].device)]


def batches(*arrays, device: torch.device, bs: int = 1000, shuffle: bool = False) -> TensorBatches:
    """A TensorBatches over NumPy arrays (images, and labels where there are), moved to the device once."""
    return TensorBatches(TensorDataset(*(torch.from_numpy(a).to(device) for a in arrays)), bs=bs, shuffle=shuffle)


def make_dataloaders(splits, batch_size: int, shuffle: bool, device: torch.device) -> DataLoaders:
    """Training batches (shuffled afresh every epoch when asked) and validation batches of 1,000."""
    train = batches(splits.train_x, splits.train_y, device=device, bs=batch_size, shuffle=shuffle)
    return DataLoaders(train, batches(splits.val_x, splits.val_y, device=device), device=device)


# ---------------------------------------------------------------- model
class Net(nn.Module):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits; its state_dict has the contract's names."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def init_params(tensors: dict | None = None) -> Net:
    """nn.Linear's default init is the contract's: U(±1/sqrt(fan_in)), drawn from torch's generator,
    which set_seed seeded. Or the given weights, by name."""
    model = Net()
    if tensors is not None:
        model.load_state_dict({name: torch.from_numpy(array) for name, array in tensors.items()})
    return model


# ---------------------------------------------------------------- train step
# fastai owns the train step (Learner._do_one_batch: forward, loss, backward, opt.step, zero_grad)
# and the epoch loop (Learner.fit); the Learner's arguments choose what they use.
def make_learner(dls: DataLoaders, model: Net, lr: float, momentum: float) -> Learner:
    """fastai's SGD with mom keeps grad_avg = mom*grad_avg + grad (average_grad, no dampening) and
    steps p -= lr*grad_avg: PyTorch's form, the contract's. Weight decay is 0 (Learner's wd=None
    leaves SGD's wd=0), and fit, unlike fit_one_cycle, schedules neither lr nor momentum."""
    return Learner(dls, model, loss_func=CrossEntropyLossFlat(),  # mean over the batch
                   opt_func=partial(SGD, mom=momentum), lr=lr, wd=0.0, metrics=accuracy)


class ContractLog(Callback):
    """Prints the contract's epoch lines (SPEC.md §6) and its progress lines from Learner.fit's events.

    fastai's Recorder reports an exponentially smoothed training loss, not the epoch's mean, so
    this callback keeps its own AvgLoss and AvgMetric(accuracy): means over the epoch's examples
    as they were trained, weighted by batch size. The validation loss and accuracy are the
    Recorder's. An epoch's seconds cover training only.
    """

    order, run_valid = 60, False  # after the Recorder; the batch events of training only

    def before_fit(self):
        self.train_loss, self.train_acc = AvgLoss(), AvgMetric(accuracy)

    def before_train(self):
        self.train_loss.reset()
        self.train_acc.reset()
        self.started = time.perf_counter()

    def after_batch(self):
        self.train_loss.accumulate(self.learn)
        self.train_acc.accumulate(self.learn)
        progress.train(self.epoch + 1, self.n_epoch, self.iter + 1, self.n_iter, lambda: self.train_loss.value)

    def after_train(self):
        synchronize(self.dls.device)
        self.seconds = time.perf_counter() - self.started
        self.last_loss = float(self.train_loss.value)
        if not math.isfinite(self.last_loss):
            raise CancelFitException()  # fastai's way for a callback to end fit; train_epochs reports it

    def after_epoch(self):  # after the epoch's validation
        record = dict(zip(self.recorder.metric_names[1:], self.recorder.values[-1]))
        log.epoch(self.epoch + 1, float(self.train_loss.value), float(self.train_acc.value),
                  record["valid_loss"], record["accuracy"], self.seconds)


def train_epochs(learn: Learner, epochs: int) -> None:
    """Learner.fit without its table of results: Recorder prints it through learn.logger, to stdout.
    (No progress bar: it comes with fastai.callback.progress, which this row does not import.)"""
    contract_log = ContractLog()
    with learn.no_logging():
        learn.fit(epochs, cbs=contract_log)
    # Raised here, not in the callback: fastai rewords an exception that a callback raises.
    check_finite(learn.epoch + 1, contract_log.last_loss)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- evaluate
def evaluate(learn: Learner, images, labels) -> tuple[float, float]:
    """Mean loss and accuracy over a whole split: Learner.validate on its batches returns the
    Recorder's AvgLoss and the accuracy metric, each weighted by batch size."""
    loss, acc = learn.validate(dl=batches(images, labels, device=learn.dls.device))
    return loss, acc


def predict(learn: Learner, dl: TensorBatches):
    """Softmax probabilities of each image's ten classes (--predict): get_preds applies the loss
    function's activation (CrossEntropyLossFlat's softmax) in eval mode, without gradients."""
    probabilities, _ = learn.get_preds(dl=dl)
    return probabilities.numpy()


# ---------------------------------------------------------------- main
def main(inputs):
    args = inputs.args
    device = default_device()  # CUDA when present, as fastai picks it
    log.start("fastai", f"fastai/{fastai.__version__}", device.type)
    set_seed(args.seed)  # Python's random (fastai's shuffling), NumPy's and torch's (the init) generators
    model = init_params(inputs.init).to(device)
    if args.predict:
        images = batches(inputs.images, device=device)
        learn = make_learner(DataLoaders(images, device=device), model, args.lr, args.momentum)
        for index, probabilities in enumerate(predict(learn, images)):
            log.predict(index, probabilities)
        return
    log.config(args)
    log.data(inputs.splits, inputs.data_seconds)
    dls = make_dataloaders(inputs.splits, args.batch_size, args.shuffle, device)
    learn = make_learner(dls, model, args.lr, args.momentum)

    if args.epochs > 0:
        train_epochs(learn, args.epochs)
    started = time.perf_counter()
    test_loss, test_acc = evaluate(learn, inputs.splits.test_x, inputs.splits.test_y)
    log.test(test_loss, test_acc, time.perf_counter() - started)
    if args.save:
        weights.save(args.save, {name: t.detach().cpu().numpy() for name, t in model.state_dict().items()})


if __name__ == "__main__":
    run_main(main, inputs)
