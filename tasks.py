"""invoke tasks: thin wiring from the command line to mnist_runner. `invoke --list` shows them."""

import json
import os
import subprocess
import sys
from pathlib import Path

from invoke import Exit, task

from mnist_runner import ROOT, bench as benchmark, contract, datasets, executor, registry, report
from mnist_runner import predict as classifier
from mnist_runner import setup as installer


def _projects(project, all_) -> list[registry.Project]:
    try:
        if all_:
            return registry.discover()
        if not project:
            raise Exit("say which row: --project NAME (see `invoke list`) or --all", code=2)
        return [registry.get(name.strip()) for name in project.split(",")]
    except registry.ManifestError as error:
        raise Exit(f"error: {error}", code=2) from None


@task
def list(c):  # noqa: A001 - the task is called `invoke list`
    """Every row, whether its toolchain is installed, and its last result."""
    print(f"{'row':<18} {'language':<28} {'installed':<10} last run")
    for project in registry.discover():
        summary = executor.latest_summary(project.name)
        if summary is None:
            last = "—"
        elif summary["status"] == "ok":
            last = (f"ok, test acc {summary['test_accuracy'] * 100:.2f} % on {summary['dataset']}, "
                    f"{summary['started_at']} ({project.name}/{summary['run_id']})")
        elif summary["status"] == "interrupted":
            last = (f"{summary['error']} after {summary.get('epochs_completed') or 0} epoch(s) "
                    f"({project.name}/{summary['run_id']})")
        else:
            last = f"failed: {summary['error']} ({project.name}/{summary['run_id']})"
        installed = "yes" if project.installed else "no"
        print(f"{project.name:<18} {project.language:<28} {installed:<10} {last}")


@task(help={"project": "row(s) to install, comma-separated", "all_": "install every row",
            "site": "install the browser the site's test and screenshot use (Debian's chromium and chromium-driver)"})
def setup(c, project=None, all_=False, site=False):
    """Install what the row(s) need: apt packages, a uv environment per Python row, toolchains, builds."""
    from mnist_runner import browser

    if site:
        print("== setup the site's browser", flush=True)
        try:
            installer.apt_install(browser.APT)
        except installer.SetupError as error:
            raise Exit(f"error: {error}", code=1) from None
        if not (project or all_):
            return
    failed = []
    for row in _projects(project, all_):
        print(f"== setup {row.name}", flush=True)
        try:
            installer.setup(row)
        except installer.SetupError as error:
            print(f"error: {error}", file=sys.stderr)
            failed.append(row.name)
    if failed:
        raise Exit(f"setup failed for: {', '.join(failed)}", code=1)


@task(help={"dataset": "mnist, fashion-mnist or all (default: all)",
            "data_dir": "data root (default: $MNIST_DATA_DIR, else data/)",
            "mirror": "base URL to download from instead of the public mirrors"})
def data(c, dataset="all", data_dir=None, mirror=None):
    """Download the datasets into the data root and verify their SHA-256; checks what is already there."""
    root = datasets.data_root(data_dir)
    names = tuple(datasets.SHA256) if dataset == "all" else (dataset,)
    for name in names:
        if name not in datasets.SHA256:
            raise Exit(f"error: unknown dataset {name!r}; choose mnist, fashion-mnist or all", code=2)
        try:
            datasets.fetch(root, name, mirrors=(mirror.rstrip("/") + "/",) if mirror else None)
        except datasets.DataDownloadError as error:
            raise Exit(f"error: {error}", code=1) from None


CONTRACT_FLAGS = ("dataset", "data_dir", "epochs", "batch_size", "lr", "momentum", "seed", "limit_train",
                  "init", "save", "load")


@task(help={"project": "row(s) to run, comma-separated", "all_": "run every row",
            "no_shuffle": "keep file order (the contract's --no-shuffle)",
            **{flag: "passed to the row (SPEC.md §4)" for flag in CONTRACT_FLAGS}})
