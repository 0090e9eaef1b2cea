"""The committed default model: its files, its recorded metrics, and a fresh evaluation of them."""

from __future__ import annotations

import json

import keras
import numpy as np
import onnxruntime as ort
import pytest

from digitlib import augment, config, data, evaluate

MODELS = ["digit_cnn", "seed_cnn"]


def _sidecar(name):
    return json.loads((config.MODELS_DIR / f"{name}.json").read_text())


@pytest.mark.parametrize("name", MODELS)
def test_files_match_their_recorded_hashes(name):
    sidecar = _sidecar(name)
    for entry in sidecar["files"].values():
        assert data.sha256_file(config.MODELS_DIR / entry["path"]) == entry["sha256"], entry["path"]
    assert sidecar["data"]["sha256"] == data.data_checksum()
    assert (config.MODELS_DIR / f"{name}.md").is_file()


@pytest.mark.parametrize("name", MODELS)
def test_recorded_metrics_match_a_fresh_evaluation(name, mnist):
    recorded = _sidecar(name)["metrics"]
    network = keras.models.load_model(config.MODELS_DIR / f"{name}.keras")
    probabilities = evaluate.predict_probabilities(network, mnist.x_test)
    assert int(np.sum(probabilities.argmax(1) != mnist.y_test)) == recorded["test_errors"]
    assert evaluate.accuracy(probabilities, mnist.y_test) == pytest.approx(
        recorded["test_accuracy"], abs=1e-12
    )

    session = ort.InferenceSession(
        str(config.MODELS_DIR / f"{name}.onnx"), providers=["CPUExecutionProvider"]
    )
    onnx_probabilities = session.run(None, {"image": augment.to_float(mnist.x_test)})[0]
    assert evaluate.accuracy(onnx_probabilities, mnist.y_test) == pytest.approx(
        recorded["onnx_test_accuracy"], abs=1e-12
    )
    np.testing.assert_allclose(onnx_probabilities, probabilities, atol=1e-5)


def test_default_model_meets_the_bar():
    sidecar = _sidecar("digit_cnn")
    assert sidecar["architecture"] == "default"
    assert sidecar["metrics"]["test_accuracy"] >= 0.9970
    # All three stages (clean, the corruption fine-tune mixed back, the upload fine-tune) on
    # this 2-core machine.
    assert sidecar.get("total_train_seconds", sidecar["training"]["train_seconds"]) <= 45 * 60
    assert sidecar["training"]["config"]["train_limit"] == 0, "trained on the full training split"
    card = (config.MODELS_DIR / "digit_cnn.md").read_text()
    assert f"{sidecar['metrics']['test_accuracy']:.2%}" in card
    seed = _sidecar("seed_cnn")
    assert seed["architecture"] == "seed"
    assert sidecar["metrics"]["test_accuracy"] > seed["metrics"]["test_accuracy"]


def test_readme_quotes_the_recorded_figures():
    readme = (config.ROOT / "README.md").read_text()
    for name in MODELS:
        metrics = _sidecar(name)["metrics"]
        assert f"{metrics['test_accuracy']:.2%}" in readme
        assert f"| {metrics['test_errors']} |" in readme
        assert f"{metrics['ece']:.2%}" in readme


def test_calibration_is_fitted_recorded_and_applied(mnist):
    from digitlib import Recognizer

    calibration = _sidecar("digit_cnn")["calibration"]
    assert "validation split" in calibration["fitted_on"]
    assert calibration["ece_after"] <= 0.01
    recognizer = Recognizer.load()
    assert recognizer.temperature == pytest.approx(calibration["temperature"])
    probabilities = recognizer.probabilities(augment.to_float(mnist.x_test))
    fresh = evaluate.calibration(probabilities, mnist.y_test)["ece"]
    assert fresh == pytest.approx(calibration["ece_after"], abs=1e-4)


def test_gate_refuses_non_digits_and_keeps_digits(mnist):
    from digitlib import Recognizer, gate

    card = json.loads((config.MODELS_DIR / "digit_gate.json").read_text())
    recognizer = Recognizer.load()
    assert recognizer.gate is not None
    assert recognizer.gate_threshold == pytest.approx(card["threshold"])
    answers = recognizer.predict_many(list(mnist.x_test[:2000]), errors="return")
    refused = np.mean([isinstance(a, ValueError) for a in answers])
    assert refused <= 0.005
    negatives = gate.evaluation_negatives(60, seed=123)
    for kind, images in negatives.items():
        answers = recognizer.predict_many(images, errors="return")
        assert np.mean([isinstance(a, ValueError) for a in answers]) >= 0.85, kind


def test_default_model_is_the_mix_of_its_two_recorded_stages():
    # Stage 1 (the clean model) is committed beside the default, which notebook 03 fine-tuned
    # from it and mixed with it in weight space.
    stage1 = _sidecar("digit_cnn_clean")
    for entry in stage1["files"].values():
        assert data.sha256_file(config.MODELS_DIR / entry["path"]) == entry["sha256"], entry["path"]
    assert stage1["metrics"]["test_accuracy"] >= 0.9970
    sidecar = _sidecar("digit_cnn")
    assert sidecar["training"]["config"]["init_model"] == "models/digit_cnn_clean.keras"
    assert sidecar["stages"]["clean"] == stage1["training"]
    assert 0.0 < sidecar["stages"]["finetune_alpha"] < 1.0


def test_default_model_records_its_upload_fine_tune():
    # Stage 3 (notebook 03): the mix fine-tuned on the pipeline's outputs for uploads of training
    # digits, its settings and time in the sidecar and the card.
    sidecar = _sidecar("digit_cnn")
    stage3 = sidecar["stages"]["uploads"]
    assert stage3["config"]["epochs"] >= 1 and stage3["network_inputs"] > stage3["uploads"]
    assert stage3["config"]["validation_size"] == sidecar["training"]["config"]["validation_size"]
    recorded = sidecar["training"]["train_seconds"] + sidecar["stages"]["clean"]["train_seconds"]
    assert sidecar["total_train_seconds"] == pytest.approx(
        recorded + stage3["train_seconds"], abs=0.2
    )
    assert "Then stage 3" in (config.MODELS_DIR / "digit_cnn.md").read_text()
