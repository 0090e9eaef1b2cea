"""The "is it a digit" gate's data: what it learns from and what it is measured on."""

from __future__ import annotations

import numpy as np

from digitlib import gate


def test_letters_that_handwriting_makes_look_like_digits_are_never_negatives():
    for letter in "OolIZzSsBgq":
        assert letter not in gate.LETTERS
    assert set(gate.LETTERS) & set(gate.DIGIT_LIKE) == set()
    assert len(gate.LETTERS) >= 20


def test_training_and_evaluation_fonts_differ():
    assert not set(gate.TRAIN_FONTS) & set(gate.HELD_OUT_FONTS)


def test_negatives_are_network_inputs_and_deterministic():
    first = gate.training_negatives(16, seed=3)
    again = gate.training_negatives(16, seed=3)
    assert first.shape == (16, 28, 28) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert 0.0 <= first.min() and first.max() <= 1.0
    assert (first.reshape(16, -1).max(axis=1) > 0.5).all(), "each has ink"


def test_evaluation_negatives_come_in_four_kinds():
    held_out = gate.evaluation_negatives(3, seed=4)
    assert set(held_out) == {
        "letters (other fonts)",
        "scribbles",
        "shapes",
        "photos of letters and scribbles",
    }
    photos = held_out["photos of letters and scribbles"]
    assert all(isinstance(p, bytes) and p[:2] == b"\xff\xd8" for p in photos)


def test_positives_mix_plain_augmented_and_uploaded_training_digits(mnist):
    inputs = gate.positives(mnist.x_train[:3000], 30, seed=1)
    assert inputs.shape == (30, 28, 28)
    np.testing.assert_array_equal(inputs[0] > 0, inputs[0] > 0)  # finite, well-formed
    assert np.isfinite(inputs).all()
