"""invoke spread: how far a correct row's result moves with the seed, the kernel family and the thread count.

The contract's accuracy bar (SPEC.md §3) must sit below what any correct row reaches by chance.
This measures that chance: every chosen row with the contract's defaults, once per (seed, kernel
family, thread count), each an ordinary runner run under outputs/spread/<id>/. results.json keeps
every run's test accuracy, its per-epoch validation losses and the SHA-256 of its weights;
`--publish` merges them into results/spread.json (a later run of the same row, seed and
configuration replaces the earlier one, so the data can be gathered in pieces) and regenerates
the tables of results/accuracy.md, which explains the bar.
"""

import hashlib
import json
import math
import os
import queue
import statistics
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from mnist_runner import ROOT, executor, kernels, normalize
from mnist_runner.registry import Project

PUBLISHED = ROOT / "results" / "spread.json"
DOCUMENT = ROOT / "results" / "accuracy.md"
BEGIN, END = "<!-- spread:begin", "<!-- spread:end -->"


def configurations(families: list[str], threads: list[str]) -> list[dict]:
    """Every (kernel family, thread count) pair; threads is "all" (the default) or "1"."""
    return [{"family": family, "threads": count} for family in families for count in threads]


def _one(project: Project, seed: int, config: dict, folder: Path, data_root: Path, free_cpus: queue.Queue) -> dict:
    env = {**kernels.family_env(config["family"]), "OPENBLAS_VERBOSE": "2"}
    cpu = None
    if config["threads"] == "1":
        env.update(kernels.thread_env(1))
        cpu = free_cpus.get()
    try:
        run_dir, summary = executor.run(project, ["--seed", str(seed), "--data-dir", str(data_root)],
                                        outputs=folder, echo=False, env=env, cpus={cpu} if cpu is not None else None)
    finally:
        if cpu is not None:
            free_cpus.put(cpu)
    records = normalize.parse_log((run_dir / "stdout.log").read_text(errors="replace"))
    weights = run_dir / "weights.safetensors"
    return {"row": project.name, "seed": seed, **config, "status": summary["status"], "error": summary["error"],
            "test_accuracy": summary["test_accuracy"], "test_loss": summary["test_loss"],
            "val_losses": [r["val_loss"] for r in records if r["event"] == "epoch"],
            "kernels": kernels.loaded(project.kernel_report, (run_dir / "stderr.log").read_text(errors="replace")),
            "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest() if weights.is_file() else None,
            "seconds_per_epoch": summary["seconds_per_epoch"], "run_dir": str(run_dir.relative_to(folder))}


def run(projects: list[Project], seeds: list[int], configs: list[dict], data_root: Path, jobs: int = 1,
        outputs: Path = executor.OUTPUTS, log=print) -> Path:
    """Run every (row, seed, configuration); returns the path of results.json."""
    folder = executor.new_run_dir("spread", outputs)
    free_cpus = queue.Queue()
    for cpu in sorted(os.sched_getaffinity(0)):
        free_cpus.put(cpu)
    # Seed by seed, so that a measurement stopped early still covers every row and configuration evenly.
    work = [(p, s, c) for s in seeds for p in projects for c in configs]
    runs, lock = [], threading.Lock()
    path = folder / "results.json"
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def save() -> None:  # after every run, so an interrupted measurement keeps what it measured
        results = {"id": folder.name, "started_at": started,
                   "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "machine": {**executor.machine(), **kernels.isa()}, "runs": runs}
        path.write_text(json.dumps(results, indent=1) + "\n")

    def one(item):
        project, seed, config = item
        result = _one(project, seed, config, folder, data_root, free_cpus)
        with lock:
            runs.append(result)
            accuracy = f"{result['test_accuracy'] * 100:.2f} %" if result["test_accuracy"] is not None else \
                f"FAILED: {result['error']}"
            log(f"[{len(runs)}/{len(work)}] {project.name} seed {seed} {config['family']}/{config['threads']} "
                f"threads: {accuracy}")
            save()
        return result

    if jobs == 1:  # in the main thread, where Ctrl-C stops the row and is recorded (executor.Interrupted)
        for item in work:
            one(item)
    else:  # signals reach only the main thread: a Ctrl-C here ends the runs as failed, not interrupted
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, work))
    return path


def _key(run: dict) -> tuple:
    return run["row"], run["seed"], run["family"], run["threads"], run["machine_cpu"]


