"""Training: learns, keeps the best checkpoint, is reproducible, scales with tf.distribute."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import TINY_TRAINING

from digitlib import evaluate, train

TINY = TINY_TRAINING


@pytest.fixture(scope="module")
def tiny_run(mnist, tmp_path_factory):
    lines = []
    checkpoint = tmp_path_factory.mktemp("train") / "tiny.keras"
    result = train.train(train.TrainConfig(**TINY), mnist, checkpoint, log=lines.append)
    return result, lines, checkpoint


def test_tiny_model_learns_digits(tiny_run, mnist):
    result, _, _ = tiny_run
    probabilities = evaluate.predict_probabilities(result.model, mnist.x_test[:2000])
    assert evaluate.accuracy(probabilities, mnist.y_test[:2000]) > 0.8


def test_one_progress_line_per_epoch_and_best_checkpoint(tiny_run, tmp_path):
    result, lines, checkpoint = tiny_run
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 3 and "val_acc" in epoch_lines[0]
    val = result.history["val_accuracy"]
    assert result.best_epoch == int(np.argmax(val)) + 1
    assert result.best_val_accuracy == max(val)
    assert checkpoint.is_file()
    assert len(result.history["learning_rate"]) == 3 and len(result.history["epoch_seconds"]) == 3

    result.save_history(tmp_path / "history.json")
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["best_epoch"] == result.best_epoch
    assert (
        saved["config"]["architecture"] == "tiny"
        and saved["history"]["loss"] == result.history["loss"]
    )


def test_same_seed_same_weights(tiny_run, mnist, tmp_path):
    first, _, _ = tiny_run
    second = train.train(
        train.TrainConfig(**TINY), mnist, tmp_path / "again.keras", log=lambda line: None
    )
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_onecycle_schedule_warms_up_then_decays(mnist, tmp_path):
    config = train.TrainConfig(
        **{
            **TINY,
            "epochs": 3,
            "schedule": "onecycle",
            "learning_rate": 0.004,
            "warmup_epochs": 1.0,
            "train_limit": 2000,
        }
    )
    result = train.train(config, mnist, tmp_path / "onecycle.keras", log=lambda line: None)
    rates = result.history["learning_rate"]  # sampled at each epoch's end
    assert rates[0] == pytest.approx(0.004, rel=0.02)
    assert rates[0] > rates[1] > rates[2]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("distribute", "horovod", "distribute must be one of"),
        ("schedule", "step", "schedule must be"),
    ],
)
def test_bad_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        train.TrainConfig(**{field: value})


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    # Logical devices must be configured before TensorFlow initialises: use a fresh process.
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
        from digitlib import augment, data, evaluate, train
        strategy = train.make_strategy("mirrored")
        print("REPLICAS", strategy.num_replicas_in_sync)
        config = train.TrainConfig(
            architecture="tiny", epochs=2, train_limit=4000, validation_size=1000,
            learning_rate=0.01, schedule="constant", augment=augment.NO_AUGMENT,
            distribute="mirrored", deterministic=False,
        )
        mnist = data.load_mnist()
        result = train.train(config, mnist, r"{tmp_path / "mirrored.keras"}", log=lambda line: None)
        probs = evaluate.predict_probabilities(result.model, mnist.x_test[:2000])
        print("ACCURACY", evaluate.accuracy(probs, mnist.y_test[:2000]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    values = dict(
        line.split()
        for line in done.stdout.splitlines()
        if line.startswith(("REPLICAS", "ACCURACY"))
    )
    assert values["REPLICAS"] == "2"
    assert float(values["ACCURACY"]) > 0.7


def test_weight_space_mix_lies_between_the_two_models(tiny_run, mnist):
    import keras

    result, _, _ = tiny_run
    base = result.model
    tuned = keras.models.clone_model(base)
    tuned.set_weights([w * 0.5 for w in base.get_weights()])
    trainable = [w.path for w in base.weights if w.trainable]
    for alpha in (0.0, 0.5, 1.0):
        mixed = train.weight_space_mix(base, tuned, alpha, mnist.x_train[:2000])
        values = {w.path: np.asarray(w) for w in mixed.weights}
        for b, t in zip(base.weights, tuned.weights, strict=True):
            if b.trainable:
                expected = (1 - alpha) * np.asarray(b) + alpha * np.asarray(t)
                np.testing.assert_allclose(values[b.path], expected, rtol=1e-6, atol=1e-7)
    assert trainable, "the tiny model has trainable weights"
    # Mixed with itself the model is itself: BatchNorm statistics re-estimated, still reading.
    same = train.weight_space_mix(base, base, 0.5, mnist.x_train[:2000])
    probabilities = evaluate.predict_probabilities(same, mnist.x_test[:1000])
    assert evaluate.accuracy(probabilities, mnist.y_test[:1000]) > 0.8


def test_weight_space_mix_refuses_bad_settings(tiny_run, mnist):
    from digitlib import model as model_lib

    base = tiny_run[0].model
    with pytest.raises(ValueError, match="alpha"):
        train.weight_space_mix(base, base, 1.5, mnist.x_train[:100])
    with pytest.raises(ValueError, match="same architecture"):
        train.weight_space_mix(base, model_lib.build("seed"), 0.5, mnist.x_train[:100])


def test_finetune_on_uploads_learns_the_pipelines_inputs(tiny_run, mnist):
    import keras

    from digitlib import config, uploads
    from digitlib.augment import NO_AUGMENT

    images, labels = mnist.x_train[:3000], mnist.y_train[:3000]
    x, y = uploads.training_inputs(images, labels, 200, config.DEFAULT_ONNX, seed=5, workers=2)
    base = tiny_run[0].model
    tuned = keras.models.clone_model(base)
    tuned.set_weights(base.get_weights())
    settings = {**TINY, "epochs": 5, "batch_size": 32, "learning_rate": 0.003}
    config_ = train.TrainConfig(**{**settings, "augment": NO_AUGMENT.to_dict()})
    lines = []
    result = train.finetune_on_uploads(tuned, mnist, x, y, config_, log=lines.append)
    assert result.model is tuned and len(result.history["loss"]) == 5
    assert sum(line.startswith("epoch ") for line in lines) == 5
    # The tiny model learns the pipeline's inputs it is given (a smaller loss on them) ...
    loss = keras.losses.SparseCategoricalCrossentropy()
    before = float(loss(y, evaluate.predict_probabilities(base, x)))
    after = float(loss(y, evaluate.predict_probabilities(tuned, x)))
    assert after < 0.8 * before, (before, after)
    # ... and still reads plain digits (each batch was half of them).
    plain = evaluate.predict_probabilities(tuned, mnist.x_test[:1000])
    assert evaluate.accuracy(plain, mnist.y_test[:1000]) > 0.8
    with pytest.raises(ValueError, match="at least 16"):
        train.finetune_on_uploads(tuned, mnist, x[:10], y[:10], config_)
