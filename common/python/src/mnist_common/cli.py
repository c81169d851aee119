"""The contract's flags (SPEC.md §4), parsed by argparse and checked against their ranges."""

import argparse
import math
import os
from pathlib import Path

from mnist_common.errors import UsageError

DATASETS = ("mnist", "fashion-mnist")
TRAIN_EXAMPLES = 50_000
MAX_SEED = 2**32 - 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (SPEC.md §7), not the usage block."""

    def error(self, message: str):  # argparse calls this for unknown flags and bad values
        raise UsageError(f"{message} (see --help)")


def _int_in(flag: str, low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise UsageError(f"{flag} must be an integer {bound}, got {text!r}")
        return value

    return parse


def _float_in(flag: str, check, wanted: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not check(value):
            raise UsageError(f"{flag} must be {wanted}, got {text!r}")
        return value

    return parse


def output_file(flag: str, suffix: str = ""):
    """An argparse type for a row's own output flag: a path in an existing directory, ending in `suffix`."""
    def parse(text: str) -> Path:
        path = Path(text)
        if not path.name.endswith(suffix) or path.name == suffix:
            raise UsageError(f"{flag} must name a {suffix} file, got {text!r}")
        if not path.parent.is_dir():
            raise UsageError(f"{flag}: directory {path.parent} does not exist")
        return path

    return parse


def build_parser(description: str) -> argparse.ArgumentParser:
    """The parser with every contract flag; a row may add its own flags before parsing."""
    parser = _Parser(description=description, allow_abbrev=False)
    add = parser.add_argument
    add("--dataset", default="mnist", choices=DATASETS, help="which dataset to train on (default: mnist)")
    add("--data-dir", type=Path, default=None,
        help="data root holding <dataset>/ (default: $MNIST_DATA_DIR, else data/)")
    add("--epochs", type=_int_in("--epochs", 0), default=5,
        help="passes over the training set; 0 only evaluates (default: 5)")
    add("--batch-size", type=_int_in("--batch-size", 1), default=128,
        help="examples per SGD step (default: 128)")
    add("--lr", type=_float_in("--lr", lambda v: v > 0, "a number > 0"), default=0.05,
        help="learning rate (default: 0.05)")
    add("--momentum", type=_float_in("--momentum", lambda v: 0 <= v < 1, "a number in [0, 1)"),
        default=0.9, help="SGD momentum (default: 0.9)")
    add("--seed", type=_int_in("--seed", 0, MAX_SEED), default=0,
        help="seeds initialisation and shuffling (default: 0)")
    add("--limit-train", type=_int_in("--limit-train", 1, TRAIN_EXAMPLES), default=TRAIN_EXAMPLES,
        help="train on the first N training examples only (default: all 50000)")
    add("--no-shuffle", dest="shuffle", action="store_false",
        help="keep the training examples in file order every epoch")
    add("--init", type=Path, default=None, help="start from these safetensors weights instead of random ones")
    add("--load", type=Path, default=None, help="same as --init; with --epochs 0 only evaluates")
    add("--save", type=Path, default=None, help="write the trained weights to this safetensors file")
    add("--predict", type=Path, default=None, metavar="IDX_FILE",
        help="classify the images of this IDX file (.gz or plain) with the --load weights instead of training")
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and cross-check the flags; resolves --data-dir and merges --load into --init."""
    args = parser.parse_args(argv)
    if args.init is not None and args.load is not None:
        raise UsageError("--init and --load are the same option; give only one")
    if args.predict is not None and args.load is None:
        raise UsageError("--predict needs the weights to classify with: add --load FILE")
    args.init = args.init if args.init is not None else args.load
    if args.data_dir is None:
        args.data_dir = Path(os.environ.get("MNIST_DATA_DIR") or "data")
    if args.save is not None and not args.save.parent.is_dir():
        raise UsageError(f"--save: directory {args.save.parent} does not exist")
    return args
