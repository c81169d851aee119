"""The contract's flags (SPEC.md §4): defaults, ranges, cross-checks, and one-line usage errors."""

from pathlib import Path

import pytest

from mnist_common import UsageError, cli


def parse(*argv: str):
    return cli.parse_args(cli.build_parser("test"), list(argv))


def test_defaults(monkeypatch):
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    args = parse()
    assert (args.dataset, args.epochs, args.batch_size, args.lr, args.momentum, args.seed) == \
        ("mnist", 5, 128, 0.05, 0.9, 0)
    assert args.limit_train == 50_000 and args.shuffle and args.init is None and args.predict is None
    assert args.data_dir == Path("data")


def test_values_in_the_usual_forms(monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", "/somewhere")
    args = parse("--lr", "5e-2", "--momentum", "0", "--epochs", "0", "--seed", str(2**32 - 1), "--no-shuffle",
                 "--dataset", "fashion-mnist", "--limit-train", "1")
    assert args.lr == 0.05 and args.momentum == 0 and args.epochs == 0 and args.seed == 2**32 - 1
    assert not args.shuffle and args.dataset == "fashion-mnist" and args.limit_train == 1
    assert args.data_dir == Path("/somewhere")
    assert parse("--data-dir", "here").data_dir == Path("here")


def test_load_is_init():
    assert parse("--load", "w.safetensors").init == Path("w.safetensors")
    assert parse("--init", "w.safetensors").init == Path("w.safetensors")


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "-5"], "--batch-size must be an integer >= 1, got '-5'"),
    (["--batch-size", "1.5"], "--batch-size must be an integer >= 1"),
    (["--epochs", "-1"], "--epochs must be an integer >= 0"),
    (["--lr", "abc"], "--lr must be a number > 0, got 'abc'"),
    (["--lr", "0"], "--lr must be a number > 0"),
    (["--lr", "nan"], "--lr must be a number > 0"),
    (["--lr", "inf"], "--lr must be a number > 0"),
    (["--momentum", "1"], r"--momentum must be a number in \[0, 1\), got '1'"),
    (["--seed", str(2**32)], "--seed must be an integer in 0..4294967295"),
    (["--limit-train", "50001"], "--limit-train must be an integer in 1..50000"),
    (["--limit-train", "0"], "--limit-train must be an integer in 1..50000"),
    (["--dataset", "cifar10"], "invalid choice: 'cifar10'"),
    (["--bogus"], r"unrecognized arguments: --bogus \(see --help\)"),
    (["--epochs"], "argument --epochs: expected one argument"),
    (["--epoch", "3"], "unrecognized arguments"),  # no abbreviations
    (["--init", "a", "--load", "b"], "--init and --load are the same option"),
    (["--predict", "x.idx"], "--predict needs the weights to classify with: add --load FILE"),
    (["--save", "/nonexistent-dir/w.safetensors"], "--save: directory /nonexistent-dir does not exist"),
])
def test_usage_errors(argv, message):
    with pytest.raises(UsageError, match=message):
        parse(*argv)


def test_help_names_every_flag(capsys):
    with pytest.raises(SystemExit) as exited:
        parse("--help")
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--dataset", "--data-dir", "--epochs", "--batch-size", "--lr", "--momentum", "--seed",
                 "--limit-train", "--no-shuffle", "--init", "--load", "--save", "--predict"):
        assert flag in out


def test_output_file_flag(tmp_path):
    parser = cli.build_parser("test")
    parser.add_argument("--save-keras", type=cli.output_file("--save-keras", ".keras"))
    args = cli.parse_args(parser, ["--save-keras", str(tmp_path / "model.keras")])
    assert args.save_keras == tmp_path / "model.keras"
    with pytest.raises(UsageError, match="--save-keras must name a .keras file, got 'model.h5'"):
        cli.parse_args(parser, ["--save-keras", "model.h5"])
    with pytest.raises(UsageError, match="--save-keras: directory /nonexistent-dir does not exist"):
        cli.parse_args(parser, ["--save-keras", "/nonexistent-dir/model.keras"])
