"""Exit statuses (SPEC.md §7): 0, 2 for bad input, 3 for divergence; one `error: ` line on stderr."""

import subprocess
import sys
import textwrap

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


@pytest.mark.parametrize("body, status, err", [
    ("pass", 0, ""),
    ("raise DataError('bad file')", 2, "error: bad file\n"),
    ("raise Diverged('diverged')", 3, "error: diverged\n"),
])
def test_a_row_program_exits_with_its_output_flushed_and_atexit_run(tmp_path, body, status, err):
    """A row's own main skips the interpreter's teardown (finish): what it printed still arrives,
    atexit handlers and other threads still run, and the status is the contract's."""
    script = tmp_path / "row.py"
    script.write_text(textwrap.dedent(f"""
        import atexit, sys, threading, time
        from mnist_common import DataError, Diverged, run_main
        atexit.register(lambda: print("atexit ran", flush=True))
        def late():
            time.sleep(0.2)
            print("thread ran")  # unflushed: the exit flushes it
        def main():
            threading.Thread(target=late).start()
            print("log line")  # unflushed too
            {body}
        run_main(main)
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (status, err)
    assert done.stdout == "log line\nthread ran\natexit ran\n"
