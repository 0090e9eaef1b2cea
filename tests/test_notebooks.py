"""The research notebooks run end to end with smoke parameters, and nbval re-checks them."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from digitlib import pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smoke")
    outputs = {
        "model_dir": str(folder / "models"),
        "reports_dir": str(folder / "reports"),
        "figures_dir": str(folder / "reports" / "figures"),
    }
    executed = pipeline.run("smoke", folder / "executed", overrides=outputs, stream_output=False)
    return folder, executed


def test_every_notebook_runs_without_errors(smoke_run):
    _, executed = smoke_run
    assert [path.stem for path in executed] == list(pipeline.NOTEBOOKS)
    for path in executed:
        notebook = nbformat.read(path, as_version=4)
        errors = [
            o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"
        ]
        assert not errors, f"{path.name}: {errors[:1]}"
        assert notebook.metadata.papermill.parameters, "papermill injected the smoke parameters"


def test_pipeline_writes_models_figures_and_metrics(smoke_run):
    folder, _ = smoke_run
    figures = folder / "reports" / "figures"
    for name in (
        "mnist_samples",
        "class_balance",
        "augmentation",
        "training_digit_cnn",
        "training_seed_cnn",
        "confusion_matrix",
        "confident_mistakes",
        "per_class",
        "reliability",
    ):
        png = figures / f"{name}.png"
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    metrics = json.loads((folder / "reports" / "metrics.json").read_text())
    assert set(metrics) == {"digit_cnn", "seed_cnn"}
    for name, values in metrics.items():
        sidecar = json.loads((folder / "models" / f"{name}.json").read_text())
        assert sidecar["metrics"]["test_accuracy"] == values["test_accuracy"]
        assert values["onnx_test_accuracy"] == pytest.approx(values["test_accuracy"], abs=2e-4)
        assert (folder / "models" / f"{name}.md").is_file()
    # Two stages: the clean model, then its fine-tuned copy mixed with it (the committed weights).
    smoke = pipeline.load_params("smoke")
    stage1 = json.loads((folder / "reports" / "history_digit_cnn_clean.json").read_text())
    assert len(stage1["history"]["loss"]) == smoke["epochs"]
    history = json.loads((folder / "reports" / "history_digit_cnn.json").read_text())
    assert len(history["history"]["loss"]) == smoke["finetune_epochs"]
    sidecar = json.loads((folder / "models" / "digit_cnn.json").read_text())
    assert sidecar["training"]["config"]["init_model"].endswith("digit_cnn_clean.keras")
    assert sidecar["stages"]["finetune_alpha"] == smoke["wise_alpha"]
    assert (folder / "models" / "digit_cnn_clean.onnx").is_file()
    # Stage 3: that mix fine-tuned on the pipeline's outputs for uploads of training digits.
    uploads = json.loads((folder / "reports" / "history_digit_cnn_uploads.json").read_text())
    assert len(uploads["history"]["loss"]) == smoke["upload_epochs"]
    stage3 = sidecar["stages"]["uploads"]
    assert stage3["uploads"] == smoke["upload_count"]
    assert stage3["network_inputs"] >= smoke["upload_count"] * 0.8
    assert "Then stage 3" in (folder / "models" / "digit_cnn.md").read_text()


def test_nbval_rechecks_the_marked_outputs(smoke_run):
    _, executed = smoke_run
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            *map(str, executed),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout


def test_unknown_parameter_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not declared by any.*'epochz'"):
        pipeline.run("smoke", tmp_path, overrides={"epochz": 3})


def test_only_accepts_the_whole_parameter_set_but_refuses_overrides_it_would_ignore(tmp_path):
    with pytest.raises(ValueError, match="epochs"):
        pipeline.run("smoke", tmp_path, notebooks=("05-robustness",), overrides={"epochs": 3})
