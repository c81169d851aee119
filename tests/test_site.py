"""invoke site: the static site of every row and the compare view, built, checked as files and in headless Chromium."""

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_runner import ROOT, browser, registry, report, sections, site

ROWS = registry.discover()
SCREENSHOTS = ROOT / "outputs" / "site-test"  # the browser test's outputs: its screenshots


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site") / "site"
    site.build(folder)
    return folder


def site_data(folder: Path) -> dict:
    text = (folder / "data.js").read_text()
    return json.loads(text[text.index("window.SITE = ") + len("window.SITE = "):].rstrip().rstrip(";"))


def page_lines(page: str, anchor: str = "code") -> dict[int, str]:
    """{line number: text} of a page's highlighted code, read back from its HTML."""
    found = re.findall(rf'<span class="line" data-n="(\d+)" id="{anchor}L\d+">(.*?)</span>(?=<span class="line"|</pre>)',
                       page)
    return {int(n): html.unescape(re.sub(r"<[^>]+>", "", body)) for n, body in found}


def test_every_row_has_a_page_with_its_learning_file_its_readme_and_its_results(built):
    results = {row["project"]: row for row in report.load_results(report.RESULTS)["rows"]}
    index = (built / "index.html").read_text()
    folders = {project.directory.name for project in ROWS}
    for project in ROWS:
        assert f'href="rows/{project.name}.html"' in index, project.name
        page = (built / "rows" / f"{project.name}.html").read_text()
        path = sections.learning_file(project)
        # The code shown is the repository's file, every line of it, highlighted.
        assert list(page_lines(page).values()) == path.read_text().splitlines(), project.name
        assert 'class="k' in page or 'class="n' in page  # Pygments' token classes
        readme = page.split('<article class="readme">')[1]
        assert "<h1>" in readme and "<p>" in readme, project.name  # its README, rendered
        for other in folders:  # a link to another row's folder goes to that row's page on the site
            assert f'href="../{other}"' not in readme and f'href="../{other}/"' not in readme, (project.name, other)
        if project.name in results:  # its benchmark numbers and its figures (curves, confusion matrix)
            accuracy = results[project.name]["stats"]["test_accuracy"]["median"]
            assert f"{100 * accuracy:.2f} %" in page and '<svg class="curves"' in page and 'class="confusion"' in page
        if project.contract:  # the contract library is one click away, and its page shows what the row uses
            link = re.search(r'href="\.\./(contract/[\w-]+\.html)"', page).group(1)
            library = (built / link).read_text()
            for item in project.contract:
                assert html.escape((project.directory / item).resolve().name) in library, (project.name, item)
    for framework in registry.not_runnable():
        assert html.escape(framework.title) in index and "not runnable" in index


def test_the_compare_data_holds_every_rows_sections_in_order(built):
    data = site_data(built)
    assert data["sections"] == list(sections.SECTIONS) and [r["name"] for r in data["rows"]] == [p.name for p in ROWS]
    for row, project in zip(data["rows"], ROWS):
        lines = sections.learning_file(project).read_text().splitlines()
        assert [s["name"] for s in row["sections"]] == ["", *sections.SECTIONS]
        for section in row["sections"]:
            for block in section["blocks"]:
                shown = [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in block["html"]]
                assert shown == lines[block["first"] - 1:block["first"] - 1 + len(shown)], (row["name"], block["name"])
                assert shown[-1].strip(), (row["name"], block["first"])  # no blank lines shown as code
            for name in sections.NAMES.get(section["name"], ()):
                assert name in section["notes"] or any(b["name"] == name for b in section["blocks"])


def test_the_site_works_offline(built):
    """Nothing is fetched: no resource (script, style, image, font) comes from another host."""
    for path in built.rglob("*"):
        if path.suffix in (".html", ".css", ".js"):
            text = path.read_text()
            assert not re.search(r'(?:src|href)="(?:https?:)?//', text.split('<article class="readme">')[0]), path
            assert not re.search(r"url\((?:https?:)?//|@import", text), path
            # README links to other sites stay links (<a>), never loaded resources
            assert not re.search(r'<(?:script|img|link|iframe)[^>]+(?:src|href)="(?:https?:)?//', text), path


