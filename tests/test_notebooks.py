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
    assert stage3["restyle"] == smoke["upload_restyle"] > 0  # other writers and blocky uploads
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


def _models_copy(folder):
    import shutil

    from digitlib import config

    models = folder / "models"
    models.mkdir()
    for name in ("digit_cnn", "digit_gate", "digit_screen"):
        for path in config.MODELS_DIR.glob(f"{name}.*"):
            shutil.copy2(path, models / path.name)
    return models


def _run_06(folder, database):
    outputs = {
        "corrections_db": str(database),
        "model_dir": str(folder / "models"),
        "reports_dir": str(folder / "reports"),
        "figures_dir": str(folder / "reports" / "figures"),
    }
    (executed,) = pipeline.run(
        "smoke", folder / "executed", ("06-corrections",), outputs, stream_output=False
    )
    notebook = nbformat.read(executed, as_version=4)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[:1]
    text = "".join(
        o.get("text", "") for c in notebook.cells for o in c.get("outputs", []) if "text" in o
    )
    return json.loads((folder / "reports" / "corrections_run.json").read_text()), text


def test_notebook_06_learns_from_a_small_database_made_here(tmp_path, mnist):
    import hashlib

    import numpy as np

    from digitlib import corrections, data, synth
    from digitlib.dashboard import Dashboard, UploadedFile
    from digitlib.recognizer import Recognizer

    models = _models_copy(tmp_path)
    before = hashlib.sha256((models / "digit_cnn.onnx").read_bytes()).hexdigest()
    database = tmp_path / "corrections.sqlite"
    # A visitor corrects flagged 1s (training digits, outside the smoke validation split).
    x_fit, y_fit, _, _ = data.validation_split(mnist.x_train, mnist.y_train, 1000, seed=42)
    ones = x_fit[y_fit == 1]
    rng = np.random.default_rng(6)
    app = Dashboard(Recognizer.load(models / "digit_cnn.onnx"), corrections_db=database)
    for n in range(60):
        photo = synth.photo(synth.flag_one(ones[n], rng), 1, rng, side=400)
        (card,) = app.handle([UploadedFile(f"one-{n}.jpg", photo.data, len(photo.data))])
        if card.control is not None and card.control.draft().answer != "1":
            card.control.open()
            card.control.choice.value = "1"
            assert card.control.save() is not None
    saved = corrections.load(database)
    assert len(saved) >= 16, "the committed model reads most flagged 1s as 7"

    run, text = _run_06(tmp_path, database)
    assert run["corrections"] == len(saved) and run["learnable"] == len(saved)
    assert run["learned_from"] + run["held_out"] == len(saved) and run["held_out"] >= 1
    assert f"{len(saved)} corrections, {len(saved)} of them wrong answers" in text
    assert "MNIST test accuracy" in run["reasons"][0] and "held-out" in run["reasons"][1]
    assert (tmp_path / "reports" / "figures" / "corrections.png").is_file()
    after = hashlib.sha256((models / "digit_cnn.onnx").read_bytes()).hexdigest()
    sidecar = json.loads((models / "digit_cnn.json").read_text())
    if run["accepted"]:
        assert after != before and sidecar["files"]["onnx"]["sha256"] == after
        stage = sidecar["stages"]["corrections"]
        assert stage["previous_onnx_sha256"] == before and stage["learned_from"] > 0
        assert "clean" in sidecar["stages"]  # the earlier stages are still recorded
        assert run["after"]["mnist_test"] >= run["before"]["mnist_test"] - 0.0005
        assert run["after"]["held_out"] > run["before"]["held_out"]
        # The screen was distilled from the previous file: not used with the new one.
        assert Recognizer.load(models / "digit_cnn.onnx").screen is None
    else:
        assert after == before and sidecar["files"]["onnx"]["sha256"] == before


def test_notebook_06_with_too_few_corrections_keeps_the_model(tmp_path):
    import hashlib

    models = _models_copy(tmp_path)
    before = hashlib.sha256((models / "digit_cnn.onnx").read_bytes()).hexdigest()
    run, text = _run_06(tmp_path, tmp_path / "none-yet.sqlite")
    assert run["corrections"] == 0 and run["accepted"] is False
    assert "Too few corrections to learn from (0; at least" in text
    assert hashlib.sha256((models / "digit_cnn.onnx").read_bytes()).hexdigest() == before
