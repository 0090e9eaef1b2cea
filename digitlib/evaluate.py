"""Evaluation metrics on predicted probabilities: accuracy, confusion, per-class, calibration.

Everything here is NumPy on arrays of probabilities, so it serves Keras and ONNX models alike.
"""

from __future__ import annotations

import numpy as np

from digitlib.config import NUM_CLASSES


def predict_probabilities(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Probabilities (N, 10) from a Keras model, called directly in batches (no ``predict``)."""
    from digitlib.augment import to_float

    images = to_float(images)
    chunks = [
        np.asarray(model(images[start : start + batch_size], training=False))
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks).astype(np.float32)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose most probable class is the label."""
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Counts ``cm[true, predicted]`` over the ten classes."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def per_class(matrix: np.ndarray) -> dict[str, list[float]]:
    """Precision, recall, F1 and support per class from a confusion matrix."""
    true_positive = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    precision = np.divide(true_positive, predicted, out=np.zeros(NUM_CLASSES), where=predicted > 0)
    recall = np.divide(true_positive, actual, out=np.zeros(NUM_CLASSES), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(NUM_CLASSES), where=total > 0)
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": actual.astype(int).tolist(),
    }


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Reliability bins and expected calibration error (ECE) of the top-class confidence.

    ECE is the support-weighted mean gap between confidence and accuracy over equal-width
    confidence bins (Guo et al., 2017).
    """
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    acc_sum = np.bincount(index, weights=correct, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        mean_acc = np.where(count > 0, acc_sum / count, np.nan)
    gaps = np.abs(np.nan_to_num(mean_conf) - np.nan_to_num(mean_acc))
    ece = float(np.sum(gaps * count) / max(len(labels), 1))
    return {
        "ece": ece,
        "bin_edges": edges.tolist(),
        "bin_confidence": mean_conf.tolist(),
        "bin_accuracy": mean_acc.tolist(),
        "bin_count": count.astype(int).tolist(),
    }


def confident_mistakes(
    probabilities: np.ndarray, labels: np.ndarray, count: int = 16
) -> np.ndarray:
    """Indices of the wrong predictions, most confident first."""
    predictions = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predictions != labels)
    order = np.argsort(-probabilities[wrong, predictions[wrong]], kind="stable")
    return wrong[order[:count]]


def summarize(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """The headline metrics recorded in sidecars and ``reports/metrics.json``."""
    predictions = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions)
    calib = calibration(probabilities, labels)
    return {
        "test_accuracy": float(np.mean(predictions == labels)),
        "test_errors": int(np.sum(predictions != labels)),
        "test_images": int(len(labels)),
        "ece": calib["ece"],
        "per_class": per_class(matrix),
    }


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling on probabilities: softmax(logits / T) == normalise(p ** (1 / T))."""
    logs = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logs -= logs.max(axis=-1, keepdims=True)
    scaled = np.exp(logs)
    return scaled / scaled.sum(axis=-1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (Guo et al.,
    2017): fit it on a validation split, never on the test set. A golden-section search over
    log T in [1/8, 8] (the NLL is convex in 1/T)."""

    def nll(log_t: float) -> float:
        scaled = apply_temperature(probabilities, float(np.exp(log_t)))
        return float(-np.mean(np.log(np.clip(scaled[np.arange(len(labels)), labels], 1e-12, 1))))

    low, high = np.log(1 / 8), np.log(8.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    for _ in range(60):
        if nll(a) < nll(b):
            high, b = b, a
            a = high - ratio * (high - low)
        else:
            low, a = a, b
            b = low + ratio * (high - low)
    return float(np.exp((low + high) / 2))
