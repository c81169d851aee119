"""`invoke data`: checksums of decompressed content, and downloading from a local HTTP mirror."""

import functools
import gzip
import http.server
import shutil
import threading

import pytest

from mnist_runner import datasets


@pytest.fixture
def mirror(tmp_path, data_root):
    """A local HTTP server standing in for the public mirror, serving copies of the real files."""
    served = tmp_path / "served"
    served.mkdir()
    for source in (data_root / "mnist").glob("*.gz"):
        shutil.copy(source, served / source.name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_shared_data_checks_out(data_root):
    for dataset in ("mnist", "fashion-mnist"):
        statuses = datasets.verify(data_root, dataset)
        assert all(status.ok for status in statuses), statuses


def test_checksum_is_of_the_decompressed_content(tmp_path, data_root):
    source = data_root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    recompressed = tmp_path / "t10k-labels-idx1-ubyte.gz"
    recompressed.write_bytes(gzip.compress(gzip.decompress(source.read_bytes()), compresslevel=1))
    assert recompressed.read_bytes() != source.read_bytes()
    expected = datasets.SHA256["mnist"]["t10k-labels-idx1-ubyte"]
    assert datasets.verify_file(recompressed, expected).ok


def test_wrong_and_truncated_files_fail_verification(tmp_path, data_root):
    expected = datasets.SHA256["mnist"]["t10k-labels-idx1-ubyte"]
    good = (data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(good[:-10])
    (tmp_path / "other.gz").write_bytes(gzip.compress(b"\0\0\x08\x01" + b"\0" * 20))
    assert "gzip" in datasets.verify_file(tmp_path / "cut.gz", expected).reason
    assert "does not match" in datasets.verify_file(tmp_path / "other.gz", expected).reason
    assert datasets.verify_file(tmp_path / "absent.gz", expected).reason == "missing"


def test_download_from_a_mirror_puts_verified_files_in_place(tmp_path, mirror):
    _, url = mirror
    root = tmp_path / "data"
    log = []
    datasets.fetch(root, "mnist", mirrors=(url,), log=log.append)
    assert all(status.ok for status in datasets.verify(root, "mnist"))
    assert sum(line.startswith("fetched") for line in log) == 4
    log.clear()
    datasets.fetch(root, "mnist", mirrors=(url,), log=log.append)  # second time: only checks
    assert all(line.startswith("ok") for line in log) and len(log) == 4


def test_a_corrupt_download_is_never_used(tmp_path, mirror):
    served, url = mirror
    good = (served / "train-labels-idx1-ubyte.gz").read_bytes()
    (served / "train-labels-idx1-ubyte.gz").write_bytes(good[: len(good) // 2])
    root = tmp_path / "data"
    with pytest.raises(datasets.DataDownloadError) as failure:
        datasets.fetch(root, "mnist", mirrors=(url,), log=lambda line: None)
    assert not (root / "mnist" / "train-labels-idx1-ubyte.gz").exists()
    assert list((root / "mnist").glob(".*part")) == []  # no partial file left behind
    message = str(failure.value)
    assert "train-labels-idx1-ubyte.gz" in message and datasets.SHA256["mnist"]["train-labels-idx1-ubyte"] in message
    assert "t10k-images" not in message  # the good files were fetched


def test_a_bad_local_file_is_replaced(tmp_path, mirror):
    _, url = mirror
    root = tmp_path / "data"
    datasets.fetch(root, "mnist", mirrors=(url,), log=lambda line: None)
    target = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(b"garbage")
    datasets.fetch(root, "mnist", mirrors=(url,), log=lambda line: None)
    assert datasets.verify_file(target, datasets.SHA256["mnist"]["t10k-labels-idx1-ubyte"]).ok


def test_without_network_it_says_which_files_to_put_where(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(datasets.DataDownloadError) as failure:
        datasets.fetch(root, "fashion-mnist", mirrors=("http://127.0.0.1:9/",), timeout=2, log=lambda line: None)
    message = str(failure.value)
    for name in datasets.FILES:
        assert str(root / "fashion-mnist" / f"{name}.gz") in message


def test_data_root_follows_the_contract(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path))
    assert datasets.data_root(None) == tmp_path
    assert datasets.data_root("/explicit") == datasets.Path("/explicit")
    monkeypatch.delenv("MNIST_DATA_DIR")
    assert datasets.data_root(None) == datasets.DEFAULT_ROOT
