"""MNIST in PyTorch Lightning: a LightningModule and a LightningDataModule, trained by lightning.Trainer.

The model, optimiser and data are the PyTorch row's; what changes is who runs the loop:
Lightning's Trainer calls the module's hooks (training_step, validation_step, test_step,
configure_optimizers) and a Callback prints the contract's log lines. Run from the repository root:

    uv run --project lightning lightning/main.py --epochs 1
"""

import os
import tempfile
import time

from mnist_common import check_finite, cli, log, progress, quiet, read_inputs, run_main, weights

# ---------------------------------------------------------------- data
# First the contract's inputs (SPEC.md §4): mnist_common reads and checks the flags, the IDX files
# (SPEC.md §1) and any weights file before Lightning loads, which takes seconds, so --help and bad
# input are answered at once.
if __name__ == "__main__":
    inputs = read_inputs("lightning", cli.build_parser("Train the SPEC.md MLP on MNIST with PyTorch Lightning."))

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler, TensorDataset


class Batches(Sampler):
    """Each batch's indices as one tensor: the epoch's order (torch.randperm, as RandomSampler draws it,
    or 0..n-1) split into batches. A TensorDataset indexed by a tensor gathers a batch in one call,
    2.5x faster than by the list of ints a BatchSampler yields (82 against 205 us, measured)."""

    def __init__(self, count: int, batch_size: int, generator: torch.Generator | None):
        self.count, self.batch_size, self.generator = count, batch_size, generator

    def __iter__(self):
        order = torch.randperm(self.count, generator=self.generator) if self.generator else torch.arange(self.count)
        return iter(order.split(self.batch_size))

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)


class MNISTDataModule(L.LightningDataModule):
    """The splits that mnist_common read (SPEC.md §1), served as whole batches.

    The sampler yields a tensor of indices per batch and the DataLoader has batch_size=None,
    so each batch is one tensor index of the TensorDataset — no per-example Python work.
    """

    def __init__(self, splits, batch_size: int, shuffle: bool, seed: int):
        super().__init__()
        self.splits, self.batch_size, self.shuffle = splits, batch_size, shuffle
        self.generator = torch.Generator().manual_seed(seed)  # one stream, a fresh order every epoch

    @staticmethod
    def _dataset(images, labels) -> TensorDataset:
        return TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))

    def _loader(self, dataset: TensorDataset, batch_size: int, shuffle: bool) -> DataLoader:
        batches = Batches(len(dataset), batch_size, self.generator if shuffle else None)
        return DataLoader(dataset, sampler=batches, batch_size=None)

    def train_dataloader(self):
        train = self._dataset(self.splits.train_x, self.splits.train_y)
        return self._loader(train, self.batch_size, self.shuffle)

    def val_dataloader(self):
        return self._loader(self._dataset(self.splits.val_x, self.splits.val_y), 1000, False)

    def test_dataloader(self):
        return self._loader(self._dataset(self.splits.test_x, self.splits.test_y), 1000, False)


# ---------------------------------------------------------------- model
def init_params(args, tensors: dict | None = None) -> "MNISTModule":
    """nn.Linear's default init is the contract's: U(±1/sqrt(fan_in)). Or the given weights, by name."""
    L.seed_everything(args.seed, verbose=False)
    model = MNISTModule(args.lr, args.momentum)
    if tensors is not None:
        model.load_state_dict({name: torch.from_numpy(array) for name, array in tensors.items()})
    return model


class MNISTModule(L.LightningModule):
    """784 → 512 → ReLU → 512 → ReLU → 10 logits.

    The layers sit directly on the module, so its state_dict has the contract's names (fc1.weight, ...).
    Lightning names the steps: training_step is the train step, the Trainer's fit loop the
    train epoch, validation_step and test_step evaluate, predict_step predicts.
    """

    def __init__(self, lr: float, momentum: float):
        super().__init__()
        self.lr, self.momentum = lr, momentum
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 512)
        self.fc3 = nn.Linear(512, 10)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum)

    # ------------------------------------------------------------ train step
    def training_step(self, batch, batch_idx):  # Lightning's own name for train_step
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        # Returned, not self.log-ged: logging costs more than the step itself here (1.3-2 ms a call,
        # measured); ContractLog adds them up instead.
        return {"loss": loss, "accuracy": (logits.argmax(dim=1) == y).float().mean()}

    # ------------------------------------------------------------ evaluate
    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self._log_metrics("val", F.cross_entropy(logits, y), logits, y)

    def test_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self._log_metrics("test", F.cross_entropy(logits, y), logits, y)

    def predict_step(self, batch, batch_idx):
        """Softmax probabilities of each image's ten classes (--predict); trainer.predict runs it in eval mode."""
        (x,) = batch
        return torch.softmax(self(x), dim=1)

    def _log_metrics(self, stage: str, loss, logits, labels):
        """on_epoch with batch_size: Lightning keeps a mean weighted by batch size, i.e. per example."""
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        size = len(labels)
        self.log(f"{stage}_loss", loss.detach(), on_step=False, on_epoch=True, batch_size=size)
        self.log(f"{stage}_acc", accuracy, on_step=False, on_epoch=True, batch_size=size)


