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


def test_pairs_hold_two_digits_side_by_side(mnist):
    pairs = gate.pairs(mnist.x_test, 12, seed=5)
    assert pairs.shape == (12, 28, 28) and pairs.dtype == np.float32
    np.testing.assert_array_equal(pairs, gate.pairs(mnist.x_test, 12, seed=5))
    widths, heights = [], []
    for pair in pairs:
        columns = np.flatnonzero(pair.max(axis=0) > 0.3)
        rows = np.flatnonzero(pair.max(axis=1) > 0.3)
        widths.append(columns[-1] - columns[0] + 1)
        heights.append(rows[-1] - rows[0] + 1)
    # Fitted into MNIST's 20x20 box by the long side; two digits side by side are mostly wider
    # than tall (two overlapping 1s need not be).
    assert all(max(w, h) >= 18 for w, h in zip(widths, heights, strict=True))
    assert np.mean(np.array(widths) > np.array(heights)) >= 0.75


def test_the_committed_gate_tells_one_digit_from_two(mnist):
    import digitlib

    recognizer = digitlib.Recognizer.load()
    singles = recognizer.digit_scores(mnist.x_test[:500].astype(np.float32) / 255.0)
    doubles = recognizer.digit_scores(gate.pairs(mnist.x_test[500:], 500, seed=6))
    threshold = recognizer.gate_threshold
    assert np.mean(singles < threshold) <= 0.01
    assert np.mean(doubles < threshold) >= 0.9
