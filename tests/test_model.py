"""Architectures: the seed baseline, the default, and the tiny test model."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib import model


def test_seed_architecture_is_the_seed_notebooks():
    network = model.build("seed")
    kinds = [type(layer).__name__ for layer in network.layers]
    assert kinds == [
        "InputLayer",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert network.count_params() == 225_034


def test_default_is_a_batchnorm_cnn_of_about_300k_parameters():
    network = model.build("default")
    kinds = [type(layer).__name__ for layer in network.layers]
    assert kinds.count("BatchNormalization") == 7
    assert 250_000 < network.count_params() < 400_000


@pytest.mark.parametrize("name", ["seed", "default", "tiny"])
def test_contract_float_28x28x1_in_probabilities_out(name):
    network = model.build(name)
    assert network.input_shape == (None, 28, 28, 1)
    probabilities = np.asarray(network(np.random.default_rng(0).random((3, 28, 28, 1), np.float32)))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ValueError, match="choose one of \\['default', 'seed', 'tiny'\\]"):
        model.build("resnet")
