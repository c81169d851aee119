"""Which rows exist and how to install, build and run them: one `row.toml` per row directory.

A row is added by adding a directory with a row.toml; nothing here names a row.
Placeholders in commands: {dir} is the row's directory, {root} the repository root, {venv} the row's
Python environment (`{dir}/.venv`, or a variant's own).

Variants: one program that runs on several backends (Keras 3 on JAX, PyTorch or TensorFlow) is one
directory whose row.toml has a `[variants.NAME]` table per backend. Each variant is a row of its own,
named DIRECTORY-NAME (keras-jax), measured and tested like any other; it shares the directory, its
lockfile and its sources, and overrides the top-level keys it names (title, order, table, kernels)
and adds `env`, the environment variables that select its backend, and `aliases`, other names
`--project` accepts for it. A variant whose `[variants.NAME.setup]` names `extras` (optional
dependencies in the directory's pyproject.toml, one uv.lock for all) gets an environment of its own,
`.venv-NAME`, holding only its backend: commands name the row's environment as `{venv}`.

`[run] env` sets environment variables for every run of a row (and its variants), for a setting the
row's program does not make itself: DJL_OFFLINE=true keeps the DJL row from downloading an engine.

Frameworks that cannot run any more (no release for a current Python) are not rows: NOT_RUNNABLE
lists them, with the reason and the dates, for the README's table.
"""

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mnist_runner import ROOT

MANIFEST = "row.toml"
NOT_RUNNABLE = ROOT / "not-runnable.toml"


class ManifestError(Exception):
    pass


@dataclass(frozen=True)
class Project:
    name: str
    directory: Path
    title: str
    language: str
    order: int
    table: dict  # README columns: data, training, network, autograd
    apt: tuple[str, ...] = ()
    uv: bool = False
    uv_extras: tuple[str, ...] = ()  # [setup] extras: the pyproject's optional dependencies to install
    environment: str = ".venv"  # the row's uv environment, relative to its directory
    setup_commands: tuple[tuple[str, ...], ...] = ()
    build_commands: tuple[tuple[str, ...], ...] = ()
    run_command: tuple[str, ...] = ()
    check_paths: tuple[str, ...] = ()
    check_tools: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # what a reader reads as the row, relative to its directory
    contract: tuple[str, ...] = ()  # the language's contract library files the row uses (common/<language>/)
    kernel_library: str | None = None  # [kernels] library: what runs the matrix products
    kernel_report: str | None = None  # [kernels] report: a regex whose group 1 names the loaded kernels (stderr)
    env: tuple[tuple[str, str], ...] = ()  # [run] env and a variant's env: variables set for every run (KERAS_BACKEND)
    aliases: tuple[str, ...] = ()  # other names --project accepts
    sections: tuple = ()  # [sections]: (shared name, {"name": …} or {"note": …}) where the framework names it

    @property
    def venv(self) -> Path:
        return self.directory / self.environment

    def expand(self, text: str) -> str:
        return text.format(dir=self.directory, root=ROOT, venv=self.venv)

    def argv(self, command) -> list[str]:
        return [self.expand(part) for part in command]

    def missing(self) -> list[str]:
        """What `invoke setup` still has to install for this row (empty when ready)."""
        absent = [tool for tool in self.check_tools if shutil.which(tool) is None]
        absent += [path for path in map(self.expand, self.check_paths) if not Path(path).exists()]
        if self.uv and not (self.venv / "bin" / "python").exists():
            absent.append(str(self.venv))
        return absent

    @property
    def installed(self) -> bool:
        return not self.missing()


