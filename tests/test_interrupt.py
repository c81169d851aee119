"""Ctrl-C and SIGTERM: the row stops, the run is recorded as interrupted, one line is printed, no traceback.

The tasks are run for real, in their own process group, by a small driver that points the runner at a
temporary repository root (mnist_runner.ROOT), so the rows it finds are stand-in rows made here and its
outputs/ stay out of the repository. The signals are real: os.killpg as a terminal's Ctrl-C does, os.kill
as `kill PID` does.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import optuna
import pytest

from mnist_runner import ROOT, executor, normalize
from mnist_runner.registry import Project

# A row that logs its first epoch, then trains (sleeps) until FAKE_SLEEP runs out or a signal comes.
ROW = textwrap.dedent("""\
    import os, signal, sys, time
    with open(os.environ["FAKE_PIDS"], "a") as pids:
        pids.write(f"{os.getpid()}\\n")
    if os.environ.get("FAKE_STUBBORN"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.environ.get("FAKE_SIGNAL_PARENT"):  # as if someone sent the runner alone this signal
        os.kill(os.getppid(), getattr(signal, os.environ["FAKE_SIGNAL_PARENT"]))
    try:
        print("event=start row=fake language=python/3 framework=none device=cpu")
        print("event=config dataset=mnist epochs=2 batch_size=128 lr=0.05 momentum=0.9 seed=0 limit_train=100 "
              "shuffle=1 init=0")
        print("event=data train=100 val=10000 test=10000 seconds=0.100")
        print("event=epoch epoch=1 train_loss=1.000000 train_acc=0.500000 val_loss=0.900000 val_acc=0.600000 "
              "seconds=0.500")
        time.sleep(float(os.environ.get("FAKE_SLEEP", "60")))
        print("event=epoch epoch=2 train_loss=0.800000 train_acc=0.600000 val_loss=0.700000 val_acc=0.700000 "
              "seconds=0.500")
        print("event=test test_loss=0.800000 test_acc=0.700000 seconds=0.010")
    except KeyboardInterrupt:  # what mnist_common.errors.run_main does
        print("error: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    """)

MANIFEST = textwrap.dedent("""\
    title = "{title}"
    language = "Python"
    order = {order}
    [table]
    data = "-"
    training = "-"
    network = "-"
    autograd = "-"
    [run]
    command = ["{python}", "{{dir}}/main.py"]
    """)

# The `invoke` command line, with the runner's root moved to argv[1].
DRIVER = textwrap.dedent("""\
    import os, sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    import mnist_runner
    mnist_runner.ROOT = Path(sys.argv[1])
    from invoke.main import program
    program.run(["invoke", "--search-root", {repo!r}, *sys.argv[2:]])
    """)


class Tasks:
    """`invoke` over a temporary root holding stand-in rows."""

    def __init__(self, folder: Path):
        self.root = folder / "root"
        self.root.mkdir()
        self.outputs = self.root / "outputs"
        self.pids = folder / "pids"
        self.driver = folder / "driver.py"
        self.driver.write_text(DRIVER.format(repo=str(ROOT)))
        self.env = {**os.environ, "FAKE_PIDS": str(self.pids)}

    def row(self, name: str, order: int = 1) -> None:
        directory = self.root / name
        directory.mkdir()
        (directory / "main.py").write_text(ROW)
        (directory / "row.toml").write_text(MANIFEST.format(title=name.title(), order=order, python=sys.executable))

    def start(self, *args, **env) -> subprocess.Popen:
        """The task in a process group of its own, as a shell starts a foreground job."""
        return subprocess.Popen([sys.executable, str(self.driver), str(self.root), *args], cwd=self.root,
                                env={**self.env, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def run(self, *args, **env) -> subprocess.CompletedProcess:
        completed = subprocess.run([sys.executable, str(self.driver), str(self.root), *args], cwd=self.root,
                                   env={**self.env, **env}, stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True, timeout=120)
        return completed

    def child_pids(self) -> list[int]:
        return [int(line) for line in self.pids.read_text().split()] if self.pids.exists() else []


@pytest.fixture
def tasks(tmp_path) -> Tasks:
    return Tasks(tmp_path)


def wait_for_line(process: subprocess.Popen, text: str, timeout: float = 60) -> str:
    """Read the task's stdout until a line holding text, as a user watching the terminal would."""
    timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    timer.start()
    seen = ""
    try:
        for line in process.stdout:
            seen += line
            if text in line:
                return seen
    finally:
        timer.cancel()
    raise AssertionError(f"no line with {text!r} came; stdout:\n{seen}\nstderr:\n{process.stderr.read()}")


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def finish(process: subprocess.Popen) -> tuple[str, str]:
    try:
        return process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def one_line_after(stderr: str, first: str) -> str:
    """Everything the task said on stderr after its opening line: exactly one line, no traceback."""
    assert "Traceback" not in stderr and "Exception in thread" not in stderr, stderr
    lines = stderr.splitlines()
    assert lines[0].startswith(first), stderr
    assert len(lines) == 2, stderr
    return lines[1]


def recorded(outputs: Path, row: str, line: str) -> tuple[Path, dict]:
    """The run the line names is the row's latest, with its summary."""
    latest = (outputs / row / "latest").resolve()
    assert f"{row} run {latest.name} recorded as interrupted" in line, line
    return latest, json.loads((latest / "summary.json").read_text())


def test_ctrl_c_stops_invoke_run_and_records_the_run_as_interrupted(tasks):
    tasks.row("fake")
    process = tasks.start("run", "--project", "fake", "--epochs", "2")
    wait_for_line(process, "event=epoch")
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    stdout, stderr = finish(process)

    assert process.returncode == 130
    line = one_line_after(stderr, "== run fake --epochs 2")
    assert line.startswith("== interrupted by SIGINT: fake run ") and "after 1 epoch(s)" in line
    run_dir, summary = recorded(tasks.outputs, "fake", line)
    assert summary["status"] == "interrupted" and summary["error"] == "interrupted by SIGINT"
    assert summary["exit_code"] == 130 and summary["epochs_completed"] == 1 and summary["test_accuracy"] is None
    assert summary["final_val_loss"] == 0.9 and summary["wall_seconds"] > 0
    metrics = [json.loads(m) for m in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(m["split"], m["epoch"]) for m in metrics] == [("train", 1), ("val", 1)]
    # What the row said while it stopped is in its log, not on the terminal.
    assert (run_dir / "stderr.log").read_text() == "error: interrupted\n"
    assert "error: interrupted" not in stderr and "event=epoch epoch=2" not in stdout
    assert all(gone(pid) for pid in tasks.child_pids())

    listed = tasks.run("list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("fake "))
    assert f"interrupted by SIGINT after 1 epoch(s) (fake/{run_dir.name})" in row and " ok" not in row
    table = (tasks.outputs / "summary.md").read_text()
    assert "| Fake | interrupted by SIGINT | mnist | 1 | — |" in table and "| ok |" not in table


def test_sigterm_to_invoke_alone_stops_the_row_and_records_it(tasks):
    tasks.row("fake")
    process = tasks.start("run", "--project", "fake")
    wait_for_line(process, "event=epoch")
    os.kill(process.pid, signal.SIGTERM)  # `kill PID`: the row does not get it, the runner passes it on
    _, stderr = finish(process)

    assert process.returncode == 143
    line = one_line_after(stderr, "== run fake")
    assert line.startswith("== interrupted by SIGTERM: fake run ")
    _, summary = recorded(tasks.outputs, "fake", line)
    assert summary["status"] == "interrupted" and summary["error"] == "interrupted by SIGTERM"
    assert summary["exit_code"] == -signal.SIGTERM and summary["epochs_completed"] == 1
    [child] = tasks.child_pids()
    assert gone(child)  # terminated and reaped by the runner, not left behind


def test_ctrl_c_during_run_all_starts_no_further_row(tasks):
    tasks.row("fake", order=1)
    tasks.row("later", order=2)
    process = tasks.start("run", "--all")
    wait_for_line(process, "event=epoch")
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = finish(process)

    assert process.returncode == 130
    line = one_line_after(stderr, "== run fake")
    recorded(tasks.outputs, "fake", line)
    assert not (tasks.outputs / "later").exists() and len(tasks.child_pids()) == 1
    assert "| Later | not run |" in (tasks.outputs / "summary.md").read_text()


def test_ctrl_c_during_a_sweep_fails_the_trial_and_the_same_command_runs_it_again(tasks):
    tasks.row("fake")
    command = ("sweep", "--project", "fake", "--trials", "2", "--max-epochs", "2", "--study", "s")
    folder = tasks.outputs / "sweep" / "s"
    process = tasks.start(*command)
    wait_for(lambda: any("event=epoch" in log.read_text() for log in folder.glob("fake/*/stdout.log")))
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = finish(process)

    assert process.returncode == 130, stderr
    assert stdout == "" and "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("== interrupted by SIGINT: fake run ")
    assert "trial 0 of study s failed, and runs again first when the same command resumes the study" in stderr
    storage = f"sqlite:///{folder / 'study.db'}"
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING]
    assert trials[0].user_attrs["interrupted"] == "SIGINT"
    assert trials[1].system_attrs["fixed_params"] == trials[0].params  # queued
    summary = json.loads((Path(trials[0].user_attrs["run_dir"]) / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["epochs_completed"] == 1

    again = tasks.run(*command, FAKE_SLEEP="0")
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr and "best of 2 trials" in again.stdout
    trials = optuna.load_study(study_name="s", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] + [optuna.trial.TrialState.COMPLETE] * 2
    assert trials[1].params == trials[0].params


def test_ctrl_c_during_invoke_bench_prints_one_line_and_exits_130(tasks, data_root):
    tasks.row("fake")
    process = tasks.start("bench", "--project", "fake", "--no-cross", "--data-dir", str(data_root))
    wait_for(lambda: any("event=epoch" in log.read_text()
                         for log in tasks.outputs.glob("bench/*/fake/*/stdout.log")))
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = finish(process)

    assert process.returncode == 130, stderr
    lines = stderr.splitlines()  # the bench's progress lines, then the one about the interruption
    assert "Traceback" not in stderr and [line for line in lines if "interrupted" in line] == lines[-1:], stderr
    assert lines[-1].startswith("== interrupted by SIGINT: fake run ") and "recorded as interrupted" in lines[-1]
    assert "marked interrupted" in lines[-1]
    [run_dir] = tasks.outputs.glob("bench/2*/fake/2*")
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"
    # The benchmark itself says it is incomplete, and `latest` points at it, so a report cannot pass it off.
    results = json.loads((tasks.outputs / "bench" / "latest" / "results.json").read_text())
    assert results["interrupted"].startswith("interrupted by SIGINT while running fake")
    assert [r["status"] for r in results["rows"][0]["runs"]] == ["interrupted"]
    from mnist_runner import report
    assert report.busy_label(results).startswith("**INCOMPLETE")


# ------------------------------------------------------------------ in this process: executor.run and call

def fake_project(tmp_path: Path, **extra) -> Project:
    directory = tmp_path / "fake"
    directory.mkdir()
    (directory / "main.py").write_text(ROW)
    return Project(name="fake", directory=directory, title="Fake", language="Python", order=1,
                   table={"data": "-", "training": "-", "network": "-", "autograd": "-"},
                   run_command=(sys.executable, "{dir}/main.py"), **extra)


@pytest.fixture
def row_env(tmp_path, monkeypatch):
    """The stand-in row's settings, and a check that the signal handlers are put back afterwards."""
    assert threading.current_thread() is threading.main_thread(), "signal tests must run in the main thread"
    monkeypatch.setenv("FAKE_PIDS", str(tmp_path / "pids"))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    yield monkeypatch
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_a_signal_to_the_runner_alone_is_passed_on_to_the_row(tmp_path, row_env):
    row_env.setenv("FAKE_SIGNAL_PARENT", "SIGINT")  # not the process group: the row does not get it
    row_env.setattr(executor, "GRACE_SECONDS", 0.2)
    with pytest.raises(executor.Interrupted) as caught:
        executor.run(fake_project(tmp_path), [], outputs=tmp_path / "outputs", echo=False)
    interrupted = caught.value
    assert interrupted.signum == signal.SIGINT and interrupted.exit_status == 130
    assert interrupted.summary["exit_code"] == 130  # the row's own KeyboardInterrupt handling ran
    assert interrupted.summary["status"] == "interrupted" and interrupted.run_dir.is_dir()
    assert (tmp_path / "outputs" / "fake" / "latest").resolve() == interrupted.run_dir
    assert json.loads((interrupted.run_dir / "summary.json").read_text()) == interrupted.summary


def test_a_row_that_ignores_the_signal_is_killed(tmp_path, row_env):
    row_env.setenv("FAKE_SIGNAL_PARENT", "SIGTERM")
    row_env.setenv("FAKE_STUBBORN", "1")
    row_env.setattr(executor, "KILL_AFTER_SECONDS", 0.5)
    started = time.monotonic()
    with pytest.raises(executor.Interrupted) as caught:
        executor.run(fake_project(tmp_path), [], outputs=tmp_path / "outputs", echo=False)
    assert time.monotonic() - started < 20
    assert caught.value.summary["exit_code"] == -signal.SIGKILL
    assert caught.value.summary["error"] == "interrupted by SIGTERM"


def test_a_signal_during_the_build_stops_it_and_the_row_never_starts(tmp_path, row_env):
    stop_parent = "import os, signal, time; os.kill(os.getppid(), signal.SIGTERM); time.sleep(60)"
    project = fake_project(tmp_path, build_commands=((sys.executable, "-c", stop_parent), ("false",)))
    with pytest.raises(executor.Interrupted) as caught:
        executor.run(project, [], outputs=tmp_path / "outputs", echo=False)
    summary = caught.value.summary
    assert summary["status"] == "interrupted" and summary["error"] == "interrupted by SIGTERM during the build"
    assert not (tmp_path / "pids").exists()  # the row did not start


def test_call_raises_interrupted_once_the_row_has_stopped(tmp_path, row_env):
    row_env.setenv("FAKE_SIGNAL_PARENT", "SIGTERM")
    with pytest.raises(executor.Interrupted) as caught:
        executor.call(fake_project(tmp_path), ["--predict", "x"])
    assert caught.value.run_dir is None and caught.value.exit_status == 143
    assert caught.value.describe() == "== interrupted by SIGTERM: fake was stopped"
    [child] = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    assert gone(child)
    assert not isinstance(caught.value, Exception)  # `except Exception` and RowError handlers let it through


def test_a_failing_progress_callback_neither_hangs_the_row_nor_loses_its_log(tmp_path, row_env):
    row_env.setenv("FAKE_SLEEP", "0")

    def broken(record):
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        executor.run(fake_project(tmp_path), [], outputs=tmp_path / "outputs", echo=False, on_record=broken)
    summary = json.loads((tmp_path / "outputs" / "fake" / "latest" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["epochs_completed"] == 2


def test_a_row_that_finished_despite_the_signal_is_not_called_interrupted():
    records = normalize.parse_log("event=epoch epoch=1 val_loss=1.0 seconds=1.0\nevent=test test_acc=0.9\n")
    assert normalize.summarize(records, 0, interrupted="SIGINT")["status"] == "ok"
    assert normalize.summarize(records[:1], 0, interrupted="SIGINT")["status"] == "interrupted"
    assert normalize.summarize(records, -15, interrupted="SIGTERM")["error"] == "interrupted by SIGTERM"
