"""Exit statuses (SPEC.md §7): 0, 2 for bad input, 3 for divergence; one `error: ` line on stderr."""

import pytest

from mnist_common import DataError, Diverged, UsageError, check_finite, run_main


def exit_of(main, capsys, *args) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as exited:
        run_main(main, *args)
    return exited.value.code, capsys.readouterr().err.splitlines()


def raising(error):
    def main():
        raise error
    return main


def test_success_exits_0(capsys):
    seen = []
    assert exit_of(seen.append, capsys, "argument") == (0, [])
    assert seen == ["argument"]


@pytest.mark.parametrize("error, status", [
    (UsageError("--lr must be a number > 0, got 'x'"), 2),
    (DataError("data/mnist/t.gz: file not found"), 2),
    (Diverged("training diverged in epoch 1"), 3),
    (KeyboardInterrupt(), 130),
])
def test_errors_exit_with_one_line(capsys, error, status):
    code, lines = exit_of(raising(error), capsys)
    message = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
    assert code == status and lines == [f"error: {message}"]


def test_other_exceptions_are_bugs_and_propagate():
    with pytest.raises(ZeroDivisionError):
        run_main(lambda: 1 / 0)


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), float("-inf")])
def test_check_finite(loss):
    check_finite(1, 0.5)
    with pytest.raises(Diverged, match=f"training diverged in epoch 2: the training loss is {loss}"):
        check_finite(2, loss)