def run(c, project=None, all_=False, dataset=None, data_dir=None, epochs=None, batch_size=None, lr=None,
        momentum=None, seed=None, limit_train=None, no_shuffle=False, init=None, save=None, load=None):
    """Run row(s) with the contract's flags; results go to outputs/<row>/<run-id>/.

    What follows `--` goes to the row(s) as it is: `invoke run --project keras-jax -- --save-keras m.keras`."""
    flags = _flags(dict(dataset=dataset, data_dir=data_dir, epochs=epochs, batch_size=batch_size, lr=lr,
                        momentum=momentum, seed=seed, limit_train=limit_train, init=init, save=save, load=load),
                   no_shuffle) + _remainder()
    projects = _projects(project, all_)
    try:
        results = executor.run_all(projects, flags, log=lambda line: print(line, file=sys.stderr))
    except executor.Interrupted as interrupted:  # recorded; the rows after it were not started
        report.write_summary(registry.discover())
        raise Exit(interrupted.describe(), code=interrupted.exit_status) from None
    except KeyboardInterrupt:  # between two rows
        raise Exit("== interrupted by SIGINT", code=130) from None
    failed = [summary["project"] for _, summary in results if summary["status"] != "ok"]
    path = report.write_summary(registry.discover())
    print(f"== summary: {path.relative_to(ROOT)}", file=sys.stderr)
    if failed:
        raise Exit(f"failed: {', '.join(failed)}", code=1)


def _remainder():  # -> list (the name is a task here)
    """The arguments after `--` on invoke's command line (invoke keeps them aside; without this a row
    would silently not get them)."""
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []


def _flags(values: dict, no_shuffle: bool = False):  # -> list (the name is a task here)
    flags = [item for key, value in values.items() if value is not None
             for item in (f"--{key.replace('_', '-')}", str(value))]
    return flags + (["--no-shuffle"] if no_shuffle else [])


def _test_set(data_dir, dataset: str):
    from mnist_common.data import DataError, FILES, parse_idx_images, parse_idx_labels, read_gz

    folder = datasets.data_root(data_dir) / dataset
    try:
        images = parse_idx_images(read_gz(folder / FILES["test_images"]), str(folder / FILES["test_images"]))
        labels = parse_idx_labels(read_gz(folder / FILES["test_labels"]), str(folder / FILES["test_labels"]))
    except DataError as error:
        raise Exit(f"error: {error} (the report shows test images: run `invoke data`)", code=2) from None
    return images, labels


def _write_report(results_path: Path, output: Path, data_dir) -> Path:
    try:
        results = report.load_results(results_path)
        images, labels = _test_set(data_dir, results["dataset"])
        return report.write_report(results_path, output, images, labels)
    except report.ResultsError as error:
        raise Exit(f"error: {error}", code=2) from None


@task(help={"project": "row(s) to benchmark, comma-separated (default: every installed row)",
            "repeat": f"runs per row, interleaved (default 1; {benchmark.PUBLISH_REPEATS} with --publish); "
                      "the tables show the median and the spread",
            "no_cross": "skip the cross-row weight matrix (each row still classifies the test set once)",
            "kernels": "kernel family: native (default) or avx2 (what an AVX2-only machine runs)",
            "publish": "also copy results.json to results/, write results/report.md, update README.md; "
                       "refused on a busy machine. With --project: measure those rows beside PyTorch and put "
                       "them into the published benchmark (marked ‡), instead of republishing every row",
            "force": "publish even from a busy machine (the results are labelled BUSY)",
            "data_dir": "data root (default: $MNIST_DATA_DIR, else data/)",
            **{flag: "passed to every row instead of the contract default (not for published results)"
               for flag in ("dataset", "epochs", "batch_size", "lr", "momentum", "seed", "limit_train")}})
