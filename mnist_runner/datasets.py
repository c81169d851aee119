"""`invoke data`: fetch the IDX files from their public mirrors and verify their content.

The checksums are of the *decompressed* bytes (the same content is gzipped differently by
different mirrors). A file is only ever put in place after its content checked out, so a
wrong or truncated download is never used.
"""

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from mnist_runner import ROOT

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

MIRRORS = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

SHA256 = {  # of the decompressed IDX bytes
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

DEFAULT_ROOT = ROOT / "data"


class DataDownloadError(Exception):
    pass


@dataclass
class FileStatus:
    path: Path
    ok: bool
    reason: str = ""


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """SPEC.md §1: --data-dir, else $MNIST_DATA_DIR, else data/ at the repository root."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("MNIST_DATA_DIR") or DEFAULT_ROOT)


def content_sha256(gz_path: Path) -> str:
    """SHA-256 of a .gz file's decompressed bytes; raises ValueError if it is not valid gzip."""
    digest = hashlib.sha256()
    try:
        with gzip.open(gz_path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"not a complete gzip file ({error or 'truncated'})") from None
    return digest.hexdigest()


def verify_file(path: Path, expected: str) -> FileStatus:
    if not path.is_file():
        return FileStatus(path, False, "missing")
    try:
        actual = content_sha256(path)
    except ValueError as error:
        return FileStatus(path, False, str(error))
    if actual != expected:
        return FileStatus(path, False, f"content SHA-256 {actual[:12]}… does not match {expected[:12]}…")
    return FileStatus(path, True)


def verify(root: Path, dataset: str) -> list[FileStatus]:
    return [verify_file(root / dataset / f"{name}.gz", SHA256[dataset][name]) for name in FILES]


def _download(url: str, destination: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(destination, "wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)


def fetch(root: Path, dataset: str, mirrors: tuple[str, ...] | None = None, timeout: float = 30.0,
          log=print) -> None:
    """Make <root>/<dataset>/ hold the four verified files, downloading what is missing or wrong.

    Raises DataDownloadError naming every file still missing, where to get it and where to put it.
    """
    mirrors = mirrors or MIRRORS[dataset]
    directory = root / dataset
    failures = []
    for status in verify(root, dataset):
        name = status.path.name
        if status.ok:
            log(f"ok       {status.path}")
            continue
        if status.reason != "missing":
            log(f"bad      {status.path}: {status.reason}")
        directory.mkdir(parents=True, exist_ok=True)
        errors = []
        for mirror in mirrors:
            url = mirror + name
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
            os.close(handle)
            temporary = Path(temporary)
            try:
                _download(url, temporary, timeout)
                check = verify_file(temporary, SHA256[dataset][name[:-3]])
                if not check.ok:
                    raise ValueError(check.reason)
                temporary.replace(status.path)  # only verified content reaches the real name
                log(f"fetched  {status.path} from {url}")
                break
            except (urllib.error.URLError, OSError, ValueError) as error:
                errors.append(f"{url}: {getattr(error, 'reason', None) or error}")
            finally:
                temporary.unlink(missing_ok=True)
        else:
            failures.append((status.path, errors))
    if failures:
        lines = [f"could not get {len(failures)} {dataset} file(s). Put them here by hand "
                 f"(the standard gzip-compressed IDX files; content is checked by SHA-256):"]
        for path, errors in failures:
            lines.append(f"  {path}  (sha256 of the decompressed file: {SHA256[dataset][path.name[:-3]]})")
            lines.extend(f"      tried {error}" for error in errors)
        raise DataDownloadError("\n".join(lines))
