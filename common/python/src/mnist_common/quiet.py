"""Platform workarounds that keep a framework's start-up chatter off the terminal.

Only stderr is touched, and only lines known to be noise: stdout carries the log lines alone.
"""

import contextlib
import logging
import os
import sys
import tempfile
import warnings

# TensorFlow 2.21 logs these while its C++ libraries load, before TF_CPP_MIN_LOG_LEVEL is read.
TENSORFLOW_BANNER = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on")


@contextlib.contextmanager
def native_stderr(noise: tuple[str, ...]):
    """Capture file descriptor 2 (where C and C++ libraries write) during the block, then pass on
    every line that contains none of the `noise` texts."""
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not any(text in line for text in noise):
                    print(line, file=sys.stderr)


def tensorflow():
    """Wrap `import tensorflow`: its C++ info and warnings off (TF_CPP_MIN_LOG_LEVEL=2 unless set) and
    its start-up banner, which that setting no longer reaches, dropped."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return native_stderr(TENSORFLOW_BANNER)


def lightning() -> None:
    """Lightning's info lines go to stderr already; drop the tips that do not apply to a row."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")
    # lightning 2.6 still builds torch's LeafSpec, which torch 2.15 marks deprecated; harmless.
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*", category=FutureWarning)