def bench(c, project=None, repeat=None, no_cross=False, kernels="native", publish=False, force=False, data_dir=None,
          dataset=None, epochs=None, batch_size=None, lr=None, momentum=None, seed=None, limit_train=None):
    """Benchmark every installed row, one after another; results go to outputs/bench/<run-id>/results.json."""
    from mnist_runner import kernels as kernel_families

    projects = registry.discover() if project is None else _projects(project, False)
    flags = _flags(dict(dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum,
                        seed=seed, limit_train=limit_train))
    repeat = int(repeat) if repeat is not None else benchmark.PUBLISH_REPEATS if publish else 1
    if repeat < 1:
        raise Exit("error: --repeat must be at least 1", code=2)
    if publish and flags:
        raise Exit("error: --publish is for the contract's defaults: drop the row flags", code=2)
    adding = publish and project is not None  # rows put into the published benchmark, measured beside PyTorch
    if adding:
        if benchmark.REFERENCE in [p.name for p in projects]:
            raise Exit(f"error: --publish --project: {benchmark.REFERENCE} is the reference every row is related to; "
                       "republish every row instead (`invoke bench --publish`)", code=2)
        if not report.published_results(kernels).exists():
            raise Exit(f"error: --publish --project adds rows to {report.published_results(kernels).name}, which "
                       "is not there: publish every row first (`invoke bench --publish`)", code=2)
        projects = [registry.get(benchmark.REFERENCE), *projects]
    if publish and repeat < benchmark.PUBLISH_REPEATS:
        raise Exit(f"error: --publish needs at least {benchmark.PUBLISH_REPEATS} repeats per row", code=2)
    try:
        kernel_families.family_env(kernels)
    except kernel_families.KernelError as error:
        raise Exit(f"error: --kernels: {error}", code=2) from None
    missing = [p.name for p in projects if not p.installed]
    if missing:
        print(f"== not installed, left out: {', '.join(missing)} (`invoke setup --project NAME`)", file=sys.stderr)
    command = " ".join(["invoke bench", *sys.argv[2:]]) if sys.argv[1:2] == ["bench"] else "invoke bench"
    root = datasets.data_root(data_dir)
    _test_set(root, dataset or "mnist")  # fail now, not after an hour of training, if the data is not there
    load = os.getloadavg()[0]
    if publish and load > benchmark.BUSY_LOAD and not force:
        raise Exit(f"error: the machine is busy (1-minute load average {load:.2f}): publish from a quiet "
                   f"machine, or pass --force to publish results labelled BUSY", code=2)
    try:
        path = benchmark.run(projects, flags, repeat, root, cross=not no_cross, command=command, family=kernels)
    except executor.Interrupted as interrupted:  # the row's run is recorded as interrupted in its folder
        raise Exit(interrupted.describe(), code=interrupted.exit_status) from None
    except KeyboardInterrupt:
        raise Exit("== interrupted by SIGINT", code=130) from None
    print(f"== results: {path.relative_to(ROOT)}", file=sys.stderr)
    output = _write_report(path, executor.OUTPUTS / "report.md", root)
    print(f"== report: {output.relative_to(ROOT)}", file=sys.stderr)
    results = report.load_results(path)
    for row in results["rows"]:
        if row.get("disagreement"):
            print(f"== warning: {row['project']}: repeats disagree: {row['disagreement']}", file=sys.stderr)
    if results["quiet"]["busy"]:
        print(f"== warning: the machine was busy: {'; '.join(results['quiet']['reasons'])}", file=sys.stderr)
    if publish:
        unclassified = [row["project"] for row in results["rows"] if row["status"] == "ok" and not row.get("confusion")]
        if unclassified:
            raise Exit(f"error: not published: {', '.join(unclassified)} could not classify the test set with its own "
                       "weights (see above)", code=1)
        if results["quiet"]["busy"] and not force:
            raise Exit("error: not published: the machine was busy during the benchmark (see above); rerun on a "
                       "quiet machine, or pass --force to publish results labelled BUSY", code=1)
        published = report.published_results(kernels)
        published.parent.mkdir(exist_ok=True)
        if adding:
            merged = benchmark.merge(report.load_results(published), results, [p.name for p in registry.discover()])
            published.write_text(json.dumps(merged, indent=1) + "\n")
        else:
            published.write_text(path.read_text())
        _write_report(published, published.with_name(published.stem.replace("bench", "report") + ".md"), root)
        readme(c)
        print(f"== published to {published.relative_to(ROOT)} and README.md", file=sys.stderr)


@task(name="report", help={"results": "a benchmark's results.json (default: outputs/bench/latest/results.json)",
            "output": "where to write the report (default: outputs/report.md; figures go beside it)",
            "data_dir": "data root, for the test images (default: $MNIST_DATA_DIR, else data/)"})
def report_task(c, results=None, output=None, data_dir=None):
    """Write outputs/report.md and its PNG figures from a benchmark's results."""
    path = Path(results) if results else executor.OUTPUTS / "bench" / "latest" / "results.json"
    written = _write_report(path, Path(output) if output else executor.OUTPUTS / "report.md", data_dir)
    print(f"== report: {written}", file=sys.stderr)


PREDICT_VALUED = ("--project", "-p", "--weights", "-w")


