"""The repository keeps its promises: README table in sync with the rows, every row documented."""

from mnist_runner import report
from mnist_runner.registry import discover


def test_readme_table_lists_every_row():
    text = report.README.read_text()
    assert report.readme_with_table(text, discover()) == text, "README.md's table is stale: run `invoke readme`"


def test_every_row_has_a_readme_and_its_sources():
    for project in discover():
        assert (project.directory / "README.md").is_file(), f"{project.name}/README.md is missing"
        assert project.sources, f"{project.name}/row.toml names no sources"
        for source in project.sources:
            assert (project.directory / source).is_file(), f"{project.name}: source {source} does not exist"


ROW_FILE_LINES = 200  # issue 11: a row is one file a learner reads top to bottom


def test_a_row_is_one_short_file_and_its_plumbing_lives_in_its_language_library():
    """row.toml `sources` is what a reader reads as the row, its first entry the learning file; `contract`
    names the files of common/<language>/ it uses. The learning file holds no plumbing, so it stays short."""
    from mnist_runner import ROOT

    for project in discover():
        main = project.directory / project.sources[0]
        lines = [line for line in main.read_text().splitlines() if line.strip()]
        assert len(lines) <= ROW_FILE_LINES, f"{main.relative_to(ROOT)}: {len(lines)} non-blank lines, " \
                                             f"more than {ROW_FILE_LINES}: move plumbing to common/"
        assert project.contract, f"{project.name}/row.toml names no `contract` files"
        for name in project.contract:
            path = (project.directory / name).resolve()
            assert path.is_file(), f"{project.name}: contract file {name} does not exist"
            assert path.is_relative_to(ROOT / "common"), f"{project.name}: contract file {name} is not in common/"


def test_python_rows_have_a_lockfile():
    for project in discover():
        if project.uv:
            assert (project.directory / "uv.lock").is_file(), f"{project.name}/uv.lock is missing"


def test_the_accuracy_bar_is_one_number_in_spec_the_tests_and_its_explanation():
    import json
    import re

    from mnist_runner import ROOT, contract, spread

    bar = f"{contract.ACCURACY_BAR * 100:.1f} %"
    spec = (ROOT / "SPEC.md").read_text()
    assert re.findall(r"every row must reach at least \*\*([\d.]+ %)\*\*", spec) == [bar], "SPEC.md §3 and " \
        "mnist_runner/contract.py disagree on the accuracy bar"
    document = spread.DOCUMENT.read_text()
    assert f"**{bar}**" in document
    # results/accuracy.md's tables are generated from the committed measurements, for this bar.
    data = json.loads(spread.PUBLISHED.read_text())
    start = document.index("\n", document.index(spread.BEGIN)) + 1
    assert document[start:document.index(spread.END)] == spread.tables(data, contract.ACCURACY_BAR) + "\n", \
        "results/accuracy.md is stale: run `invoke spread … --publish`"
    # No measured correct run came near the bar.
    assert min(run["test_accuracy"] for run in data["runs"]) > contract.ACCURACY_BAR + 0.005
