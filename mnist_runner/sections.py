"""The sections of a row's learning file (SPEC.md §9): five marker comments, the shared names inside them.

Every row's learning file (the first of its row.toml `sources`) reads top to bottom in the same five
sections, each opened by a marker comment in the language's syntax: a comment opener, a rule of at
least 16 `-` or `=`, the section's name, and optionally a note (`: …`, `(SPEC.md §2)`):

    # ---------------------------------------------------------------- train step
    // ---------------------------------------------------------------- train step
    /* ================================================================ train step */

Inside the sections the functions carry the shared names, snake_case or camelCase as the language
writes them: `init_params` and `forward` in *model*, `train_step` and `train_epoch` in *train step*,
`evaluate` and `predict` in *evaluate*. Where the framework names one itself (Keras's `call`,
Lightning's `training_step`), or does it without a function of the row's, row.toml's [sections]
says so: {name = "training_step"} or {note = "where it happens"}.

A section is cut into blocks: each shared name's definition (with the comments and decorators just
above it) up to the next one, and the code around them. The site's compare view
(mnist_runner/site.py) lines two rows up block by block, and tests/test_sections.py holds every row
to the markers and names. Nothing here names a row: a new row is found by its row.toml and parsed
by its learning file's suffix (DEFINITIONS).
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("data", "model", "train step", "evaluate", "main")
NAMES = {"model": ("init_params", "forward"), "train step": ("train_step", "train_epoch"),
         "evaluate": ("evaluate", "predict")}
SHARED = tuple(name for names in NAMES.values() for name in names)

MARKER = re.compile(r"^\s*(?:#|//|--|;|/\*|\(\*)\s*[-=]{16,}\s+(" + "|".join(SECTIONS) + r")\b(.*)$")


def _note(rest: str) -> str:
    """What follows a marker's section name: `: a note`, `(SPEC.md §2)`, a comment's closer."""
    return re.sub(r"\s*(?:\*/|\*\))\s*$", "", rest).strip().lstrip(":").strip()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# A definition of NAME, by the learning file's suffix: the line where the function (or method) begins.
# C: at column 0, a return type, the name, and not a prototype (a line that ends `);`, perhaps with a comment).
_C_LIKE = r"^(?:[A-Za-z_][\w:<>,]*[\s\*&]+)+\**{name}\s*\((?!.*\)\s*;\s*(?:/[/*].*)?$)"
DEFINITIONS = {
    ".py": r"^\s*(?:(?:async\s+)?def\s+{name}\s*\(|class\s+{name}\b)",
    ".rs": r"^\s*(?:pub(?:\([\w:]+\))?\s+)?fn\s+{name}\b",
    ".c": _C_LIKE,
    ".cpp": _C_LIKE.replace("^", r"^\s*", 1),  # C++: methods too (a Module's forward)
    ".java": r"^\s+(?:(?:public|private|protected|static|final)\s+)+[\w<>\[\],\s]+?\s+{name}\s*\(",
    ".go": r"^func\s+(?:\([^)]*\)\s*)?{name}\s*\(",
    ".hs": r"^{name}\s*::",
    ".ml": r"^\s*(?:let|and)\s+(?:rec\s+)?{name}\b",
    ".jl": r"^\s*(?:function\s+{name}\b|{name}\(.*\)\s*=(?!=))",
    ".ts": r"^\s*(?:export\s+)?(?:(?:async\s+)?function\s*\*?\s*{name}\b|const\s+{name}\s*=)",
}


class SectionError(Exception):
    pass


@dataclass
class Block:
    """A run of lines inside a section: `name` is the shared name it defines, or None for the code around;
    `alias` is the row's own name for it, where its framework names it (row.toml [sections])."""
    name: str | None
    first: int  # 1-based line number in the file
    lines: list[str] = field(default_factory=list)
    alias: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Section:
    name: str  # one of SECTIONS, or "" for the lines before the first marker (the file's header)
    note: str  # the marker's `: note`, if any
    marker: int  # the marker's 1-based line number (0 for the header)
    blocks: list[Block]
    notes: dict = field(default_factory=dict)  # shared name → where the row does it without a function of its own

    @property
    def names(self) -> list[str]:
        return [block.name for block in self.blocks if block.name]


def definition_pattern(suffix: str, name: str, alias: str | None = None) -> re.Pattern:
    template = DEFINITIONS.get(suffix)
    if template is None:
        raise SectionError(f"no definition syntax known for *{suffix} files (mnist_runner/sections.py DEFINITIONS)")
    forms = [re.escape(alias)] if alias else sorted({name, camel(name)}, key=len, reverse=True)
    return re.compile(template.format(name="(?:" + "|".join(forms) + r")(?![\w'])"))


