"""Platform workarounds: a library's known start-up noise on file descriptor 2 is dropped, the rest passed on."""

import os

from mnist_common import quiet


def test_native_stderr_drops_only_the_noise(capfd):
    with quiet.native_stderr(("oneDNN custom operations are on",)):
        os.write(2, b"I0000 oneDNN custom operations are on. You may see ...\n")
        os.write(2, b"W0000 something worth reading\n")
    assert capfd.readouterr().err.splitlines() == ["W0000 something worth reading"]


def test_tensorflow_sets_its_log_level_unless_given(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    with quiet.tensorflow():
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    with quiet.tensorflow():
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
