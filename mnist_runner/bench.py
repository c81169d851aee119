"""invoke bench: every installed row with the contract's defaults, one after another, measured the same way.

A benchmark is three passes over the rows, all into outputs/bench/<run-id>/:

1. training: each row `--repeat` times, round-robin (row 1, row 2, …, then again), so slow drift
   of the machine spreads over every row. Each run is an ordinary runner run (executor.run) with its
   own folder, logs, summary and weights.
2. predictions: each row classifies the test set with its own weights (`--predict`), for the
   confusion matrices and the grid of test images.
3. cross-evaluation: each row classifies the test set with every other row's weights; the cells
   are equal when the rows compute the same function.

results.json holds everything the report and the README's results table are drawn from, and what
explains the numbers: the CPU and its instruction sets, what runs each row's matrix products and the
kernels it loaded (row.toml [kernels]; OpenBLAS says so under OPENBLAS_VERBOSE=2), the thread settings, each row's language and framework
versions, and how quiet the machine was. Medians are the headline; a row whose repeats disagree
(different results from the same seed, or seconds per epoch spread by more than DISAGREE) is marked.
"""

import json
import os
import platform
import resource
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pygount import SourceAnalysis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnist_common.data import FILES, parse_idx_labels, read_gz
from mnist_runner import executor, kernels, normalize
from mnist_runner.registry import Project

SCHEMA = 2
# A row's repeats disagree when their seconds per epoch spread (max − min, over the median) by more than
# DISAGREE and by more than twice the benchmark's typical spread: on a VM whose clock drifts every row
# moves by 10-20 % between repeats, and that is the machine, not the row.
DISAGREE = 0.10
BUSY_LOAD = 0.5  # a 1-minute load average above this, before the benchmark starts, means something else runs
# The CPU time the whole machine spent (/proc/stat) beyond what the benchmark's own processes used
# (getrusage), as a share of the CPU time there was: above this, something else ran during the benchmark.
BUSY_FOREIGN = 0.05
PUBLISH_REPEATS = 3
REFERENCE = "pytorch"  # speeds are also given relative to this row of the same benchmark
METRICS = ("test_accuracy", "test_loss", "seconds_per_epoch", "samples_per_second", "gflop_per_second", "startup_seconds",
           "time_to_first_step", "warmup_seconds", "data_seconds", "test_seconds", "peak_rss_mb", "wall_seconds")
NASM_INCLUDE = ".inc"  # pygount guesses .inc is POV-Ray; in this repository it is always NASM


def lines_of_code(project: Project) -> dict:
    """Code and comment lines (pygount) of what a reader reads as the row (row.toml `sources`), and apart
    from them of the language's contract library files it uses (row.toml `contract`): like with like."""
    return {**_count(project, project.sources), "contract": _count(project, project.contract)}


def _count(project: Project, names: tuple[str, ...]) -> dict:
    code = comments = 0
    for name in names:
        path = project.directory / name
        label = f"{path}.asm" if path.suffix == NASM_INCLUDE else str(path)
        with open(path, "rb") as handle:
            analysis = SourceAnalysis.from_file(label, project.name, encoding="utf-8", file_handle=handle)
        code += analysis.code_count
        comments += analysis.documentation_count
    return {"code": code, "comments": comments, "files": len(names)}