def definitions(path: Path, lines: list[str], roles: dict | None = None) -> dict[int, str]:
    """{0-based line index: shared name} for every line that begins a shared name's definition (or the
    definition of the row's own name for it, row.toml [sections])."""
    found = {}
    for name in SHARED:
        role = (roles or {}).get(name, {})
        if "note" in role:
            continue
        pattern = definition_pattern(path.suffix, name, role.get("name"))
        for index, line in enumerate(lines):
            if pattern.search(line):
                found.setdefault(index, name)
    return found


def _leading_comments(lines: list[str], start: int, floor: int) -> int:
    """Move a definition's first line up over the comments, doc comments and decorators directly above it."""
    comment = re.compile(r"^\s*(?:#|//|--|;|/\*|\*|\(\*|@|\"\"\"|\[<|///|--\s*\|)")
    while start - 1 > floor and lines[start - 1].strip() and comment.match(lines[start - 1]) \
            and not MARKER.match(lines[start - 1]):
        start -= 1
    return start


def roles_of(project) -> dict:
    """row.toml [sections]: {shared name: {"name": the row's own name for it} or {"note": where it happens}}."""
    return {name: dict(role) for name, role in project.sections}


def parse(path: Path, text: str | None = None, roles: dict | None = None) -> list[Section]:
    """The file's header and its five sections, each cut into blocks at the shared names' definitions.

    Raises SectionError when a marker is missing, repeated or out of order, or when a shared name is not
    defined in its own section."""
    path = Path(path)
    lines = (path.read_text() if text is None else text).splitlines()
    markers = [(index, match.group(1), _note(match.group(2))) for index, line in enumerate(lines)
               if (match := MARKER.match(line))]
    found = [name for _, name, _ in markers]
    if found != list(SECTIONS):
        missing = [name for name in SECTIONS if name not in found]
        raise SectionError(f"{path}: section markers {found} — expected each of {list(SECTIONS)} once, in order"
                           + (f" (missing: {', '.join(missing)})" if missing else ""))
    roles = roles or {}
    unknown = sorted(set(roles) - set(SHARED))
    if unknown:
        raise SectionError(f"{path}: row.toml [sections] names {unknown}, which are not shared names {list(SHARED)}")
    defined = definitions(path, lines, roles)
    bounds = [(-1, "", "")] + markers + [(len(lines), None, None)]
    sections = []
    for (start, name, note), (end, _, _) in zip(bounds, bounds[1:]):
        body = range(start + 1, end)
        starts = sorted(_leading_comments(lines, index, start) for index in body if index in defined)
        owner = {_leading_comments(lines, index, start): defined[index] for index in body if index in defined}
        cuts = sorted({start + 1, end, *starts})
        blocks = []
        for first, last in zip(cuts, cuts[1:]):
            shared = owner.get(first)
            blocks.append(Block(shared, first + 1, lines[first:last], roles.get(shared, {}).get("name")))
        sections.append(Section(name, note, start + 1 if start >= 0 else 0, blocks))
    for section in sections:
        for block in section.blocks:
            if block.name and block.name not in NAMES.get(section.name, ()):
                home = next(s for s, names in NAMES.items() if block.name in names)
                raise SectionError(f"{path}:{block.first}: {block.name} is defined in section "
                                   f"{section.name or '(header)'!r}, not in {home!r}")
    for home, names in NAMES.items():
        section = next(s for s in sections if s.name == home)
        for name in names:
            if "note" in roles.get(name, {}):
                pattern = definition_pattern(path.suffix, name)
                if any(pattern.search(line) for block in section.blocks for line in block.lines):
                    raise SectionError(f"{path}: {name} is defined in section {home!r}: drop its note in row.toml")
                section.notes[name] = roles[name]["note"]
            elif name not in section.names:
                alias = roles.get(name, {}).get("name")
                raise SectionError(f"{path}: section {home!r} defines no " + (
                    f"{alias} (row.toml [sections] {name})" if alias else f"{name} (or {camel(name)})"))
    return sections


def learning_file(project) -> Path:
    """The file a reader reads as the row: the first of its row.toml `sources`."""
    if not project.sources:
        raise SectionError(f"{project.name}: row.toml names no sources")
    return project.directory / project.sources[0]
