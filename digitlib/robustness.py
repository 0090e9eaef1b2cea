"""Accuracy under corruption, raw and through the full pipeline (notebook 05, ``make bench``).

``raw``: the corrupted 28x28 digit goes straight to the network, as in MNIST-C.
``pipeline``: it goes through :meth:`digitlib.Recognizer.predict`, as an upload would; a digit
that the pipeline refuses (no digit found) counts as wrong.
"""

from __future__ import annotations

import numpy as np

from digitlib import corruptions
from digitlib.recognizer import Recognizer


def pipeline_digits(recognizer: Recognizer, images: np.ndarray) -> np.ndarray:
    """Each image through the full serving path; -1 where it was refused."""
    answers = recognizer.predict_many(list(images), errors="return")
    return np.array([getattr(answer, "digit", -1) for answer in answers])


def raw_digits(recognizer: Recognizer, images: np.ndarray) -> np.ndarray:
    return recognizer.probabilities(images.astype(np.float32) / 255.0).argmax(axis=1)


def corruption_table(
    recognizers: dict[str, Recognizer],
    images: np.ndarray,
    labels: np.ndarray,
    names: list[str] | None = None,
    severities=corruptions.SEVERITIES,
    seed: int = 1,
    worst: int = 0,
) -> tuple[list[dict], dict]:
    """One row per (model, path, corruption, severity) with its accuracy, and (when ``worst``)
    the ``worst`` most confident pipeline mistakes per model as (image, truth, answer, name)."""
    rows = []
    failures: dict[str, list] = {model: [] for model in recognizers}
    for name in names or list(corruptions.CORRUPTIONS):
        family = corruptions.CORRUPTIONS[name][0]
        for severity in severities:
            corrupted = corruptions.corrupt(images, name, severity, seed=seed)
            for model, recognizer in recognizers.items():
                for path, digits in (
                    ("raw", raw_digits(recognizer, corrupted)),
                    ("pipeline", pipeline_digits(recognizer, corrupted)),
                ):
                    rows.append(
                        {
                            "model": model,
                            "path": path,
                            "corruption": name,
                            "family": family,
                            "severity": severity,
                            "accuracy": float(np.mean(digits == labels)),
                        }
                    )
                    if worst and path == "pipeline" and severity == 3:
                        wrong = np.flatnonzero(digits != labels)[:2]
                        failures[model] += [
                            (corrupted[i], int(labels[i]), int(digits[i]), name) for i in wrong
                        ]
    if worst:
        failures = {model: items[:worst] for model, items in failures.items()}
    return rows, failures


def summary(rows: list[dict]) -> dict[tuple[str, str], float]:
    """Mean accuracy over every corruption and severity, per (model, path)."""
    keys = sorted({(row["model"], row["path"]) for row in rows})
    return {
        key: float(np.mean([r["accuracy"] for r in rows if (r["model"], r["path"]) == key]))
        for key in keys
    }


def by_corruption(rows: list[dict], model: str, path: str) -> dict[str, float]:
    """Mean accuracy over severities for each corruption."""
    names = list(dict.fromkeys(row["corruption"] for row in rows))
    return {
        name: float(
            np.mean(
                [
                    r["accuracy"]
                    for r in rows
                    if r["corruption"] == name and r["model"] == model and r["path"] == path
                ]
            )
        )
        for name in names
    }
