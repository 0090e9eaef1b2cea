"""Stage 3's training data: what the serving pipeline makes of uploads of training digits."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib import config, uploads
from digitlib.recognizer import Recognizer


@pytest.fixture(scope="module")
def made(mnist):
    images, labels = mnist.x_train[:3000], mnist.y_train[:3000]
    return uploads.training_inputs(images, labels, 30, config.DEFAULT_ONNX, seed=3, workers=2)


def test_uploads_become_labelled_network_inputs(made):
    x, y = made
    # 30 uploads: 24 single digits and 6 numbers of 3-6 digits, each kept only when cut whole.
    assert x.shape[1:] == (28, 28) and x.dtype == np.float32 and len(x) == len(y)
    assert 30 <= len(x) <= 24 + 6 * 6
    assert 0.0 <= x.min() and x.max() <= 1.0
    # The pipeline's outputs, not MNIST's own images: resampled, so grey levels MNIST rarely has.
    assert np.mean((x > 0.05) & (x < 0.95)) > 0.05
    # The labels follow the inputs (a number's digits in reading order): the committed model,
    # which reads such uploads of test digits 98-99% right, agrees with nearly all of them.
    read = Recognizer.load().probabilities(x).argmax(axis=1)
    assert np.mean(read == y) >= 0.9


def test_the_same_seed_makes_the_same_inputs_and_another_seed_others(mnist, made):
    images, labels = mnist.x_train[:3000], mnist.y_train[:3000]
    again = uploads.training_inputs(images, labels, 30, config.DEFAULT_ONNX, seed=3, workers=2)
    np.testing.assert_array_equal(again[0], made[0])
    np.testing.assert_array_equal(again[1], made[1])
    other = uploads.training_inputs(images, labels, 10, config.DEFAULT_ONNX, seed=4, workers=1)
    assert not np.array_equal(other[0][:5], made[0][:5])


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="count"):
        uploads.training_inputs(np.zeros((1, 28, 28), np.uint8), np.zeros(1), -1, "x.onnx")
