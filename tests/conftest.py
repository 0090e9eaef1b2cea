"""Shared fixtures: the verified MNIST arrays and quiet TensorFlow."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from digitlib import data  # noqa: E402


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