def _predict_with_dashes(argv):  # -> list of str, or None (`list` is a task here)
    """`invoke predict --project P --weights W seven.png eight.png` → the same with `--` before the images.

    invoke takes a bare word after a task's flags for the next task's name ("No idea what 'seven.png'
    is!"), so it needs `--` before the images. This finds images a user gave without it (None when there
    are none); the module then runs invoke again with the `--` put in, so the form a user types first works.
    """
    if "predict" not in argv[1:] or "--" in argv:
        return None
    at = argv.index("predict") + 1
    flags, images, index = [], [], at
    while index < len(argv):
        token = argv[index]
        if token in PREDICT_VALUED:
            flags += argv[index:index + 2]
            index += 2
            continue
        (images if not token.startswith("-") else flags).append(token)
        index += 1
    return [*argv[1:at], *flags, "--", *images] if images else None


if __name__ != "__main__" and _predict_with_dashes(sys.argv):
    os.execv(sys.executable, [sys.executable, "-m", "invoke", *_predict_with_dashes(sys.argv)])


@task(help={"project": "the row that classifies", "weights": "a safetensors weights file (SPEC.md §5)"})
def predict(c, project=None, weights=None):
    """Classify images: `invoke predict --project NAME --weights FILE IMAGE…` (PNG/JPEG of any size, or IDX)."""
    images = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    if not project or not weights or not images:
        raise Exit("error: usage: invoke predict --project NAME --weights FILE IMAGE… "
                   "(PNG, JPEG or IDX files)", code=2)
    row = _projects(project, False)[0]
    try:
        results = classifier.classify(row, Path(weights), images)
    except executor.RowError as error:
        raise Exit(f"error: {error}", code=2) from None
    except executor.Interrupted as interrupted:
        raise Exit(interrupted.describe(), code=interrupted.exit_status) from None
    print(classifier.format_table(results))
    failed = [result for result in results if result.error]
    for result in failed:
        print(f"error: {result.error}", file=sys.stderr)
    if failed:
        raise Exit(code=2)


@task(help={"project": "the row to tune", "trials": "finished trials the study should hold (default 20)",
            "study": "study name (default: <row>-<dataset>[-limit<N>]); the same name resumes it",
            "dataset": "mnist (default) or fashion-mnist", "data_dir": "data root",
            "limit_train": "train on the first N examples only (quicker trials)",
            "max_epochs": "largest epoch count to try (default 10)", "seed": "the rows' --seed and the sampler's"})
def sweep(c, project=None, trials=20, study=None, dataset="mnist", data_dir=None, limit_train=None, max_epochs=10,
          seed=0):
    """Optuna search over lr, momentum, batch size and epochs minimising validation loss; resumable."""
    from mnist_runner import sweep as tuner  # optuna loads slowly: only when sweeping

    row = _projects(project, False)[0]
    if trials < 1 or max_epochs < 1:
        raise Exit("error: --trials and --max-epochs must be at least 1", code=2)
    try:
        best = tuner.run(row, trials, study_name=study, dataset=dataset, data_dir=data_dir,
                         limit_train=int(limit_train) if limit_train else None, max_epochs=max_epochs, seed=seed,
                         log=lambda line: print(line, flush=True))
    except tuner.SweepError as error:
        raise Exit(f"error: {error}", code=1) from None
    except executor.Interrupted as interrupted:  # its trial is recorded, failed, and queued to run again
        raise Exit(interrupted.describe(), code=interrupted.exit_status) from None
    except KeyboardInterrupt:
        raise Exit("== interrupted by SIGINT: run the same command again to resume the study", code=130) from None
    print(f"best of {best['trials']} trials (trial {best['best_trial']}): val_loss {best['best_val_loss']:.6f}")
    for key, value in best["best_params"].items():
        print(f"  {key} = {value}")
    print(f"study and trials: {best['folder']}")
    print(f"to train with them: {tuner.command_line(row.name, best['best_params'], dataset, best and limit_train)}")


@task(help={"check": "only check that README.md's tables are up to date"})
def readme(c, check=False):
    """Regenerate the README's table of rows (from each row.toml) and its results table (from results/bench.json)."""
    current = report.README.read_text()
    try:
        results = report.load_results(report.RESULTS)
        avx2_path = report.published_results("avx2")
        avx2 = report.load_results(avx2_path) if avx2_path.exists() else None
    except report.ResultsError as error:
        raise Exit(f"error: {error}", code=2) from None
    updated = report.readme_with_results(report.readme_with_table(current, registry.discover()), results, avx2=avx2)
    if check:
        if updated != current:
            raise Exit("README.md's tables are out of date: run `invoke readme`", code=1)
        print("README.md's tables are up to date")
        return
    report.README.write_text(updated)


