"""Run one row: build it, run it from the repository root, keep its streams and results.

Each run gets a fresh outputs/<row>/<run-id>/ that is never reused; outputs/<row>/latest
points at the newest one.
"""

import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
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


def build(project: Project, build_log: Path) -> str | None:
    """Run the row's build steps (incremental, so quick when up to date); returns an error or None."""
    if not project.build_commands:
        return None
    with open(build_log, "ab") as log_file:
        for command in project.build_commands:
            argv = project.argv(command)
            try:
                result = subprocess.run(argv, cwd=project.directory, stdout=log_file, stderr=subprocess.STDOUT)
            except OSError as error:
                return f"build step {argv[0]} could not start ({error.strerror}): run `invoke setup --project {project.name}`"
            if result.returncode != 0:
                return f"build step `{' '.join(argv)}` failed with status {result.returncode} (see {build_log})"
    return None


def _pump(source, sinks, on_line=None) -> None:
    """Copy a child's stream line by line to its log file and, live, to the terminal; on_line sees each line."""
    for line in iter(source.readline, b""):
        for sink in sinks:
            sink.write(line)
            sink.flush()
        if on_line is not None:
            on_line(line.decode(errors="replace"))
    source.close()


def _arrival_watcher(started: float, arrivals: dict, on_record=None):
    """Timestamps each event's first log line as it arrives (SPEC.md §6: rows flush every line)."""
    def watch(line: str) -> None:
        record = normalize.parse_line(line)
        if record is None:
            return
        arrivals.setdefault(record["event"], time.perf_counter() - started)
        if on_record is not None:
            on_record(record)
    return watch


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


def run(project: Project, args: list[str], outputs: Path = OUTPUTS, echo: bool = True,
        on_record=None, env: dict | None = None, cpus: set[int] | None = None) -> tuple[Path, dict]:
    """Run a row with the contract's flags in args; returns its run directory and summary.

    on_record, if given, is called with each parsed log line as it arrives (for progress displays).
    env adds variables to the row's environment (mnist_runner.kernels: kernel family, threads) and
    cpus pins the row to those CPUs.
    """
    run_dir = new_run_dir(project.name, outputs)
    missing = project.missing()
    if missing:
        return _record_failure(project, run_dir, f"not installed ({missing[0]} is missing): "
                                                 f"run `invoke setup --project {project.name}`")
    error = build(project, run_dir / "build.log")
    if error:
        return _record_failure(project, run_dir, error)
    if "--save" not in args:
        args = [*args, "--save", str(run_dir / "weights.safetensors")]
    command = project.argv(project.run_command) + list(args)
    environment = {**os.environ, **project.env(), **(env or {}), "MNIST_RUN_DIR": str(run_dir),
                   "PYTHONUNBUFFERED": "1"}
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    try:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    except OSError as error:
        return _record_failure(project, run_dir, f"{command[0]} could not start ({error.strerror})")
    arrivals = {}
    with open(run_dir / "stdout.log", "wb") as out_log, open(run_dir / "stderr.log", "wb") as err_log:
        terminal = [sys.stdout.buffer] if echo else []
        watch = _arrival_watcher(started, arrivals, on_record)
        pumps = [threading.Thread(target=_pump, args=(process.stdout, [out_log, *terminal], watch)),
                 threading.Thread(target=_pump, args=(process.stderr, [err_log, *([sys.stderr.buffer] if echo else [])]))]
        for pump in pumps:
            pump.start()
        # wait4 gives this child's own resource usage, peak RSS included.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        for pump in pumps:
            pump.join()
    wall_seconds = time.perf_counter() - started

    stdout = (run_dir / "stdout.log").read_text(errors="replace")
    stderr = (run_dir / "stderr.log").read_text(errors="replace")
    records = normalize.parse_log(stdout)
    with open(run_dir / "metrics.jsonl", "w") as metrics_file:
        for row in normalize.metrics(records):
            metrics_file.write(json.dumps(row) + "\n")
    summary = normalize.summarize(records, process.returncode, stderr)
    # Seen from outside: launch → `start` is start-up (runtime, imports); launch → the last line before
    # the first training step (`warmup`, else `data`) is the time to first step.
    first_step = arrivals.get("warmup", arrivals.get("data"))
    summary.update(started_at=started_at, wall_seconds=round(wall_seconds, 3),
                   startup_seconds=round(arrivals["start"], 3) if "start" in arrivals else None,
                   time_to_first_step=round(first_step, 3) if first_step is not None and summary["epochs_completed"]
                   else None,
                   peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
                   command=command)
    return _finish(project, run_dir, summary)


class RowError(Exception):
    """A row could not answer: not installed, failed to build, or exited with an error."""


def call(project: Project, args: list[str], env: dict | None = None) -> str:
    """Run a row for its answer alone (predictions, cross-evaluation): built, from the root, stdout returned.

    Raises RowError with the row's own error line when it fails.
    """
    missing = project.missing()
    if missing:
        raise RowError(f"{project.name} is not installed ({missing[0]} is missing): "
                       f"run `invoke setup --project {project.name}`")
    with tempfile.NamedTemporaryFile(prefix=f"build-{project.name}-", suffix=".log", delete=False) as log_file:
        build_log = Path(log_file.name)
    error = build(project, build_log)
    if error:
        raise RowError(f"{project.name}: {error}")
    build_log.unlink()
    environment = {**os.environ, **project.env(), **(env or {}), "PYTHONUNBUFFERED": "1"}
    command = project.argv(project.run_command) + [str(arg) for arg in args]
    try:
        completed = subprocess.run(command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True)
    except OSError as error:
        raise RowError(f"{project.name}: {command[0]} could not start ({error.strerror})") from None
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.splitlines() if line.strip()]
        raise RowError(f"{project.name}: {lines[-1] if lines else f'exited with status {completed.returncode}'}")
    return completed.stdout


def _record_failure(project: Project, run_dir: Path, error: str) -> tuple[Path, dict]:
    for stream in ("stdout.log", "stderr.log", "metrics.jsonl"):
        (run_dir / stream).touch()
    summary = normalize.summarize([], exit_code=-1, stderr=error)
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
    """Run each row in turn; a failing row is recorded as failed and the rest still run."""
    results = []
    for project in projects:
        log(f"== run {project.name} {' '.join(args)}")
        run_dir, summary = run(project, args, outputs, echo)
        where = run_dir.relative_to(outputs.parent) if outputs.parent in run_dir.parents else run_dir
        if summary["status"] == "ok":
            log(f"== {project.name}: test accuracy {summary['test_accuracy'] * 100:.2f} %, "
                f"{summary['seconds_per_epoch'] or 0:.2f} s/epoch → {where}")
        else:
            log(f"== {project.name}: FAILED: {summary['error']} → {where}")
        results.append((run_dir, summary))
    return results