def _commands(value, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not all(isinstance(c, list) and c and all(isinstance(p, str) for p in c)
                                              for c in value):
        raise ManifestError(f"{where}: expected a list of commands, each a non-empty list of strings")
    return tuple(tuple(c) for c in value)


def _sections(table, path: Path) -> tuple:
    """[sections]: for a shared name the framework spells its own way, {name = "call"}; for one the framework
    does without a function the row writes, {note = "where it happens"} (mnist_runner/sections.py)."""
    if not isinstance(table, dict):
        raise ManifestError(f"{path}: [sections] must be a table")
    roles = []
    for name, role in table.items():
        if not (isinstance(role, dict) and len(role) == 1 and next(iter(role)) in ("name", "note")
                and isinstance(next(iter(role.values())), str)):
            raise ManifestError(f"{path}: [sections] {name} must be {{ name = \"…\" }} or {{ note = \"…\" }}")
        roles.append((name, tuple(role.items())))
    return tuple(roles)


def _project(directory: Path, path: Path, name: str, manifest: dict, env=(), aliases=(), variant=None) -> Project:
    setup, build, run, check, kernel = (manifest.get(k, {}) for k in ("setup", "build", "run", "check", "kernels"))
    extras = setup.get("extras", [])
    if not isinstance(extras, list) or not all(isinstance(e, str) for e in extras):
        raise ManifestError(f"{path}: [setup] extras must be a list of names")
    if extras and variant is None:
        raise ManifestError(f"{path}: [setup] extras belong to a variant ([variants.NAME.setup])")
    return Project(
        name=name,
        directory=directory,
        title=manifest["title"],
        language=manifest["language"],
        order=int(manifest.get("order", 1000)),
        table=dict(manifest["table"]),
        apt=tuple(setup.get("apt", ())),
        uv=bool(setup.get("uv", False)),
        uv_extras=tuple(extras),
        environment=f".venv-{variant}" if extras else ".venv",
        setup_commands=_commands(setup.get("commands", []), f"{path} [setup] commands"),
        build_commands=_commands(build.get("commands", []), f"{path} [build] commands"),
        run_command=_commands([run["command"]], f"{path} [run] command")[0],
        check_paths=tuple(check.get("paths", ())),
        check_tools=tuple(check.get("tools", ())),
        sources=tuple(manifest.get("sources", ())),
        contract=tuple(manifest.get("contract", ())),
        kernel_library=kernel.get("library"),
        kernel_report=kernel.get("report"),
        env=tuple((str(k), str(v)) for k, v in {**run.get("env", {}), **dict(env)}.items()),
        aliases=tuple(aliases),
        sections=_sections(manifest.get("sections", {}), path),
    )


def _variant(manifest: dict, variant: dict) -> dict:
    """The top-level keys with the variant's overrides; tables (table, kernels) merge key by key."""
    merged = {**manifest}
    for key, value in variant.items():
        if key in ("env", "aliases"):
            continue
        merged[key] = {**manifest.get(key, {}), **value} if isinstance(value, dict) else value
    return merged


def load_projects(directory: Path) -> list[Project]:
    """The row(s) a row.toml describes: one, or one per `[variants.NAME]` table."""
    path = directory / MANIFEST
    try:
        manifest = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: {error}") from None
    variants = manifest.pop("variants", None)
    try:
        if variants is None:
            return [_project(directory, path, directory.name, manifest)]
        if not isinstance(variants, dict) or not variants:
            raise ManifestError(f"{path}: [variants] must hold one table per variant")
        return [_project(directory, path, f"{directory.name}-{name}", _variant(manifest, variant),
                         env=dict(variant.get("env", {})).items(), aliases=variant.get("aliases", ()), variant=name)
                for name, variant in variants.items()]
    except KeyError as error:
        raise ManifestError(f"{path}: missing required key {error.args[0]!r}") from None


def load_project(directory: Path) -> Project:
    """The row a directory without variants holds."""
    projects = load_projects(directory)
    if len(projects) != 1:
        raise ManifestError(f"{directory / MANIFEST}: holds {len(projects)} variants, not one row")
    return projects[0]


def discover(root: Path = ROOT) -> list[Project]:
    """Every row directory under root, in the table's order."""
    projects = [p for manifest in sorted(root.glob(f"*/{MANIFEST}")) for p in load_projects(manifest.parent)]
    seen = {}
    for project in projects:
        for name in (project.name, *project.aliases):
            if name in seen:
                raise ManifestError(f"{project.directory / MANIFEST}: the name {name!r} is taken by {seen[name]}")
            seen[name] = project.name
    return sorted(projects, key=lambda p: (p.order, p.name))


def get(name: str, root: Path = ROOT) -> Project:
    """A row by its name or one of its aliases (`tensorflow` is the row `keras-tensorflow`)."""
    projects = discover(root)
    for project in projects:
        if name == project.name or name in project.aliases:
            return project
    raise ManifestError(f"unknown project {name!r}; known: {', '.join(p.name for p in projects) or 'none'}")


@dataclass(frozen=True)
class NotRunnable:
    """A framework of the seeds that no longer runs on a current Python: a line in the README's table."""
    title: str
    language: str
    last_release: str
    reason: str


def not_runnable(path: Path = NOT_RUNNABLE) -> list[NotRunnable]:
    if not path.exists():
        return []
    try:
        entries = tomllib.loads(path.read_text()).get("framework", [])
        return [NotRunnable(e["title"], e["language"], e["last_release"], e["reason"]) for e in entries]
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: {error}") from None
    except KeyError as error:
        raise ManifestError(f"{path}: a [[framework]] is missing {error.args[0]!r}") from None
