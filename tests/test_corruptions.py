"""The corruption suite: deterministic, shape-preserving, and harder with severity."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib import corruptions


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.x_test[:64]


def test_at_least_fifteen_corruptions_in_every_family():
    assert len(corruptions.CORRUPTIONS) >= 15
    families = {family for family, _ in corruptions.CORRUPTIONS.values()}
    assert families == {"noise", "blur", "geometry", "light", "clutter", "style"}


@pytest.mark.parametrize("name", list(corruptions.CORRUPTIONS))
def test_each_corruption_is_deterministic_and_changes_the_digits(digits, name):
    first = corruptions.corrupt(digits, name, 3, seed=5)
    again = corruptions.corrupt(digits, name, 3, seed=5)
    assert first.dtype == np.uint8 and first.shape == digits.shape
    np.testing.assert_array_equal(first, again)
    assert np.mean(first != digits) > 0.01


@pytest.mark.parametrize("name", list(corruptions.CORRUPTIONS))
def test_severity_five_changes_more_than_severity_one(digits, name):
    def change(severity):
        corrupted = corruptions.corrupt(digits, name, severity, seed=5).astype(float)
        return np.abs(corrupted - digits).mean()

    assert change(5) > change(1)


def test_bad_arguments_are_refused(digits):
    with pytest.raises(ValueError, match="unknown corruption"):
        corruptions.corrupt(digits, "sepia", 1)
    with pytest.raises(ValueError, match="severity"):
        corruptions.corrupt(digits, "fog", 6)
    with pytest.raises(ValueError, match="uint8"):
        corruptions.corrupt(digits.astype(np.float32), "fog", 1)
