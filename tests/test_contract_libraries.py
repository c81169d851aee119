"""Each language's contract library (common/<language>/) runs its own unit tests, in its own usual tool.

common/<language>/library.toml names the language and the commands that build and run those tests from
the repository root ({root} expands to it). A library joins by existing; a missing toolchain fails here.
"""

import subprocess
import tomllib

import pytest

from mnist_runner import ROOT

LIBRARIES = sorted(ROOT.glob("common/*/library.toml"))


def test_every_language_with_a_row_has_its_contract_library():
    from mnist_runner import registry

    used = {path.split("/")[2] for p in registry.discover() for path in p.contract if path.startswith("../common/")}
    libraries = {path.parent.name for path in LIBRARIES}
    assert used <= libraries, f"rows use contract libraries without a library.toml: {sorted(used - libraries)}"
    assert libraries, "no common/<language>/library.toml found"


@pytest.mark.parametrize("manifest", [pytest.param(m, id=m.parent.name, marks=pytest.mark.xdist_group(f"lib-{m.parent.name}"))
                                      for m in LIBRARIES])
def test_contract_library_unit_tests_pass(manifest):
    library = tomllib.loads(manifest.read_text())
    assert library.get("language") and library.get("test"), f"{manifest}: needs `language` and `test`"
    for command in library["test"]:
        argv = [part.format(root=ROOT) for part in command]
        try:
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1200,
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            pytest.fail(f"{manifest.parent.name}: {argv[0]} is not installed (run `invoke setup --all`)", pytrace=False)
        assert done.returncode == 0, (f"{manifest.parent.name}: `{' '.join(argv)}` exited {done.returncode}:\n"
                                      f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
