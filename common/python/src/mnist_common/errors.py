"""Exit statuses (SPEC.md §7): one clear line on stderr for a user's mistake, never a traceback."""

import contextlib
import sys
from typing import Callable

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A flag is unknown, missing its value, or out of range."""


class DataError(Exception):
    """A data or weights file is missing, corrupt or of the wrong shape."""


class Diverged(Exception):
    """The training loss became NaN or infinite."""


@contextlib.contextmanager
def exit_on_error():
    """Turn the contract's errors raised inside the block into an `error: ...` line and an exit status."""
    try:
        yield
    except (UsageError, DataError) as error:
        _fail(str(error), EXIT_BAD_INPUT)
    except Diverged as error:
        _fail(str(error), EXIT_DIVERGED)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)


def run_main(main: Callable[..., None], *args) -> None:
    """Run a row's main(*args) and exit: 0 when it returns, the contract's status when it raises."""
    with exit_on_error():
        main(*args)
    sys.exit(EXIT_OK)


def _fail(message: str, status: int) -> None:
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def check_finite(epoch: int, loss: float) -> None:
    """SPEC.md §3: a non-finite training loss ends the run with exit status 3."""
    if loss != loss or loss in (float("inf"), float("-inf")):
        raise Diverged(f"training diverged in epoch {epoch}: the training loss is {loss}; try a smaller --lr")
