"""SPEC.md §9: every row's learning file marks the five sections and defines the shared names inside them."""

import pytest

from mnist_runner import registry, sections

ROWS = registry.discover()


# `row`, not `project`: a `project` parameter makes a test one of the conformance suite's, which must stay on its
# row's one worker (tests/conftest.py); these read files only.
@pytest.mark.parametrize("row", ROWS, ids=[p.name for p in ROWS])
def test_every_row_marks_the_five_sections_and_defines_the_shared_names_in_them(row):
    project = row
    path = sections.learning_file(project)
    parsed = sections.parse(path, roles=sections.roles_of(project))
    assert [s.name for s in parsed] == ["", *sections.SECTIONS]
    lines = path.read_text().splitlines()
    for section in parsed:
        assert section.name in sections.NAMES or not section.names, (section.name, section.names)
        for block in section.blocks:  # the blocks are the file, in order, with nothing lost
            assert block.lines == lines[block.first - 1:block.first - 1 + len(block.lines)]
        for name in sections.NAMES.get(section.name, ()):
            assert name in section.names or name in section.notes, (project.name, name)
    assert sum(len(b.lines) for s in parsed for b in s.blocks) + len(sections.SECTIONS) == len(lines)


PYTHON = '''"""A row."""
import numpy as np
# ---------------------------------------------------------------- data
X = 1
# ---------------------------------------------------------------- model: the MLP
# The weights, drawn.
def init_params(seed):
    return seed


def forward(params, x):
    return x
# ---------------------------------------------------------------- train step
@jit
def train_step(params, x):
    return params


def train_epoch(params):
    return train_step(params, 1)
# ---------------------------------------------------------------- evaluate
def evaluate(params):
    return forward(params, 1)


def predict(params):
    return 0
# ---------------------------------------------------------------- main
def main():
    evaluate(init_params(0))
'''


def parse(text, suffix=".py", roles=None):
    return sections.parse(f"row/main{suffix}", text=text, roles=roles)


def test_sections_are_cut_into_blocks_at_the_shared_names():
    parsed = parse(PYTHON)
    assert [s.name for s in parsed] == ["", "data", "model", "train step", "evaluate", "main"]
    model = parsed[2]
    assert model.note == "the MLP" and model.marker == 5
    assert [(b.name, b.first) for b in model.blocks] == [("init_params", 6), ("forward", 11)]
    assert model.blocks[0].lines[0] == "# The weights, drawn."  # the comment above a definition goes with it
    train = parsed[3]
    assert [(b.name, b.lines[0]) for b in train.blocks] == [("train_step", "@jit"), ("train_epoch", "def train_epoch(params):")]
    assert parsed[0].blocks[0].lines == ['"""A row."""', "import numpy as np"] and parsed[5].names == []


@pytest.mark.parametrize("broken, message", [
    (PYTHON.replace("---- evaluate", "---- evaluation"), "missing: evaluate"),
    (PYTHON.replace("---- data", "---- model", 1), "expected each of"),
    (PYTHON.replace("def predict(params)", "def show(params)"), "defines no predict"),
    (PYTHON.replace("def main():", "def forward(params, x):"), "forward is defined in section 'main', not in 'model'"),
    (PYTHON.replace("# ---------------------------------------------------------------- main", "# main"), "missing: main"),
    (PYTHON.replace("# ----------------------------------------------------------------", "# -------"), "missing: data"),
])
def test_a_missing_marker_or_misplaced_name_is_an_error(broken, message):
    assert broken != PYTHON
    with pytest.raises(sections.SectionError, match=message):
        parse(broken)


def test_a_row_names_the_frameworks_own_function_or_says_where_it_happens():
    text = PYTHON.replace("def forward(params, x)", "def __call__(self, x)").replace(
        "def train_epoch(params):\n    return train_step(params, 1)\n", "")
    with pytest.raises(sections.SectionError, match="defines no forward"):
        parse(text)
    roles = {"forward": {"name": "__call__"}, "train_epoch": {"note": "fit runs the epochs"}}
    parsed = parse(text, roles=roles)
    assert [(b.name, b.alias) for b in parsed[2].blocks] == [("init_params", None), ("forward", "__call__")]
    assert parsed[3].notes == {"train_epoch": "fit runs the epochs"}
    with pytest.raises(sections.SectionError, match="drop its note"):
        parse(PYTHON, roles={"forward": {"note": "elsewhere"}})
    with pytest.raises(sections.SectionError, match="not shared names"):
        parse(PYTHON, roles={"backward": {"name": "grad"}})


GO = '''package main
// ---------------------------------------------------------------- data
// ---------------------------------------------------------------- model
func initParams(rng *rand.Rand) Net { return Net{} }
func (n Net) forward(x []float32) []float32 { return x }
// ---------------------------------------------------------------- train step
func trainStep(net Net) {}
func trainEpoch(net Net) { trainStep(net) }
// ---------------------------------------------------------------- evaluate
func evaluate(net Net) {}
func predict(net Net) { evaluate(net) }
// ---------------------------------------------------------------- main
func main() { predict(initParams(nil)) }
'''


def test_camel_case_and_each_languages_definitions():
    assert [b.name for b in parse(GO, ".go")[2].blocks] == ["init_params", "forward"]
    c = GO.replace("package main", "#include <x.h>\nstatic void forward(Net *n);  /* a prototype, not the definition */")
    c = c.replace("func initParams(rng *rand.Rand) Net", "static Net *\ninit_params_unused(void)").replace(
        "func (n Net) forward(x []float32) []float32", "Net init_params(void)")
    for old, new in (("func trainStep(net Net)", "static void train_step(Net *net)"),
                     ("func trainEpoch(net Net)", "void train_epoch(Net *net)"),
                     ("func evaluate(net Net)", "double evaluate(const Net *net)"),
                     ("func predict(net Net)", "float *\npredict_unused(void)\nfloat *predict(Net *net)"),
                     ("func main()", "int main(void)")):
        c = c.replace(old, new)
    with pytest.raises(sections.SectionError, match="defines no forward"):  # the prototype does not count
        parse(c, ".c")
    c = c.replace("Net init_params(void)", "Net init_params(void) { return 0; }\nfloat *forward(Net *n, float *x)")
    model = parse(c, ".c")[2]
    assert [b.name for b in model.blocks] == [None, "init_params", "forward"]
    with pytest.raises(sections.SectionError, match="no definition syntax known for \\*.f90"):
        parse(GO, ".f90")


def test_every_language_the_rows_use_has_a_definition_syntax():
    suffixes = {sections.learning_file(p).suffix for p in ROWS}
    assert suffixes <= set(sections.DEFINITIONS), suffixes - set(sections.DEFINITIONS)
