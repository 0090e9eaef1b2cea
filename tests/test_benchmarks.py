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
        # A set made with another seed ("number@4242") is named with its seed in words.
        name, _, seed = kind.partition("@")
        shown = f"{name} (seed {seed}, never tuned on)" if seed else name
        assert (
            f"| {shown} | {values['images']} | {values['accuracy']:.2%} | {low:.1%}-{high:.1%} |"
            in table
        )


def test_time_to_accuracy_says_the_default_run_is_a_fine_tune_of_a_trained_stage():
    import json

    import bench_all

    card = json.loads((config.MODELS_DIR / "digit_cnn.json").read_text())
    runs = bench_all.time_to_accuracy()
    # The recorded history is stage 2, which starts from stage 1 at over 99%: the row must say so
    # and give the time of every stage, not pass the fine-tune off as a run from scratch.
    assert runs["digit_cnn"]["stages"] == 3
    assert runs["digit_cnn"]["all_stages_seconds"] == card["total_train_seconds"]
    assert "stages" not in runs["seed_cnn"]
    row = next(
        line
        for line in (config.REPORTS_DIR / "benchmarks.md").read_text().splitlines()
        if line.startswith("| time to accuracy")
    )
    assert f"all 3 stages {card['total_train_seconds'] / 60:.1f} min" in row
