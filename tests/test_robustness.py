"""The robustness measurement on the committed model (a few digits: the notebook does it all)."""

from __future__ import annotations

import pytest

from digitlib import robustness
from digitlib.recognizer import Recognizer


@pytest.fixture(scope="module")
def table(mnist):
    recognizers = {"default": Recognizer.load()}
    names = ["inverse", "translate", "gaussian_noise"]
    return robustness.corruption_table(
        recognizers, mnist.x_test[:100], mnist.y_test[:100], names, severities=(2, 4), worst=4
    )


def test_one_row_per_model_path_corruption_and_severity(table):
    rows, failures = table
    assert len(rows) == 1 * 2 * 3 * 2
    assert {row["path"] for row in rows} == {"raw", "pipeline"}
    assert all(0.0 <= row["accuracy"] <= 1.0 for row in rows)
    assert len(failures["default"]) <= 4


def test_the_pipeline_repairs_what_it_can(table):
    rows, _ = table
    pipeline = robustness.by_corruption(rows, "default", "pipeline")
    raw = robustness.by_corruption(rows, "default", "raw")
    # An inverted (dark on light) and an off-centre digit are what the pipeline undoes.
    assert pipeline["inverse"] > raw["inverse"] + 0.2
    # Recentring loses nothing (one digit in the 200 may be refused by the "is it a digit" gate).
    assert pipeline["translate"] >= raw["translate"] - 0.005
    assert min(pipeline.values()) >= 0.8
