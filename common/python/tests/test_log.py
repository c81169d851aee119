"""The log lines (SPEC.md §6): logfmt records on stdout, one per call, in the contract's key order."""

import platform
from argparse import Namespace
from pathlib import Path

import numpy as np

from mnist_common import log
from mnist_common.data import Splits


def out(capsys) -> list[str]:
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out.splitlines()


def test_start(capsys):
    log.start("numpy", "numpy/2.4.6")
    log.start("pytorch", "torch/2.15.0", "cuda")
    python = platform.python_version()
    assert out(capsys) == [f"event=start row=numpy language=python/{python} framework=numpy/2.4.6 device=cpu",
                           f"event=start row=pytorch language=python/{python} framework=torch/2.15.0 device=cuda"]


def test_config(capsys):
    args = Namespace(dataset="mnist", epochs=5, batch_size=128, lr=0.05, momentum=0.9, seed=0, limit_train=50000,
                     shuffle=True, init=Path("w.safetensors"))
    log.config(args)
    assert out(capsys) == ["event=config dataset=mnist epochs=5 batch_size=128 lr=0.05 momentum=0.9 seed=0 "
                           "limit_train=50000 shuffle=1 init=1"]


def test_data_warmup_epoch_test(capsys):
    splits = Splits(*(np.zeros(n) for n in (2000, 2000, 10000, 10000, 10000, 10000)))
    log.data(splits, 0.41234)
    log.warmup(1.5)
    log.epoch(1, 0.9012344, 0.7315, 0.4123456, 0.8812, 0.2)
    log.test(0.3256781, 0.8991, 0.0614)
    assert out(capsys) == [
        "event=data train=2000 val=10000 test=10000 seconds=0.412",
        "event=warmup seconds=1.500",
        "event=epoch epoch=1 train_loss=0.901234 train_acc=0.731500 val_loss=0.412346 val_acc=0.881200 "
        "seconds=0.200",
        "event=test test_loss=0.325678 test_acc=0.899100 seconds=0.061",
    ]


def test_predict_picks_the_lowest_class_on_a_tie(capsys):
    log.predict(0, np.array([0.1, 0.4, 0.4, 0.1, 0, 0, 0, 0, 0, 0], np.float32))
    assert out(capsys) == ["event=predict index=0 class=1 p0=0.100000 p1=0.400000 p2=0.400000 p3=0.100000 "
                           "p4=0.000000 p5=0.000000 p6=0.000000 p7=0.000000 p8=0.000000 p9=0.000000"]
