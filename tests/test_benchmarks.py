"""Helpers the benchmark reports rely on."""

import sys

import pytest

from digitlib import config

sys.path.insert(0, str(config.ROOT / "benchmarks"))
import bench_uploads  # noqa: E402


def test_wilson_interval_matches_known_values():
    low, high = bench_uploads.wilson_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    # All right: the interval still admits a few errors in a larger set.
    low, high = bench_uploads.wilson_interval(1.0, 500)
    assert low == pytest.approx(0.99237, abs=1e-4) and high == pytest.approx(1.0)
    # More images, a narrower interval around the same accuracy.
    small, large = (
        bench_uploads.wilson_interval(0.93, 300),
        bench_uploads.wilson_interval(0.93, 3000),
    )
    assert small[0] < large[0] < 0.93 < large[1] < small[1]


def test_upload_report_shows_each_accuracy_with_its_interval(tmp_path):
    import json

    report = json.loads((config.REPORTS_DIR / "uploads.json").read_text())
    bench_uploads.write_report(report, tmp_path)
    table = (tmp_path / "uploads.md").read_text()
    for kind, values in report["accuracy"].items():
        low, high = bench_uploads.wilson_interval(values["accuracy"], values["images"])
        assert (
            f"| {kind} | {values['images']} | {values['accuracy']:.2%} | {low:.1%}-{high:.1%} |"
            in table
        )
