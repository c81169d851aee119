"""Plant typical training bugs in a row, one at a time, and see which conformance tests catch each.

    .venv/bin/python tests/mutants.py [NAME …]      # default: every mutant below

The accuracy bar alone cannot tell a subtly broken row from a correct one (results/accuracy.md), so
the suite as a whole must. Each mutant is one small text replacement in a row's source; the script
applies it, runs that row's whole conformance suite (the 5-epoch accuracy test included), restores
the file, and prints a markdown table of the tests that failed. Not collected by pytest: it takes
minutes per mutant. results/accuracy.md holds the table of its last run.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    row: str
    file: str
    old: str
    new: str


MUTANTS = [
    Mutant("no-bias-gradient", "the bias gradients are never accumulated (stay zero)", "c", "c/main.c",
           "dbias[j] += grad[(size_t)i * m + j];", "(void)grad;"),
    Mutant("momentum-sign", "momentum with the wrong sign: v = g − μ·v", "c", "c/main.c",
           "v[i] = momentum * v[i] + g[i];", "v[i] = g[i] - momentum * v[i];"),
    Mutant("no-shuffle", "the training order is never shuffled", "c", "c/main.c",
           "epoch_order(rng, args->shuffle, order, train->n);", "epoch_order(rng, 0, order, train->n);"),
    Mutant("softmax-twice", "the model ends in a softmax, and cross-entropy applies another",
           "pytorch", "pytorch/main.py", "return self.fc3(x)", "return F.softmax(self.fc3(x), dim=1)"),
    Mutant("transposed-load", "fc2.weight (square, so its shape passes) is loaded transposed", "pytorch",
           "pytorch/main.py", "{name: torch.from_numpy(array) for name, array in tensors.items()}",
           "{name: torch.from_numpy(array.T.copy() if name == 'fc2.weight' else array) "
           "for name, array in tensors.items()}"),
]


def tests_of(row: str) -> list[str]:
    """The conformance suite's test ids for one row (its id is one of the parameters in brackets)."""
    listed = subprocess.run([sys.executable, "-m", "pytest", "tests/conformance", "--collect-only", "-q"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    return [t for t in listed if "[" in t and row in t[t.index("[") + 1:-1].split("-")]


def run(mutant: Mutant) -> tuple[list[str], int, float]:
    """Apply the mutant, run its row's suite, restore; the failed tests, how many ran, seconds."""
    path = ROOT / mutant.file
    original = path.read_text()
    if original.count(mutant.old) < 1:
        raise SystemExit(f"error: mutant {mutant.name}: {mutant.file} no longer contains {mutant.old!r}")
    tests = tests_of(mutant.row)
    started = time.perf_counter()
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                                 "-rf", "--tb=no", *tests], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        path.write_text(original)
    failed = [line.split()[1].split("::")[-1] for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    return failed, len(tests), time.perf_counter() - started


def main(names: list[str]) -> None:
    # A SIGTERM must still run run()'s `finally`, which puts the row's source back.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    chosen = [m for m in MUTANTS if not names or m.name in names]
    print("| mutant | bug | row | tests failed | caught by |")
    print("|---|---|---|--:|---|")
    for mutant in chosen:
        failed, total, seconds = run(mutant)
        caught = ", ".join(f"`{name}`" for name in failed) or "**nothing: the suite missed it**"
        print(f"| {mutant.name} | {mutant.bug} | {mutant.row} | {len(failed)} of {total} | {caught} |", flush=True)
        print(f"    ({seconds:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
