"""Export: ONNX agrees with Keras on real digits; sidecars and cards carry provenance."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
from conftest import TINY_TRAINING

from digitlib import augment, data, evaluate, export, model, train


@pytest.fixture(scope="module")
def trained(mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    config = train.TrainConfig(**{**TINY_TRAINING, "epochs": 1, "train_limit": 3000})
    result = train.train(config, mnist, folder / "ckpt.keras", log=lambda line: None)
    stem = folder / "tiny_cnn"
    export.save_model(result.model, stem)
    export.write_sidecar(stem, result.model, result)
    return result, stem


def _onnx(path, images):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "image"
    return session.run(None, {"image": augment.to_float(images)})[0]


@pytest.mark.parametrize("architecture", ["seed", "default"])
def test_onnx_matches_keras_on_real_digits(mnist, tmp_path, architecture):
    network = model.build(architecture)
    path = export.export_onnx(network, tmp_path / f"{architecture}.onnx")
    digits = mnist.x_test[:500]
    np.testing.assert_allclose(
        _onnx(path, digits), evaluate.predict_probabilities(network, digits), atol=1e-5
    )


def test_sidecar_records_provenance(trained):
    result, stem = trained
    sidecar = json.loads(stem.with_suffix(".json").read_text())
    assert sidecar["architecture"] == "tiny"
    assert sidecar["parameters"] == result.model.count_params()
    assert sidecar["data"]["sha256"] == data.data_checksum()
    assert sidecar["data"]["files"] == data.MNIST_FILES
    assert sidecar["training"]["config"]["train_limit"] == 3000
    assert sidecar["training"]["best_epoch"] == result.best_epoch
    assert len(sidecar["git"]["commit"]) == 40
    for kind in ("keras", "onnx"):
        entry = sidecar["files"][kind]
        assert entry["sha256"] == data.sha256_file(stem.parent / entry["path"])


def test_metrics_and_model_card(trained, mnist):
    result, stem = trained
    probabilities = evaluate.predict_probabilities(result.model, mnist.x_test)
    summary = evaluate.summarize(probabilities, mnist.y_test)
    summary["onnx_test_accuracy"] = evaluate.accuracy(
        _onnx(stem.with_suffix(".onnx"), mnist.x_test), mnist.y_test
    )
    export.record_metrics(stem, summary)
    card = export.write_model_card(stem).read_text()
    assert f"{summary['test_accuracy']:.2%}" in card
    assert "## Intended use" in card and "## Limits" in card
    assert export.read_sidecar(stem)["metrics"]["test_errors"] == summary["test_errors"]