def _stats(values: list[float]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    median = statistics.median(values)
    return {"median": median, "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values),
            "spread": (max(values) - min(values)) / median if median else 0.0, "n": len(values)}


def disagreement(runs: list[dict], typical_spread: float = 0.0) -> str | None:
    """Why a row's repeats do not agree, or None: one seed must give one result, and times that spread
    no more than the benchmark's rows typically do (typical_spread, the median of their spreads)."""
    ok = [r for r in runs if r["status"] == "ok"]
    if len(ok) < 2:
        return None
    reasons = []
    accuracies = {r["test_accuracy"] for r in ok}
    if len(accuracies) > 1:
        reasons.append(f"test accuracy differs between repeats of one seed "
                       f"({', '.join(f'{a * 100:.2f} %' for a in sorted(accuracies))})")
    speed = _stats([r["seconds_per_epoch"] for r in ok])
    if speed and speed["spread"] > max(DISAGREE, 2 * typical_spread):
        reasons.append(f"seconds per epoch spread {speed['spread'] * 100:.0f} % "
                       f"({speed['min']:.2f}–{speed['max']:.2f}), the rows' median spread is "
                       f"{typical_spread * 100:.0f} %")
    return "; ".join(reasons) or None


def cpu_seconds() -> dict:
    """CPU seconds so far: the whole machine's busy and stolen time (/proc/stat), and this process's and
    its children's (getrusage: every row run and build the benchmark waited for)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    own = sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))
    return {"machine": (user + nice + system + irq + softirq) / tick, "stolen": steal / tick, "own": own,
            "wall": time.monotonic()}


def quietness(load_before: float, rows: dict, before: dict | None = None, after: dict | None = None) -> dict:
    """Was the machine quiet? The load before the start, and CPU time used by anything but the benchmark.

    The reference row's spread is reported too: it shows drift of the machine's speed, which the
    interleaved repeats spread over every row, and is not by itself a sign of another load.
    """
    reasons = []
    if load_before > BUSY_LOAD:
        reasons.append(f"1-minute load average {load_before:.2f} before the start (more than {BUSY_LOAD})")
    foreign = stolen = None
    if before and after:
        capacity = (after["wall"] - before["wall"]) * len(os.sched_getaffinity(0))
        used = after["machine"] - before["machine"]
        foreign = max(0.0, used - (after["own"] - before["own"])) / capacity if capacity > 0 else 0.0
        stolen = (after["stolen"] - before["stolen"]) / capacity if capacity > 0 else 0.0
        if foreign > BUSY_FOREIGN:
            reasons.append(f"{foreign * 100:.0f} % of the CPU time went to other processes during the benchmark "
                           f"(more than {BUSY_FOREIGN * 100:.0f} %)")
        if stolen > BUSY_FOREIGN:
            reasons.append(f"the hypervisor took {stolen * 100:.0f} % of the CPU time (steal)")
    reference = rows.get(REFERENCE, {}).get("stats", {}).get("seconds_per_epoch")
    return {"load_before": load_before, "foreign_cpu_share": foreign, "stolen_cpu_share": stolen,
            "reference_spread": reference["spread"] if reference else None, "busy": bool(reasons),
            "reasons": reasons}


def _test_labels(data_root: Path, dataset: str) -> tuple[Path, np.ndarray]:
    folder = data_root / dataset
    labels = folder / FILES["test_labels"]
    return folder / FILES["test_images"], parse_idx_labels(read_gz(labels), str(labels))


def predict_classes(project: Project, weights: Path, images: Path, env: dict | None = None) -> np.ndarray:
    """The row's class for each image of an IDX file, with these weights (SPEC.md `--predict`)."""
    records = normalize.parse_log(executor.call(project, ["--load", weights, "--predict", images], env=env))
    return np.array([r["class"] for r in records if r["event"] == "predict"], dtype=np.int64)


def _curves(run_dir: Path) -> list[dict]:
    records = normalize.parse_log((run_dir / "stdout.log").read_text(errors="replace"))
    keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")
    return [{key: r.get(key) for key in keys} for r in records if r["event"] == "epoch"]


class _Display:
    """rich progress: one bar for the whole benchmark, one for the current row's epochs."""

    def __init__(self, total: int, console: Console):
        self.progress = Progress(TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=False)
        self.overall = self.progress.add_task("benchmark", total=total)
        self.current = self.progress.add_task("", total=1, visible=False)

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def begin(self, description: str, steps: int) -> None:
        self.progress.update(self.current, description=description, total=max(steps, 1), completed=0, visible=True)
        if not self.progress.console.is_terminal:  # a log file or CI: no live bars, so one line per step
            done = int(self.progress.tasks[self.overall].completed)
            self.progress.console.print(f"[{done + 1}/{int(self.progress.tasks[self.overall].total)}] {description}")

    def step(self) -> None:
        self.progress.advance(self.current)

    def done(self, message: str | None = None) -> None:
        self.progress.update(self.current, visible=False)
        self.progress.advance(self.overall)
        if message:
            self.progress.console.print(message)


def _epochs(args: list[str]) -> int:
    return int(args[args.index("--epochs") + 1]) if "--epochs" in args else 5


def run(projects: list[Project], args: list[str], repeat: int, data_root: Path, outputs: Path = executor.OUTPUTS,
        cross: bool = True, console: Console | None = None, command: str = "invoke bench",
        family: str = "native") -> Path:
    """Benchmark the rows; returns the path of results.json.

    family picks the kernel family (mnist_runner.kernels): native, or avx2 to run what an AVX2 machine runs.
    """
    console = console or Console(stderr=True)
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds()
    # The libraries' own thread defaults (every core), as a user runs them; OpenBLAS names its kernels.
    environment = {**kernels.family_env(family), "OPENBLAS_VERBOSE": "2"}
    bench_dir = executor.new_run_dir("bench", outputs)
    dataset = args[args.index("--dataset") + 1] if "--dataset" in args else "mnist"
    row_args = args if "--data-dir" in args else [*args, "--data-dir", str(data_root)]
    test_images, test_labels = _test_labels(data_root, dataset)
    installed = [p for p in projects if p.installed]
    rows = {p.name: {"project": p.name, "title": p.title, "language_family": p.language,
                     "status": "ok" if p.installed else "not installed",
                     "error": None if p.installed else f"not installed: run `invoke setup --project {p.name}`",
                     "loc": lines_of_code(p), "runs": []} for p in projects}
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    evaluations = len(installed) ** 2 if cross else len(installed)
    names, classified = [], {}  # (evaluator, owner of the weights) → the evaluator's class for every test image
    interrupted = None
    with _Display(repeat * len(installed) + evaluations, console) as display:
        try:
            # 1. training, round-robin
            for attempt in range(1, repeat + 1):
                for project in installed:
                    display.begin(f"{project.name} run {attempt}/{repeat}", _epochs(args))
                    run_dir, summary = executor.run(
                        project, row_args, outputs=bench_dir, echo=False, env=environment,
                        on_record=lambda record: display.step() if record["event"] == "epoch" else None)
                    summary["run_dir"] = str(run_dir.relative_to(bench_dir))
                    summary["kernels"] = kernels.loaded(project.kernel_report,
                                                        (run_dir / "stderr.log").read_text(errors="replace"))
                    rows[project.name]["runs"].append(summary)
                    display.done(None if summary["status"] == "ok" else f"[red]{project.name}: {summary['error']}")
            # 2. and 3. each row classifies the test set with its own weights and, for the cross matrix, everyone's
            trained = [p for p in installed if any(r["status"] == "ok" for r in rows[p.name]["runs"])]
            weights = {p.name: bench_dir / next(r["run_dir"] for r in rows[p.name]["runs"] if r["status"] == "ok")
                       / "weights.safetensors" for p in trained}
            names = [p.name for p in trained]
            classified = {}  # (evaluator, owner of the weights) → the evaluator's class for every test image
            for i, evaluator in enumerate(trained):
                for j, owner in enumerate(names):
                    if i != j and not cross:
                        continue
                    display.begin(f"{evaluator.name} classifies {owner}'s weights", 1)
                    message = None
                    try:
                        classes = predict_classes(evaluator, weights[owner], test_images, kernels.family_env(family))
                        if len(classes) != len(test_labels):
                            raise executor.RowError(f"{evaluator.name}: {len(classes)} predictions for "
                                                    f"{len(test_labels)} test images")
                        classified[evaluator.name, owner] = classes
                    except executor.RowError as error:
                        message = f"[red]{error}"
                    display.done(message)
        except executor.Interrupted as error:  # Ctrl-C or SIGTERM: record what was measured, say so, stop
            interrupted = error
            if error.summary is not None and error.run_dir is not None and error.project in rows:
                rows[error.project]["runs"].append({**error.summary,
                                                    "run_dir": str(error.run_dir.relative_to(bench_dir))})
    own = {owner: classified[owner, owner] for owner in names if (owner, owner) in classified}
    accuracy = [[float(np.mean(classified[e, o] == test_labels)) if (e, o) in classified else None for o in names]
                for e in names]
    agreement = [[float(np.mean(classified[e, o] == own[o])) if (e, o) in classified and o in own else None
                  for o in names] for e in names]

    reference_speed = None
    for project in projects:
        row = rows[project.name]
        ok = [r for r in row["runs"] if r["status"] == "ok"]
        if row["runs"] and not ok:
            row["status"], row["error"] = "failed", row["runs"][-1]["error"]
        elif row["runs"] and len(ok) < len(row["runs"]):
            row["error"] = f"{len(row['runs']) - len(ok)} of {len(row['runs'])} runs failed"
        row["stats"] = {metric: _stats([r.get(metric) for r in ok]) for metric in METRICS}
        if ok:
            loaded = sorted({r["kernels"] for r in ok if r.get("kernels")})
            row.update(language=ok[0]["language"], framework=ok[0]["framework"], device=ok[0]["device"],
                       kernels={"library": project.kernel_library, "loaded": ", ".join(loaded) or None},
                       curves=_curves(bench_dir / ok[0]["run_dir"]))
        if project.name in own:
            classes = own[project.name]
            confusion = np.zeros((10, 10), dtype=int)
            np.add.at(confusion, (test_labels, classes), 1)
            row.update(predictions="".join(map(str, classes)), confusion=confusion.tolist())
        if project.name == REFERENCE and row["stats"]["seconds_per_epoch"]:
            reference_speed = row["stats"]["seconds_per_epoch"]["median"]
    spreads = [row["stats"]["seconds_per_epoch"]["spread"] for row in rows.values()
               if row["stats"]["seconds_per_epoch"] and row["stats"]["seconds_per_epoch"]["n"] > 1]
    typical_spread = statistics.median(spreads) if spreads else 0.0
    for row in rows.values():
        speed = row["stats"]["seconds_per_epoch"]
        row["relative_seconds_per_epoch"] = speed["median"] / reference_speed if speed and reference_speed else None
        row["disagreement"] = disagreement(row["runs"], typical_spread)

    machine = {**executor.machine(), "python": platform.python_version(), "isa": kernels.isa(),
               "physical_cores": kernels.physical_cores(), "cpu_mhz": kernels.cpu_mhz(),
               "load_after": os.getloadavg()[0]}
    # The fp32 peak of the kernels this run used, which every row's gflop_per_second is a share of.
    peak = kernels.peak(family, machine["isa"], machine["physical_cores"], machine["cpu_mhz"])
    machine.update(peak_gflop_per_second=peak and peak["gflop_per_second"], peak=peak and peak["how"])
    results = {
        "schema": SCHEMA,
        "id": bench_dir.name,
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "args": args,
        "repeat": repeat,
        "dataset": dataset,
        "reference": REFERENCE,
        "machine": machine,
        "kernel_family": family,
        "threads": f"each library's default: all {len(os.sched_getaffinity(0))} CPUs",
        "quiet": quietness(load_before, rows, cpu_before, cpu_seconds()),
        "typical_spread": typical_spread,
        "interrupted": None if interrupted is None else
        f"interrupted by {interrupted.signal_name} while running {interrupted.project}: incomplete",
        "rows": [rows[p.name] for p in projects],
        "cross": {"rows": names, "accuracy": accuracy, "agreement": agreement},
    }
    path = bench_dir / "results.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    executor.point_latest(bench_dir)
    if interrupted is not None:
        interrupted.context = f"the benchmark so far is in {path} (marked interrupted)"
        raise interrupted
    return path


def merge(published: dict, added: dict, order: list[str]) -> dict:
    """The published benchmark with rows measured in a later, smaller benchmark put in (added or replaced).

    A new row costs one short benchmark, not a republication of every row: `invoke bench --publish
    --project NAME` measures the row beside the reference row (PyTorch), in one interleaved run with the
    same repeats and quiet-machine checks, and puts it into results/bench.json. Its × PyTorch is from that
    run (a ratio within one run on one machine); its seconds are that machine's, so the row carries
    `measured_in` (which run, which machine, the reference's seconds there) and the tables mark it. Its cross
    cells are those of that run (with PyTorch); the others stay empty until the next full benchmark."""
    if added.get("reference") != REFERENCE or added.get("args") != [] or added.get("kernel_family") != \
            published.get("kernel_family"):
        raise ValueError("the added benchmark must use the contract's defaults and the published kernel family")
    by_name = {row["project"]: row for row in added["rows"]}
    reference = by_name.get(REFERENCE)
    if reference is None or not reference["stats"].get("seconds_per_epoch"):
        raise ValueError(f"the added benchmark has no {REFERENCE} row to relate its rows to")
    merged = json.loads(json.dumps(published))
    rows = {row["project"]: row for row in merged["rows"]}
    measured_in = {"id": added["id"], "started_at": added["started_at"], "command": added["command"],
                   "repeat": added["repeat"], "machine": added["machine"], "quiet": added["quiet"],
                   "reference_seconds_per_epoch": reference["stats"]["seconds_per_epoch"]["median"]}
    new = [name for name in by_name if name != REFERENCE]
    for name in new:
        rows[name] = {**by_name[name], "measured_in": measured_in}
    merged["rows"] = [rows[name] for name in order if name in rows]
    earlier = [{**addition, "rows": [name for name in addition["rows"] if name not in new]}
               for addition in published.get("additions", [])]  # a row measured again is this run's now
    merged["additions"] = [*(addition for addition in earlier if addition["rows"]),
                           {key: measured_in[key] for key in ("id", "started_at", "command", "repeat", "quiet")}
                           | {"rows": new}]
    # The cross matrix grows by the new rows; its cells are the added run's where it has them.
    old_names, old = published["cross"]["rows"], published["cross"]
    names = [name for name in order if name in old_names or name in new]
    cross_names = added["cross"]["rows"]

    def cell(kind: str, evaluator: str, owner: str):
        if evaluator in new or owner in new:
            if evaluator in cross_names and owner in cross_names:
                return added["cross"][kind][cross_names.index(evaluator)][cross_names.index(owner)]
            return None
        if evaluator in old_names and owner in old_names:
            return old[kind][old_names.index(evaluator)][old_names.index(owner)]
        return None

    merged["cross"] = {"rows": names, **{kind: [[cell(kind, e, o) for o in names] for e in names]
                                         for kind in ("accuracy", "agreement")}}
    return merged