def merge(published: dict | None, new: dict) -> dict:
    """The published runs with the new ones added; the same row, seed, configuration and CPU is replaced."""
    cpu = new["machine"]["cpu"]
    merged = {_key(r): r for r in (published or {}).get("runs", [])}
    for r in new["runs"]:
        if r["status"] == "ok":
            merged[_key({**r, "machine_cpu": cpu})] = {**r, "machine_cpu": cpu,
                                                       "native_family": new["machine"]["native_family"]}
    machines = {m["cpu"]: m for m in (published or {}).get("machines", [])}
    machines[cpu] = new["machine"]
    return {"machines": list(machines.values()),
            "runs": sorted(merged.values(), key=lambda r: (r["row"], r["family"], r["threads"], r["seed"]))}


def _describe(values: list[float]) -> dict:
    return {"n": len(values), "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "min": min(values), "max": max(values)}


def analyse(data: dict) -> dict:
    """Per row and configuration, and pooled: the distribution of the 5-epoch test accuracy."""
    runs = [r for r in data["runs"] if r["test_accuracy"] is not None]
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        family = r["native_family"] if r["family"] == "native" else r["family"]
        groups.setdefault((r["row"], family, r["threads"]), []).append(r["test_accuracy"])
    by_row: dict[str, list[float]] = {}
    for r in runs:
        by_row.setdefault(r["row"], []).append(r["test_accuracy"])
    pooled = _describe([r["test_accuracy"] for r in runs]) if runs else None
    return {"groups": {" ".join(k): _describe(v) for k, v in sorted(groups.items())},
            "rows": {k: _describe(v) for k, v in sorted(by_row.items())}, "pooled": pooled}


def probability_below(bar: float, mean: float, std: float) -> float:
    """P(accuracy < bar) for a normal distribution with this mean and standard deviation."""
    return 0.5 * math.erfc((mean - bar) / (std * math.sqrt(2))) if std > 0 else float(bar > mean)


def tables(data: dict, bar: float) -> str:
    """The markdown tables of results/accuracy.md, from results/spread.json."""
    analysis = analyse(data)
    lines = ["| row | kernel family | threads | runs | mean | min | max |", "|---|---|---|--:|--:|--:|--:|"]
    for name, d in analysis["groups"].items():
        row, family, threads = name.split()
        lines.append(f"| {row} | {family} | {threads} | {d['n']} | {d['mean'] * 100:.2f} % | {d['min'] * 100:.2f} % | "
                     f"{d['max'] * 100:.2f} % |")
    lines += ["", "| row | runs | mean | std (points) | min | max |", "|---|--:|--:|--:|--:|--:|"]
    for name, d in analysis["rows"].items():
        lines.append(f"| {name} | {d['n']} | {d['mean'] * 100:.2f} % | {d['std'] * 100:.2f} | {d['min'] * 100:.2f} % | "
                     f"{d['max'] * 100:.2f} % |")
    pooled = analysis["pooled"]
    z = (pooled["mean"] - bar) / pooled["std"]
    lowest = (pooled["mean"] - pooled["min"]) / pooled["std"]
    machines = "; ".join(f"{m['cpu']} ({m['cores']} cores, native family {m['native_family']}"
                         f"{', AMX' if m['amx'] else ''})" for m in data["machines"])
    numpy_runs = sum(1 for r in data["runs"] if r["row"] == "numpy")
    return "\n".join([
        f"Measured on: {machines}. {len(data['runs'])} runs in all ({numpy_runs} of the NumPy reference); raw "
        f"data: [`spread.json`](spread.json), made by `invoke spread … --publish`.", "", *lines, "",
        f"**All {pooled['n']} runs pooled:** mean {pooled['mean'] * 100:.2f} %, standard deviation "
        f"{pooled['std'] * 100:.2f} points, range {pooled['min'] * 100:.2f}–{pooled['max'] * 100:.2f} %. The bar, "
        f"{bar * 100:.1f} %, is {z:.1f} standard deviations below the mean (a normal distribution puts "
        f"{probability_below(bar, pooled['mean'], pooled['std']):.0e} of runs below it) and "
        f"{(pooled['min'] - bar) * 100:.2f} points below the lowest run, which was itself {lowest:.1f} standard "
        f"deviations below the mean."])


def publish(results_path: Path, bar: float) -> None:
    new = json.loads(results_path.read_text())
    published = json.loads(PUBLISHED.read_text()) if PUBLISHED.exists() else None
    data = merge(published, new)
    PUBLISHED.write_text(json.dumps(data, indent=1) + "\n")
    write_document(data, bar)


def write_document(data: dict, bar: float) -> None:
    text = DOCUMENT.read_text()
    start, end = text.index(BEGIN), text.index(END)
    start = text.index("\n", start) + 1
    DOCUMENT.write_text(text[:start] + tables(data, bar) + "\n" + text[end:])
