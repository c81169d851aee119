"""The built site in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium.

`open_compare` loads compare.html from the file system (file://, as a reader opens it offline), picks two
rows with the page's own controls, and `check_compare` reads back what the page shows: every section, every
pair of cells with their top edges, and the code lines of each cell. tests/test_site.py asserts on that, and
`invoke site --publish` takes the README's screenshot with the same calls.
"""

import shutil
from contextlib import contextmanager
from pathlib import Path

APT = ("chromium", "chromium-driver")  # `invoke setup --site` (bootstrap.sh) installs them
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)
DESKTOP = (1400, 1000)
PHONE = (390, 844)  # a phone's CSS pixels (iPhone 12-15)


class BrowserError(Exception):
    pass


def _which(names) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@contextmanager
def chromium(size=DESKTOP):
    """A headless Chromium, closed afterwards. Raises BrowserError, saying what to install, when it is missing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _which(CHROMIUM), _which(DRIVER)
    if binary is None or driver_path is None:
        raise BrowserError("no headless browser: install Debian's chromium and chromium-driver "
                           "(`invoke setup --site`; bootstrap.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", "--force-device-scale-factor=1", f"--window-size={size[0]},{size[1]}",
                     "--allow-file-access-from-files"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))  # nothing downloaded
    try:
        driver.set_window_size(*size)
        yield driver
    finally:
        driver.quit()


def open_compare(driver, site: Path, left: str, right: str) -> None:
    """Load compare.html and choose the two rows with its <select>s, as a reader does."""
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver.get((Path(site) / "compare.html").resolve().as_uri())
    WebDriverWait(driver, 20).until(lambda d: d.find_elements("css selector", "#compare section.pair"))
    Select(driver.find_element("id", "left")).select_by_value(left)
    Select(driver.find_element("id", "right")).select_by_value(right)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "const c = document.querySelectorAll('#compare .grid.heads .cell');"
        "return c.length === 2 && c[0].dataset.row === arguments[0] && c[1].dataset.row === arguments[1];",
        left, right))


# What the page shows, read in the page: per section, the pairs of cells (row, shared name, top edge,
# the line numbers and text of the code lines, the note).
_READ = """
const cells = (grid) => Array.from(grid.children).map((cell) => ({
  row: cell.dataset.row, name: cell.dataset.name, top: cell.getBoundingClientRect().top + window.scrollY,
  left: cell.getBoundingClientRect().left, visible: cell.offsetParent !== null,
  lines: Array.from(cell.querySelectorAll('.line')).map((l) => [Number(l.dataset.n), l.textContent]),
  note: (cell.querySelector('.note') || {}).textContent || null}));
return Array.from(document.querySelectorAll('#compare section.pair')).map((section) => ({
  id: section.id, title: section.querySelector('h2').textContent,
  top: section.getBoundingClientRect().top + window.scrollY,
  cells: cells(section.querySelector('.grid'))}));
"""


def read_compare(driver) -> list[dict]:
    return driver.execute_script(_READ)


def screenshot(driver, path: Path, section: str | None = None) -> Path:
    """A PNG of the viewport, scrolled to a section of the compare view (by its id) if given."""
    if section:
        driver.execute_script("const s = document.getElementById(arguments[0]);"
                              "window.scrollTo(0, s.getBoundingClientRect().top + window.scrollY - 70);", section)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not driver.save_screenshot(str(path)):
        raise BrowserError(f"{path}: Chromium did not save the screenshot")
    return path


def compare_screenshot(site: Path, path: Path, left: str, right: str, section: str = "train-step",
                       size=DESKTOP) -> Path:
    """The compare view of two rows, at one of its sections: the README's picture."""
    with chromium(size) as driver:
        open_compare(driver, site, left, right)
        return screenshot(driver, path, section)