class ContractLog(L.Callback):
    """Prints the contract's epoch and test lines (SPEC.md §6), and its progress lines, from the Trainer's hooks.

    The training loss and accuracy are means over the epoch's examples: the callback adds up each
    step's, weighted by its batch size, as Lightning's on_epoch logging would. An epoch's seconds
    run from the first training batch to the end of the last one (waiting for the GPU), so
    validation is not counted.
    """

    def on_train_epoch_start(self, trainer, module):
        self.started = time.perf_counter()
        self.sums, self.seen = torch.zeros(2, device=module.device), 0  # loss and accuracy, times examples

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        size = len(batch[1])
        self.sums += torch.stack([outputs["loss"].detach(), outputs["accuracy"]]) * size  # read at epoch end
        self.seen += size
        progress.train(trainer.current_epoch + 1, trainer.max_epochs, batch_idx + 1, trainer.num_training_batches,
                       lambda: self.sums[0].item() / self.seen)
        if batch_idx + 1 == trainer.num_training_batches:
            synchronize(module.device)
            self.train_seconds = time.perf_counter() - self.started

    def on_train_epoch_end(self, trainer, module):  # runs after this epoch's validation
        train_loss, train_acc = (self.sums / self.seen).tolist()
        metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
        epoch = trainer.current_epoch + 1
        check_finite(epoch, train_loss)
        log.epoch(epoch, train_loss, train_acc, metrics["val_loss"], metrics["val_acc"], self.train_seconds)

    def on_test_epoch_start(self, trainer, module):
        self.started = time.perf_counter()

    def on_test_epoch_end(self, trainer, module):
        metrics = trainer.callback_metrics
        log.test(float(metrics["test_loss"]), float(metrics["test_acc"]), time.perf_counter() - self.started)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------- main
def make_trainer(epochs: int, run_dir: str) -> L.Trainer:
    """Lightning's own output (a CSV of the epoch metrics) goes to $MNIST_RUN_DIR when the runner sets it.

    Lightning's progress bar is off: it writes to stdout, and the contract's progress lines say the same."""
    logger = L.pytorch.loggers.CSVLogger(run_dir, name="lightning_logs") if os.environ.get("MNIST_RUN_DIR") else False
    return L.Trainer(
        accelerator="auto", devices=1, max_epochs=epochs, default_root_dir=run_dir, logger=logger,
        enable_checkpointing=False,  # --save writes the contract's weights file instead
        enable_model_summary=False, num_sanity_val_steps=0,
        enable_progress_bar=False, callbacks=[ContractLog()],
    )


def main(inputs):
    args = inputs.args
    quiet.lightning()
    with tempfile.TemporaryDirectory(prefix="mnist-lightning-") as scratch:
        trainer = make_trainer(args.epochs, os.environ.get("MNIST_RUN_DIR") or scratch)
        log.start("lightning", f"lightning/{L.__version__}", trainer.strategy.root_device.type)
        if args.predict:
            model = init_params(args, inputs.init)
            images = DataLoader(TensorDataset(torch.from_numpy(inputs.images)), batch_size=1000)
            for index, probabilities in enumerate(torch.cat(trainer.predict(model, images)).numpy()):
                log.predict(index, probabilities)
            return
        log.config(args)
        log.data(inputs.splits, inputs.data_seconds)
        datamodule = MNISTDataModule(inputs.splits, args.batch_size, args.shuffle, args.seed)
        model = init_params(args, inputs.init)

        if args.epochs > 0:
            trainer.fit(model, datamodule=datamodule)
        trainer.test(model, datamodule=datamodule, verbose=False)
    if args.save:
        weights.save(args.save, {name: t.detach().cpu().numpy() for name, t in model.state_dict().items()})


if __name__ == "__main__":
    run_main(main, inputs)
