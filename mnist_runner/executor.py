"""Run one row: build it, run it from the repository root, keep its streams and results.

Each run gets a fresh outputs/<row>/<run-id>/ that is never reused; outputs/<row>/latest
points at the newest one.

Ctrl-C (SIGINT) and SIGTERM stop the row, not the runner's bookkeeping: the runner waits for the
row to exit, records the run as interrupted, and then raises Interrupted so its caller stops too.
"""

import json
import os
import platform
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mnist_runner import ROOT, normalize
from mnist_runner.registry import Project

OUTPUTS = ROOT / "outputs"


def new_run_dir(project: str, outputs: Path = OUTPUTS) -> Path:
    """A run directory that did not exist before: timestamp plus a random suffix, created exclusively."""
    parent = outputs / project
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        directory = parent / f"{stamp}-{secrets.token_hex(2)}"
        try:
            directory.mkdir()
            return directory
        except FileExistsError:
            continue


def point_latest(run_dir: Path) -> None:
    """Atomically repoint <row>/latest at run_dir."""
    link = run_dir.parent / "latest"
    temporary = run_dir.parent / f".latest-{secrets.token_hex(4)}"
    temporary.symlink_to(run_dir.name)
    temporary.replace(link)


# A Ctrl-C reaches the whole foreground process group, the row included: it gets this long to stop on
# its own before the runner passes the signal on (it was then sent to the runner alone: `kill -INT PID`).
GRACE_SECONDS = 1.0
# A row still running this long after the first signal, or when a second one comes, is killed (SIGKILL).
KILL_AFTER_SECONDS = 10.0


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a row; raised once the run is recorded, so that the caller stops too.

    A KeyboardInterrupt, so handlers of Exception (RowError among them) let it through. signum is the
    signal and exit_status the shell's 128 + signum; run_dir and summary are the recorded run (None when
    call() was interrupted); context, which a caller may set, ends the line that describe() gives.
    """

    def __init__(self, signum: int, project: str, run_dir: Path | None = None, summary: dict | None = None):
        self.signum, self.project, self.run_dir, self.summary = signum, project, run_dir, summary
        self.context: str | None = None
        super().__init__(signum, project, run_dir)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    def describe(self) -> str:
        """The one line to print about it."""
        if self.run_dir is None:
            text = f"== interrupted by {self.signal_name}: {self.project} was stopped"
        elif self.summary["status"] == "interrupted":
            text = (f"== interrupted by {self.signal_name}: {self.project} run {self.run_dir.name} recorded as "
                    f"interrupted after {self.summary.get('epochs_completed') or 0} epoch(s) ({_shown(self.run_dir)})")
        else:
            text = (f"== interrupted by {self.signal_name}: {self.project} run {self.run_dir.name} had already "
                    f"ended, recorded as {self.summary['status']} ({_shown(self.run_dir)})")
        return text + (f"; {self.context}" if self.context else "")

    def __str__(self) -> str:
        return self.describe()


def _shown(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


class _Signals:
    """SIGINT and SIGTERM while the runner looks after a row's processes: noted, never raised.

    _wait passes them on to the child (GRACE_SECONDS, KILL_AFTER_SECONDS) and run()/call() raise
    Interrupted once the child has exited and the run is recorded. Only the main thread can handle
    signals: used from another thread this notes nothing and the signals keep their handlers. A signal
    the process ignores (nohup, a background job) stays ignored.
    """

    HANDLED = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum: int | None = None  # the first signal
        self.at = 0.0  # when it came (time.monotonic)
        self.count = 0
        self._previous = {}
        self._previous_fd = -1
        self._wakeup: tuple[int, int] | None = None
        self._seen = False

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        # Python's C-level handler writes each signal's number to this pipe at once: it wakes _wait's
        # select, and tells the output threads to stop echoing before the Python handler has even run.
        self._wakeup = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous_fd = signal.set_wakeup_fd(self._wakeup[1], warn_on_full_buffer=False)
        for signum in self.HANDLED:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous = {}
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_fd)
            for fd in self._wakeup:
                os.close(fd)
            self._wakeup = None

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.signum is None:
            self.signum, self.at = signum, time.monotonic()

    @property
    def name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name

    @property
    def fds(self) -> list[int]:
        return [] if self._wakeup is None else [self._wakeup[0]]

    def came(self) -> bool:
        """Whether SIGINT or SIGTERM has come, even if its Python handler has not run yet (any thread may ask)."""
        if self.signum is not None or self._seen:
            return True
        try:
            return bool(self._wakeup and select.select([self._wakeup[0]], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def drain(self) -> None:
        try:
            numbers = os.read(self._wakeup[0], 512) if self._wakeup is not None else b""
        except BlockingIOError:
            return
        self._seen = self._seen or any(number in self.HANDLED for number in numbers)


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _wait(process: subprocess.Popen, signals: _Signals) -> tuple[int, object]:
    """Wait for the child to exit, passing on the signals that come meanwhile; reap it.

    Returns the wait status and the child's own resource usage (wait4: peak RSS included). The child is
    reaped here and only here, after it has exited, so a signal is never sent to a recycled process id.
    """
    exited_r, exited_w = os.pipe2(os.O_CLOEXEC)

    def watch() -> None:
        try:
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # waits, leaves it to be reaped
        finally:
            os.write(exited_w, b"x")

    watcher = threading.Thread(target=watch, name=f"wait-{process.pid}", daemon=True)
    watcher.start()
    forwarded = killed = False
    try:
        while True:
            timeout = None
            if signals.signum is not None and not killed:
                now = time.monotonic()
                if not forwarded and (signals.signum != signal.SIGINT or now >= signals.at + GRACE_SECONDS):
                    _send(process.pid, signals.signum)
                    forwarded = True
                if signals.count > 1 or now >= signals.at + KILL_AFTER_SECONDS:
                    _send(process.pid, signal.SIGKILL)
                    killed = True
                else:
                    deadlines = [signals.at + KILL_AFTER_SECONDS] + ([] if forwarded else [signals.at + GRACE_SECONDS])
                    timeout = max(0.0, min(deadlines) - now)
            ready, _, _ = select.select([exited_r, *signals.fds], [], [], timeout)
            if exited_r in ready:
                break
            signals.drain()
    except BaseException:
        _send(process.pid, signal.SIGKILL)  # not reaped yet, so the id is still this child's
        raise
    finally:
        watcher.join()
        os.close(exited_r)
        os.close(exited_w)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return status, usage


def build(project: Project, build_log: Path, signals: _Signals | None = None) -> str | None:
    """Run the row's build steps (incremental, so quick when up to date); returns an error or None.

    With signals, a SIGINT or SIGTERM stops the step that is running and the steps after it.
    """
    signals = signals or _Signals()
    if not project.build_commands:
        return None
    with open(build_log, "ab") as log_file:
        for command in project.build_commands:
            if signals.signum is not None:
                return None
            argv = project.argv(command)
            try:
                process = subprocess.Popen(argv, cwd=project.directory, stdout=log_file, stderr=subprocess.STDOUT)
            except OSError as error:
                return f"build step {argv[0]} could not start ({error.strerror}): run `invoke setup --project {project.name}`"
            _wait(process, signals)
            if process.returncode != 0 and signals.signum is None:
                return f"build step `{' '.join(argv)}` failed with status {process.returncode} (see {build_log})"
    return None


class Echo:
    """What a run shows while it goes: each line of the row's stdout and stderr, as it arrives.

    This one copies the lines to the runner's own stdout and stderr unchanged (a log file, CI, a pipe).
    mnist_runner.display.Live shows the progress lines (SPEC.md §6) as a live bar on a terminal instead.
    """

    def __init__(self):
        self.streams = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}

    def line(self, stream: str, line: bytes) -> None:
        self.streams[stream].write(line)
        self.streams[stream].flush()

    def progress(self, record: dict) -> None:
        """A progress line, parsed; Echo has already shown it as a plain line."""


@dataclass
class Completed:
    """What a row did: its exit status, both streams, the parsed log lines and when each event first came."""

    command: list[str]
    exit_code: int
    stdout: str
    stderr: str
    records: list
    arrivals: dict  # event → seconds from launch to its first line (SPEC.md §6: rows flush every line)
    progress: list  # (seconds from launch, record) of each progress line on stderr, as it arrived
    wall_seconds: float
    peak_rss_mb: float
    errors: list = field(default_factory=list)  # what went wrong in on_record or a log file (see _pump)

    @property
    def error_line(self) -> str:
        """The row's last line on stderr that is not a progress line (SPEC.md §7: the error line is the last)."""
        lines = [line for line in self.stderr.splitlines() if line.strip() and not line.startswith(PROGRESS)]
        return lines[-1] if lines else ""

    def events(self, event: str) -> list[dict]:
        return [r for r in self.records if r["event"] == event]

    def last(self, event: str) -> dict:
        found = self.events(event)
        assert found, f"no event={event} line in stdout:\n{self.stdout}\nstderr:\n{self.stderr[-3000:]}"
        return found[-1]


