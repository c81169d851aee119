"""invoke tasks: thin wiring from the command line to mnist_runner. `invoke --list` shows them."""

import json
import subprocess
import sys

from invoke import Exit, task

from mnist_runner import ROOT, datasets, executor, registry, report
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
    print(f"{'row':<12} {'language':<28} {'installed':<10} last run")
    for project in registry.discover():
        summary = executor.latest_summary(project.name)
        if summary is None:
            last = "—"
        elif summary["status"] == "ok":
            last = (f"ok, test acc {summary['test_accuracy'] * 100:.2f} % on {summary['dataset']}, "
                    f"{summary['started_at']} ({project.name}/{summary['run_id']})")
        else:
            last = f"failed: {summary['error']} ({project.name}/{summary['run_id']})"
        installed = "yes" if project.installed else "no"
        print(f"{project.name:<12} {project.language:<28} {installed:<10} {last}")


@task(help={"project": "row(s) to install, comma-separated", "all_": "install every row"})
def setup(c, project=None, all_=False):
    """Install what the row(s) need: apt packages, a uv environment per Python row, toolchains, builds."""
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
    """Run row(s) with the contract's flags; results go to outputs/<row>/<run-id>/."""
    values = dict(dataset=dataset, data_dir=data_dir, epochs=epochs, batch_size=batch_size, lr=lr,
                  momentum=momentum, seed=seed, limit_train=limit_train, init=init, save=save, load=load)
    flags = [item for key, value in values.items() if value is not None
             for item in (f"--{key.replace('_', '-')}", str(value))]
    if no_shuffle:
        flags.append("--no-shuffle")
    results = executor.run_all(_projects(project, all_), flags, log=lambda line: print(line, file=sys.stderr))
    failed = [summary["project"] for _, summary in results if summary["status"] != "ok"]
    path = report.write_summary(registry.discover())
    print(f"== summary: {path.relative_to(ROOT)}", file=sys.stderr)
    if failed:
        raise Exit(f"failed: {', '.join(failed)}", code=1)


@task(help={"check": "only check that README.md's table is up to date"})
def readme(c, check=False):
    """Regenerate the README's table of rows from the rows' manifests."""
    current = report.README.read_text()
    updated = report.readme_with_table(current, registry.discover())
    if check:
        if updated != current:
            raise Exit("README.md's table of rows is out of date: run `invoke readme`", code=1)
        print("README.md's table of rows is up to date")
        return
    report.README.write_text(updated)


@task(help={"k": "only tests matching this pytest -k expression", "x": "stop at the first failure"})
def test(c, k=None, x=False):
    """The whole test suite (pytest): unit tests, the runner, and the conformance suite over every row."""
    # Rows run side by side, one xdist worker per core, each row's tests on one worker.
    argv = [sys.executable, "-m", "pytest", "-q", "-n", "auto", "--dist", "loadgroup"]
    argv += (["-k", k] if k else []) + (["-x"] if x else [])
    raise Exit(code=subprocess.call(argv, cwd=ROOT))
