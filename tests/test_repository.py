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


def test_python_rows_have_a_lockfile():
    for project in discover():
        if project.uv:
            assert (project.directory / "uv.lock").is_file(), f"{project.name}/uv.lock is missing"