PROGRESS = "event=progress "


def launch(project: Project, args, env: dict | None = None, cpus: set[int] | None = None,
           logs: Path | None = None, echo: Echo | None = None, on_record=None, timeout: float | None = None,
           signals: "_Signals | None" = None) -> Completed:
    """Start the row (already built) from the repository root with args, and wait for it: the one way rows run.

    The row's own variables (a variant's backend, row.toml `env`) come first; env adds variables to the
    row's environment (kernel family, thread counts, MNIST_RUN_DIR); cpus pins
    the row to those CPUs. logs, a folder, receives stdout.log and stderr.log line by line as they come;
    echo shows the lines live; on_record sees each parsed stdout log line as it arrives. After timeout
    seconds the row is killed and TimeoutError raised. Signals that come meanwhile are passed on (see
    _Signals); the caller raises Interrupted. Raises OSError when the row's program cannot start.
    """
    signals = signals or _Signals()
    command = project.argv(project.run_command) + [str(arg) for arg in args]
    environment = {**os.environ, **dict(project.env), **(env or {}), "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    arrivals, progress, errors, captured = {}, [], [], {"stdout": bytearray(), "stderr": bytearray()}

    callbacks = {"record": on_record, "progress": echo.progress if echo is not None else None}

    def call_back(kind: str, record: dict) -> None:
        """A caller's callback that fails is dropped (its error kept for the caller); the capture goes on."""
        if callbacks[kind] is not None:
            try:
                callbacks[kind](record)
            except Exception as error:
                errors.append(error)
                callbacks[kind] = None

    def on_line(stream: str, line: bytes) -> None:
        captured[stream] += line
        text = line.decode(errors="replace")
        if stream == "stdout":
            record = normalize.parse_line(text)
            if record is not None:
                arrivals.setdefault(record["event"], time.perf_counter() - started)
                call_back("record", record)
        elif text.startswith(PROGRESS):
            record = normalize.parse_line(text)
            if record is not None:
                progress.append((time.perf_counter() - started, record))
                call_back("progress", record)

    timed_out = []

    def kill() -> None:
        timed_out.append(True)
        _send(process.pid, signal.SIGKILL)  # not reaped before _wait returns, so the id is still this child's

    timer = threading.Timer(timeout, kill) if timeout else None
    files = {name: open(logs / f"{name}.log", "wb") if logs else None for name in ("stdout", "stderr")}
    try:
        pumps = [threading.Thread(target=_pump, args=(name, stream, files[name], echo, signals.came, on_line, errors))
                 for name, stream in (("stdout", process.stdout), ("stderr", process.stderr))]
        for pump in pumps:
            pump.start()
        if timer:
            timer.start()
        try:
            _, usage = _wait(process, signals)
        finally:
            if timer:
                timer.cancel()
            for pump in pumps:  # before the log files close: the pumps write to them until the row's end
                pump.join()
    finally:
        for file in files.values():
            if file is not None:
                file.close()
    wall_seconds = time.perf_counter() - started
    if timed_out:
        raise TimeoutError(f"{project.name} ran longer than {timeout:.0f} s and was killed: {' '.join(command)}")
    stdout = captured["stdout"].decode(errors="replace")
    return Completed(command, process.returncode, stdout, captured["stderr"].decode(errors="replace"),
                     normalize.parse_log(stdout), arrivals, progress, wall_seconds,
                     peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
                     errors=errors)  # left for the caller: run() records the run first, then raises the first


def _signalled_soon(quiet, within: float = 0.25) -> bool:
    """Whether a signal comes to the runner within a moment. Ctrl-C reaches the row and the runner at once,
    and on a busy machine the row can print its `error: interrupted` before the runner's own signal handler
    has run; an error line is a row's last, so it can wait that moment to be told apart (the runner echoed
    the row's line as well as printing its own once in about twenty runs of the test suite)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if quiet():
            return True
        time.sleep(0.01)
    return quiet()


def _pump(name: str, source, log, echo, quiet, on_line, errors: list) -> None:
    """Copy a child's stream line by line to its log file and to echo; on_line sees each line.

    The echo stops once quiet() (a signal came: what the row prints while it stops stays in the log).
    Whatever goes wrong, the stream is read to its end, so the row never blocks on a full pipe: a
    destination that fails is dropped, the others go on, and its error is left in errors for the caller.
    """
    with source:
        for line in iter(source.readline, b""):
            if log is not None:
                try:
                    log.write(line)
                    log.flush()
                except Exception as error:
                    errors.append(error)
                    log = None
            if echo is not None and not quiet() and not (line.startswith(b"error: ") and _signalled_soon(quiet)):
                try:
                    echo.line(name, line)
                except (OSError, ValueError):  # the terminal or pipe went away: the log goes on
                    echo = None
            if on_line is not None:
                try:
                    on_line(name, line)
                except Exception as error:
                    errors.append(error)
                    on_line = None


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"hostname": platform.node(), "os": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(memory_gib, 1)}


def run(project: Project, args: list[str], outputs: Path = OUTPUTS, echo: bool | Echo = True,
        on_record=None, env: dict | None = None, cpus: set[int] | None = None) -> tuple[Path, dict]:
    """Run a row with the contract's flags in args; returns its run directory and summary.

    echo: True shows the row's lines as they come (Echo), False nothing, or an Echo of the caller's
    (mnist_runner.display.Live). on_record, if given, is called with each parsed log line as it arrives
    (for progress displays). env adds variables to the row's environment (mnist_runner.kernels: kernel
    family, threads) and cpus pins the row to those CPUs.

    SIGINT (Ctrl-C) or SIGTERM while it runs: the row is stopped (the signal passed on if it did not
    get it), its output read to the end, the run recorded with status "interrupted", and then
    Interrupted is raised with the run directory and summary.
    """
    echo = Echo() if echo is True else echo or None
    with _Signals() as signals:
        run_dir, summary, errors = _run(project, args, outputs, echo, on_record, env, cpus, signals)
    if signals.signum is not None:
        raise Interrupted(signals.signum, project.name, run_dir, summary)
    if errors:
        raise errors[0]
    return run_dir, summary


def _run(project: Project, args: list[str], outputs: Path, echo: Echo | None, on_record, env: dict | None,
         cpus: set[int] | None, signals: _Signals) -> tuple[Path, dict, list]:
    run_dir = new_run_dir(project.name, outputs)
    missing = project.missing()
    if missing:
        return *_record_failure(project, run_dir, f"not installed ({missing[0]} is missing): "
                                                  f"run `invoke setup --project {project.name}`"), []
    error = build(project, run_dir / "build.log", signals)
    if signals.signum is not None:
        return *_record_failure(project, run_dir, f"interrupted by {signals.name} during the build",
                                interrupted=signals.name), []
    if error:
        return *_record_failure(project, run_dir, error), []
    if "--save" not in args:
        args = [*args, "--save", str(run_dir / "weights.safetensors")]
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        completed = launch(project, args, env={**(env or {}), "MNIST_RUN_DIR": str(run_dir)}, cpus=cpus,
                           logs=run_dir, echo=echo, on_record=on_record, signals=signals)
    except OSError as error:
        command = project.argv(project.run_command)
        return *_record_failure(project, run_dir, f"{command[0]} could not start ({error.strerror})"), []
    with open(run_dir / "metrics.jsonl", "w") as metrics_file:
        for row in normalize.metrics(completed.records):
            metrics_file.write(json.dumps(row) + "\n")
    summary = normalize.summarize(completed.records, completed.exit_code, completed.stderr, interrupted=signals.name)
    # Seen from outside: launch → `start` is start-up (runtime, imports); launch → the last line before
    # the first training step (`warmup`, else `data`) is the time to first step.
    arrivals = completed.arrivals
    first_step = arrivals.get("warmup", arrivals.get("data"))
    summary.update(started_at=started_at, wall_seconds=round(completed.wall_seconds, 3),
                   startup_seconds=round(arrivals["start"], 3) if "start" in arrivals else None,
                   time_to_first_step=round(first_step, 3) if first_step is not None and summary["epochs_completed"]
                   else None,
                   peak_rss_mb=completed.peak_rss_mb, command=completed.command)
    return *_finish(project, run_dir, summary), completed.errors


class RowError(Exception):
    """A row could not answer: not installed, failed to build, or exited with an error."""


def call(project: Project, args: list[str], env: dict | None = None) -> str:
    """Run a row for its answer alone (predictions, cross-evaluation): built, from the root, stdout returned.

    env adds variables (the bench's kernel family). Raises RowError with the row's own error line when it
    fails, and Interrupted (run_dir None) when SIGINT or SIGTERM stopped it.
    """
    missing = project.missing()
    if missing:
        raise RowError(f"{project.name} is not installed ({missing[0]} is missing): "
                       f"run `invoke setup --project {project.name}`")
    with _Signals() as signals:
        stdout, error = _call(project, args, env, signals)
    if signals.signum is not None:
        raise Interrupted(signals.signum, project.name)
    if error:
        raise RowError(error)
    return stdout


def _call(project: Project, args: list[str], env: dict | None, signals: _Signals) -> tuple[str, str | None]:
    with tempfile.NamedTemporaryFile(prefix=f"build-{project.name}-", suffix=".log", delete=False) as log_file:
        build_log = Path(log_file.name)
    error = build(project, build_log, signals)
    if error:
        return "", f"{project.name}: {error}"
    build_log.unlink()
    if signals.signum is not None:
        return "", None
    try:
        completed = launch(project, args, env=env, signals=signals)
    except OSError as error:
        return "", f"{project.name}: {project.argv(project.run_command)[0]} could not start ({error.strerror})"
    if completed.exit_code != 0:
        return completed.stdout, f"{project.name}: {completed.error_line or f'exited with status {completed.exit_code}'}"
    return completed.stdout, None


def _record_failure(project: Project, run_dir: Path, error: str, interrupted: str | None = None) -> tuple[Path, dict]:
    for stream in ("stdout.log", "stderr.log", "metrics.jsonl"):
        (run_dir / stream).touch()
    summary = normalize.summarize([], exit_code=-1, stderr=error, interrupted=interrupted)
    summary["error"] = error
    return _finish(project, run_dir, summary)


def _finish(project: Project, run_dir: Path, summary: dict) -> tuple[Path, dict]:
    summary = {"project": project.name, "title": project.title, "run_id": run_dir.name, **summary,
               "machine": machine()}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    point_latest(run_dir)
    return run_dir, summary


def latest_summary(project: str, outputs: Path = OUTPUTS) -> dict | None:
    path = outputs / project / "latest" / "summary.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_all(projects: list[Project], args: list[str], outputs: Path = OUTPUTS, log=print,
            echo: bool = True) -> list[tuple[Path, dict]]:
    """Run each row in turn; a failing row is recorded as failed and the rest still run.

    An interrupted row (Interrupted) stops it: the rows after it do not start.
    """
    results = []
    for project in projects:
        log(f"== run {project.name} {' '.join(args)}")
        if echo and sys.stderr.isatty():  # a person watching: the progress lines as a live bar
            from mnist_runner.display import Live

            with Live(project.name) as live:
                run_dir, summary = run(project, args, outputs, live)
        else:
            run_dir, summary = run(project, args, outputs, echo)
        where = run_dir.relative_to(outputs.parent) if outputs.parent in run_dir.parents else run_dir
        if summary["status"] == "ok":
            log(f"== {project.name}: test accuracy {summary['test_accuracy'] * 100:.2f} %, "
                f"{summary['seconds_per_epoch'] or 0:.2f} s/epoch → {where}")
        else:
            log(f"== {project.name}: FAILED: {summary['error']} → {where}")
        results.append((run_dir, summary))
    return results
