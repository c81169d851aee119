"""Everything a run reads, read and checked before the row loads its framework (SPEC.md §4).

A row calls read_inputs first thing: --help, a bad flag and a bad data, weights or image file are
then answered in well under a second, however long `import torch` or `import tensorflow` takes.
"""

import argparse
from typing import NamedTuple

import numpy as np

from mnist_common import cli, data, progress, weights
from mnist_common.errors import exit_on_error


class Inputs(NamedTuple):
    args: argparse.Namespace          # the flags, checked (cli.parse_args)
    splits: data.Splits | None        # the dataset (SPEC.md §1); None with --predict
    data_seconds: float               # how long reading the dataset took, for the `data` line
    init: dict[str, np.ndarray] | None  # the --init / --load weights (SPEC.md §5), or None
    images: np.ndarray | None         # the --predict images, float32 [n, 784]; None without --predict


def read_inputs(row: str, parser: argparse.ArgumentParser, argv: list[str] | None = None) -> Inputs:
    """Parse the flags, then read the files they name: the --predict image file and its --load weights,
    or the dataset and any --init weights. Bad input ends the run here, with exit status 2 (SPEC.md §7)."""
    with exit_on_error():
        args = cli.parse_args(parser, argv)
        progress.start(row)
        if args.predict:
            init = weights.load(args.init)
            return Inputs(args, None, 0.0, init, data.read_images(args.predict))
        init = weights.load(args.init) if args.init else None  # first: a few MB, where the data is 55
        progress.data(args.dataset)
        splits, seconds = data.load(args)
        return Inputs(args, splits, seconds, init, None)
