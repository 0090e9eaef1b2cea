"""Metrics computed by hand on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from digitlib import evaluate


def _one_hot(classes, confidence):
    probabilities = np.full((len(classes), 10), (1 - confidence) / 9)
    probabilities[np.arange(len(classes)), classes] = confidence
    return probabilities


def test_confusion_and_per_class():
    labels = np.array([0, 0, 1, 1, 2])
    predictions = np.array([0, 1, 1, 1, 0])
    matrix = evaluate.confusion_matrix(labels, predictions)
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 2 and matrix[2, 0] == 1
    report = evaluate.per_class(matrix)
    assert report["precision"][:3] == pytest.approx([0.5, 2 / 3, 0.0])
    assert report["recall"][:3] == pytest.approx([0.5, 1.0, 0.0])
    assert report["support"][:3] == [2, 2, 1]


def test_ece_is_zero_when_confidence_equals_accuracy_and_large_when_overconfident():
    labels = np.zeros(100, dtype=int)
    predictions = np.where(np.arange(100) < 80, 0, 1)  # 80% right
    assert evaluate.calibration(_one_hot(predictions, 0.8), labels)["ece"] == pytest.approx(
        0.0, abs=1e-9
    )
    assert evaluate.calibration(_one_hot(predictions, 0.99), labels)["ece"] == pytest.approx(
        0.19, abs=1e-6
    )


def test_confident_mistakes_come_first():
    labels = np.array([1, 1, 1, 1])
    probabilities = np.vstack(
        [_one_hot([1], 0.9), _one_hot([2], 0.6), _one_hot([3], 0.95), _one_hot([1], 0.5)]
    )
    assert evaluate.confident_mistakes(probabilities, labels).tolist() == [2, 1]


def test_temperature_scaling_recovers_an_overconfident_models_temperature():
    from digitlib import evaluate

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 20000)
    logits = rng.normal(0, 1, (20000, 10))
    logits[np.arange(20000), labels] += 2.0
    honest = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # Sample labels from the honest probabilities, then make the model 2.5x overconfident.
    labels = np.array([rng.choice(10, p=p) for p in honest])
    overconfident = evaluate.apply_temperature(honest, 1 / 2.5)
    temperature = evaluate.fit_temperature(overconfident, labels)
    assert 2.3 < temperature < 2.7
    before = evaluate.calibration(overconfident, labels)["ece"]
    after = evaluate.calibration(evaluate.apply_temperature(overconfident, temperature), labels)
    assert after["ece"] < 0.02 < before