@task(help={"publish": "write it to docs/ (the project's static pages) and take docs/compare.png, the README's "
                       "screenshot of the compare view, in headless Chromium",
            "output": "where to write it (default: outputs/site/)",
            "results": "the benchmark whose results it shows (default: results/bench.json, the published one)"})
def site(c, publish=False, output=None, results=None):
    """Build the static site: the table of rows, a page per row, and the compare view of any two rows."""
    from mnist_runner import browser, sections, site as website

    folder = Path(output) if output else website.PUBLISHED if publish else website.OUTPUT
    try:
        index = website.build(folder, Path(results) if results else report.RESULTS)
    except sections.SectionError as error:
        raise Exit(f"error: {error}", code=1) from None
    print(f"== site: {website.relative(index)} (open it in a browser, or `python -m http.server -d "
          f"{website.relative(folder)}`)", file=sys.stderr)
    if publish:
        try:
            shot = browser.compare_screenshot(folder, folder / website.SCREENSHOT, *website.DEFAULT_PAIR)
        except browser.BrowserError as error:
            raise Exit(f"error: {error}", code=1) from None
        print(f"== screenshot of the compare view: {website.relative(shot)}", file=sys.stderr)


@task(help={"k": "only tests matching this pytest -k expression", "x": "stop at the first failure",
            "kernels": "run the rows on this kernel family: native (default) or avx2 (what an AVX2-only CPU runs)"})
def test(c, k=None, x=False, kernels=None):
    """The whole test suite (pytest): unit tests, the runner, and the conformance suite over every row."""
    from mnist_runner import kernels as kernel_families

    environment = dict(os.environ)
    if kernels:
        try:
            kernel_families.family_env(kernels)
        except kernel_families.KernelError as error:
            raise Exit(f"error: --kernels: {error}", code=2) from None
        environment["MNIST_KERNELS"] = kernels
    # Rows run side by side, one xdist worker per core, each row's tests on one worker.
    argv = [sys.executable, "-m", "pytest", "-q", "-n", "auto", "--dist", "loadgroup"]
    argv += (["-k", k] if k else []) + (["-x"] if x else [])
    raise Exit(code=subprocess.call(argv, cwd=ROOT, env=environment))


@task(help={"project": "row(s) to measure, comma-separated (default: every installed row)",
            "seeds": "how many seeds, 0 … N-1 (default 3), or a range FIRST-LAST",
            "kernels": "kernel families, comma-separated: native, avx2 (default: native,avx2)",
            "threads": "thread counts, comma-separated: all, 1 (default: all,1)",
            "jobs": "runs at a time (default 1; single-threaded runs are pinned to distinct CPUs)",
            "publish": "merge into results/spread.json and regenerate results/accuracy.md's tables",
            "data_dir": "data root (default: $MNIST_DATA_DIR, else data/)"})
def spread(c, project=None, seeds="3", kernels="native,avx2", threads="all,1", jobs=1, publish=False,
           data_dir=None):
    """Test accuracy of the defaults over seeds, kernel families and thread counts: the data behind SPEC's bar."""
    from mnist_runner import kernels as kernel_families, spread as measure

    projects = registry.discover() if project is None else _projects(project, False)
    projects = [p for p in projects if p.installed]
    first, _, last = seeds.partition("-")
    chosen = [*range(int(first), int(last) + 1)] if last else [*range(int(first))]
    try:
        configs = measure.configurations(kernels.split(","), threads.split(","))
        for config in configs:
            kernel_families.family_env(config["family"])
            kernel_families.thread_env(None if config["threads"] == "all" else int(config["threads"]))
    except (ValueError, kernel_families.KernelError) as error:
        raise Exit(f"error: {error}", code=2) from None
    try:
        path = measure.run(projects, chosen, configs, datasets.data_root(data_dir), jobs=int(jobs),
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    except executor.Interrupted as interrupted:  # the runs before it are in the folder's results.json
        raise Exit(interrupted.describe(), code=interrupted.exit_status) from None
    print(f"== results: {path.relative_to(ROOT)}", file=sys.stderr)
    if publish:
        measure.publish(path, contract.ACCURACY_BAR)
        print(f"== published to {measure.PUBLISHED.relative_to(ROOT)} and {measure.DOCUMENT.relative_to(ROOT)}",
              file=sys.stderr)
