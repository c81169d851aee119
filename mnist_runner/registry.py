"""Which rows exist and how to install, build and run them: one `row.toml` per row directory.

A row is added by adding a directory with a row.toml; nothing here names a row.
Placeholders in commands: {dir} is the row's directory, {root} the repository root.
"""

import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mnist_runner import ROOT

MANIFEST = "row.toml"


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
    setup_commands: tuple[tuple[str, ...], ...] = ()
    build_commands: tuple[tuple[str, ...], ...] = ()
    run_command: tuple[str, ...] = ()
    check_paths: tuple[str, ...] = ()
    check_tools: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # what a reader reads as the row, relative to its directory
    contract: tuple[str, ...] = ()  # the language's contract library files the row uses (common/<language>/)
    kernel_library: str | None = None  # [kernels] library: what runs the matrix products
    kernel_report: str | None = None  # [kernels] report: a regex whose group 1 names the loaded kernels (stderr)

    def expand(self, text: str) -> str:
        return text.format(dir=self.directory, root=ROOT)

    def argv(self, command) -> list[str]:
        return [self.expand(part) for part in command]

    def missing(self) -> list[str]:
        """What `invoke setup` still has to install for this row (empty when ready)."""
        absent = [tool for tool in self.check_tools if shutil.which(tool) is None]
        absent += [path for path in map(self.expand, self.check_paths) if not Path(path).exists()]
        if self.uv and not (self.directory / ".venv" / "bin" / "python").exists():
            absent.append(str(self.directory / ".venv"))
        return absent

    @property
    def installed(self) -> bool:
        return not self.missing()


def _commands(value, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not all(isinstance(c, list) and c and all(isinstance(p, str) for p in c)
                                              for c in value):
        raise ManifestError(f"{where}: expected a list of commands, each a non-empty list of strings")
    return tuple(tuple(c) for c in value)


def load_project(directory: Path) -> Project:
    path = directory / MANIFEST
    try:
        manifest = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ManifestError(f"{path}: {error}") from None
    try:
        setup, build, run, check, kernel = (manifest.get(k, {}) for k in ("setup", "build", "run", "check", "kernels"))
        return Project(
            name=directory.name,
            directory=directory,
            title=manifest["title"],
            language=manifest["language"],
            order=int(manifest.get("order", 1000)),
            table=dict(manifest["table"]),
            apt=tuple(setup.get("apt", ())),
            uv=bool(setup.get("uv", False)),
            setup_commands=_commands(setup.get("commands", []), f"{path} [setup] commands"),
            build_commands=_commands(build.get("commands", []), f"{path} [build] commands"),
            run_command=_commands([run["command"]], f"{path} [run] command")[0],
            check_paths=tuple(check.get("paths", ())),
            check_tools=tuple(check.get("tools", ())),
            sources=tuple(manifest.get("sources", ())),
            contract=tuple(manifest.get("contract", ())),
            kernel_library=kernel.get("library"),
            kernel_report=kernel.get("report"),
        )
    except KeyError as error:
        raise ManifestError(f"{path}: missing required key {error.args[0]!r}") from None


def discover(root: Path = ROOT) -> list[Project]:
    """Every row directory under root, in the table's order."""
    projects = [load_project(manifest.parent) for manifest in sorted(root.glob(f"*/{MANIFEST}"))]
    return sorted(projects, key=lambda p: (p.order, p.name))


def get(name: str, root: Path = ROOT) -> Project:
    projects = {p.name: p for p in discover(root)}
    if name not in projects:
        raise ManifestError(f"unknown project {name!r}; known: {', '.join(projects) or 'none'}")
    return projects[name]