def test_a_new_row_appears_with_no_change_to_the_sites_code(tmp_path, monkeypatch):
    row = tmp_path / "newrow"
    row.mkdir()
    shutil.copyfile(ROOT / "numpy" / "main.py", row / "main.py")
    manifest = (ROOT / "numpy" / "row.toml").read_text().replace('title = "NumPy"', 'title = "A new row"')
    (row / "row.toml").write_text(manifest.replace('"../common/', f'"{ROOT}/common/'))
    (row / "README.md").write_text("# A new row\n\nIts own README.\n")
    new = registry.load_projects(row)
    monkeypatch.setattr(registry, "discover", lambda: [*ROWS, *new])
    folder = tmp_path / "site"
    site.build(folder)
    assert "A new row" in (folder / "index.html").read_text()
    assert "Its own README." in (folder / "rows" / "newrow.html").read_text()
    assert "newrow" in [r["name"] for r in site_data(folder)["rows"]]


def test_a_learning_file_without_its_sections_stops_the_build_with_one_line(tmp_path, monkeypatch):
    row = tmp_path / "broken"
    row.mkdir()
    (row / "main.py").write_text((ROOT / "numpy" / "main.py").read_text().replace("---- evaluate", "---- scoring"))
    (row / "row.toml").write_text((ROOT / "numpy" / "row.toml").read_text())
    monkeypatch.setattr(registry, "discover", lambda: registry.load_projects(row))
    with pytest.raises(sections.SectionError, match="missing: evaluate"):
        site.build(tmp_path / "site")


def test_the_published_site_is_the_generated_one(built):
    """docs/ is what `invoke site --publish` writes from the repository, like the README's tables."""
    fresh = built
    published = site.files(site.PUBLISHED)
    assert published.pop(site.SCREENSHOT, b"").startswith(b"\x89PNG"), "docs/compare.png: run `invoke site --publish`"
    assert published == site.files(fresh), "docs/ is out of date: run `invoke site --publish`"


def test_invoke_site_writes_the_site_and_says_where(tmp_path):
    result = subprocess.run([sys.executable, "-m", "invoke", "site", "--output", str(tmp_path / "s")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s" / "index.html").is_file() and "== site:" in result.stderr


# ---------------------------------------------------------------- in a real browser

PAIRS = [("go", "tensorflow-core"), ("keras-jax", "c")]  # camelCase beside __call__; notes beside C


@pytest.mark.parametrize("left, right", PAIRS, ids=["-".join(p) for p in PAIRS])
def test_the_compare_view_lines_two_rows_up_in_chromium(built, left, right):
    with browser.chromium() as driver:
        browser.open_compare(driver, built, left, right)
        shown = browser.read_compare(driver)
        shot = browser.screenshot(driver, SCREENSHOTS / f"compare-{left}-{right}.png", "train-step")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
    assert [s["id"] for s in shown] == ["header", "data", "model", "train-step", "evaluate", "main"]
    tops = [s["top"] for s in shown]
    assert tops == sorted(tops)  # in the file's order, top to bottom
    files = {name: sections.learning_file(registry.get(name)).read_text().splitlines() for name in (left, right)}
    for section in shown:
        cells = section["cells"]
        assert len(cells) % 2 == 0 and cells, section["id"]
        for mine, theirs in zip(cells[::2], cells[1::2]):
            # A pair: the left row's and the right row's block for the same name, side by side on the same line.
            assert (mine["row"], theirs["row"]) == (left, right) and mine["name"] == theirs["name"]
            assert mine["top"] == theirs["top"] and mine["left"] < theirs["left"], (section["id"], mine["name"])
            for cell in (mine, theirs):  # the code shown is the repository's, line for line
                for number, text in cell["lines"]:
                    assert text == files[cell["row"]][number - 1], (cell["row"], number)
                assert cell["lines"] or cell["note"] or not cell["name"]
        if section["id"] in ("model", "train-step", "evaluate"):
            names = [c["name"] for c in cells[::2]]
            expected = sections.NAMES[section["title"]]
            assert [n for n in names if n] == list(expected), section["id"]
    notes = [c["note"] for s in shown for c in s["cells"] if c["note"]]
    if left == "keras-jax":  # Keras writes forward and the epoch loop itself: the row's row.toml says where
        assert any("Sequential" in note for note in notes) and any("model.fit" in note for note in notes)


def test_the_compare_view_reads_on_a_phone(built):
    with browser.chromium(browser.PHONE) as driver:
        browser.open_compare(driver, built, "numpy", "rust")
        shown = browser.read_compare(driver)
        width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
        shot = browser.screenshot(driver, SCREENSHOTS / "compare-phone.png", "model")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"  # code scrolls inside its box
    for section in shown:
        visible = [c for c in section["cells"] if c["visible"]]
        assert len({round(c["left"]) for c in visible}) <= 1, section["id"]  # one column: each block under the other
    assert shot.stat().st_size > 10_000
