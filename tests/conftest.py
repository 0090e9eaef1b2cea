"""Shared fixtures: the verified MNIST arrays and quiet TensorFlow."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from digitlib import data  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def corrections_elsewhere(tmp_path_factory):
    """No test writes to the project's own corrections database: every save (the dashboard's,
    the browser tests' server's kernels) goes to a scratch one unless a test names its own."""
    path = tmp_path_factory.mktemp("corrections") / "corrections.sqlite"
    previous = os.environ.get("DIGITLIB_CORRECTIONS_DB")
    os.environ["DIGITLIB_CORRECTIONS_DB"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("DIGITLIB_CORRECTIONS_DB", None)
    else:
        os.environ["DIGITLIB_CORRECTIONS_DB"] = previous


@pytest.fixture(scope="session")
def mnist() -> data.MNIST:
    """The canonical MNIST split (fetched and verified by ``make data`` before the tests)."""
    return data.load_mnist()


# A model that learns in about a second: for tests of training and export, never for results.
TINY_TRAINING = {
    "architecture": "tiny",
    "epochs": 3,
    "train_limit": 4000,
    "validation_size": 1000,
    "learning_rate": 0.01,
    "schedule": "constant",
    "augment": {"rotation": 0.0, "zoom": 0.0, "shift": 0.0},
}
