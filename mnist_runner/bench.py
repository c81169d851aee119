"""invoke bench: every installed row with the contract's defaults, one after another, measured the same way.

A benchmark is three passes over the rows, all into outputs/bench/<run-id>/:

1. training: each row `--repeat` times, round-robin (row 1, row 2, …, then again), so slow drift
   of the machine spreads over every row. Each run is an ordinary runner run (executor.run) with its
   own folder, logs, summary and weights.
2. predictions: each row classifies the test set with its own weights (`--predict`), for the
   confusion matrices and the grid of test images.
3. cross-evaluation: each row classifies the test set with every other row's weights; the cells
   are equal when the rows compute the same function.

results.json holds everything the report and the README's results table are drawn from.
"""

import gzip
import json
import platform
import statistics
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from pygount import SourceAnalysis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnist_runner import executor, normalize
from mnist_runner.registry import Project

SCHEMA = 1
REFERENCE = "pytorch"  # speeds are also given relative to this row of the same benchmark
METRICS = ("test_accuracy", "test_loss", "seconds_per_epoch", "samples_per_second", "startup_seconds",
           "time_to_first_step", "warmup_seconds", "data_seconds", "test_seconds", "peak_rss_mb", "wall_seconds")
NASM_INCLUDE = ".inc"  # pygount guesses .inc is POV-Ray; in this repository it is always NASM


def lines_of_code(project: Project) -> dict:
    """Code and comment lines of the row's own source files (row.toml `sources`), counted by pygount."""
    code = comments = 0
    for name in project.sources:
        path = project.directory / name
        label = f"{path}.asm" if path.suffix == NASM_INCLUDE else str(path)
        with open(path, "rb") as handle:
            analysis = SourceAnalysis.from_file(label, project.name, encoding="utf-8", file_handle=handle)
        code += analysis.code_count
        comments += analysis.documentation_count
    return {"code": code, "comments": comments, "files": len(project.sources)}


def _stats(values: list[float]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def _test_labels(data_root: Path, dataset: str) -> tuple[Path, np.ndarray]:
    folder = data_root / dataset
    labels = gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes())
    return folder / "t10k-images-idx3-ubyte.gz", np.frombuffer(labels, np.uint8, offset=8)


def predict_classes(project: Project, weights: Path, images: Path) -> np.ndarray:
    """The row's class for each image of an IDX file, with these weights (SPEC.md `--predict`)."""
    records = normalize.parse_log(executor.call(project, ["--load", weights, "--predict", images]))
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
        cross: bool = True, console: Console | None = None, command: str = "invoke bench") -> Path:
    """Benchmark the rows; returns the path of results.json."""
    console = console or Console(stderr=True)
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
    with _Display(repeat * len(installed) + evaluations, console) as display:
        # 1. training, round-robin
        for attempt in range(1, repeat + 1):
            for project in installed:
                display.begin(f"{project.name} run {attempt}/{repeat}", _epochs(args))
                run_dir, summary = executor.run(
                    project, row_args, outputs=bench_dir, echo=False,
                    on_record=lambda record: display.step() if record["event"] == "epoch" else None)
                summary["run_dir"] = str(run_dir.relative_to(bench_dir))
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
                    classes = predict_classes(evaluator, weights[owner], test_images)
                    if len(classes) != len(test_labels):
                        raise executor.RowError(f"{evaluator.name}: {len(classes)} predictions for "
                                                f"{len(test_labels)} test images")
                    classified[evaluator.name, owner] = classes
                except executor.RowError as error:
                    message = f"[red]{error}"
                display.done(message)
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
            row.update(language=ok[0]["language"], framework=ok[0]["framework"], device=ok[0]["device"],
                       curves=_curves(bench_dir / ok[0]["run_dir"]))
        if project.name in own:
            classes = own[project.name]
            confusion = np.zeros((10, 10), dtype=int)
            np.add.at(confusion, (test_labels, classes), 1)
            row.update(predictions="".join(map(str, classes)), confusion=confusion.tolist())
        if project.name == REFERENCE and row["stats"]["seconds_per_epoch"]:
            reference_speed = row["stats"]["seconds_per_epoch"]["mean"]
    for row in rows.values():
        speed = row["stats"]["seconds_per_epoch"]
        row["relative_seconds_per_epoch"] = speed["mean"] / reference_speed if speed and reference_speed else None

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
        "machine": {**executor.machine(), "python": platform.python_version()},
        "rows": [rows[p.name] for p in projects],
        "cross": {"rows": names, "accuracy": accuracy, "agreement": agreement},
    }
    path = bench_dir / "results.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    executor.point_latest(bench_dir)
    return path
