"""Training: seeded, scheduled, checkpointed, optionally distributed with ``tf.distribute``."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digitlib import augment as augment_lib
from digitlib import config as project
from digitlib import model as model_lib
from digitlib.data import MNIST, validation_split

DISTRIBUTE_CHOICES = ("none", "mirrored", "multiworker")


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored in the model's sidecar."""

    architecture: str = "default"
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 3e-3  # peak learning rate
    schedule: str = "onecycle"  # "onecycle" (warm-up then cosine decay) or "constant"
    warmup_epochs: float = 1.0
    validation_size: int = 5000  # held out from the 60k training images for checkpointing
    train_limit: int = 0  # use only this many training images (0 = all); for smoke runs
    augment: augment_lib.AugmentConfig = field(default_factory=augment_lib.AugmentConfig)
    seed: int = 42
    deterministic: bool = True
    distribute: str = "none"  # "none", "mirrored" (all local devices) or "multiworker" (TF_CONFIG)
    # Re-estimate BatchNorm's moving statistics on clean training images before each validation:
    # augmentation shifts the batch statistics (lifted backgrounds, noise), and inference sees
    # clean or pipeline-cleaned digits. Training itself uses batch statistics and is unchanged.
    clean_batchnorm: bool = False
    # Start from this saved Keras model instead of fresh weights (a second stage: a model trained
    # on clean digits fine-tuned on corruption-style augmentation). Relative to the repository.
    init_model: str = ""

    def __post_init__(self):
        if isinstance(self.augment, dict):
            self.augment = augment_lib.AugmentConfig.from_dict(self.augment)
        if self.distribute not in DISTRIBUTE_CHOICES:
            raise ValueError(
                f"distribute must be one of {DISTRIBUTE_CHOICES}, got {self.distribute!r}"
            )
        if self.schedule not in ("onecycle", "constant"):
            raise ValueError(f"schedule must be 'onecycle' or 'constant', got {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        values = asdict(self)
        values["augment"] = self.augment.to_dict()
        return values


SEED_CONFIG = TrainConfig(
    architecture="seed",
    epochs=10,
    batch_size=64,
    learning_rate=1e-3,
    schedule="constant",
    augment=augment_lib.SEED_AUGMENT,
)


def refresh_batchnorm(
    network: keras.Model, images: np.ndarray, batches: int = 40, batch_size: int = 256, seed=0
) -> bool:
    """Re-estimate every BatchNorm layer's moving mean and variance on ``images`` (uint8 or
    float, MNIST polarity). Returns False when the network has no BatchNorm."""
    norms = [
        layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not norms:
        return False
    x = augment_lib.to_float(images)
    rng = np.random.default_rng(seed)
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.8  # 40 batches: the old statistics weigh 0.8**40, about 1e-4
    try:
        for _ in range(batches):
            network(x[rng.choice(len(x), batch_size, replace=False)], training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum
    return True


class CleanStatistics(keras.callbacks.Callback):
    """At each epoch's end: BatchNorm statistics from clean training images, then the
    validation loss and accuracy with them, written into the epoch's logs (so that the best
    checkpoint and the epoch line use them)."""

    def __init__(self, fit_images: np.ndarray, validation, seed: int = 0):
        super().__init__()
        self.fit_images = fit_images
        self.validation = validation
        self.seed = seed

    def on_epoch_end(self, epoch, logs=None):
        refresh_batchnorm(self.model, self.fit_images, seed=self.seed + epoch)
        loss, accuracy = self.model.evaluate(self.validation, verbose=0)
        if logs is not None:
            logs["val_loss"], logs["val_accuracy"] = float(loss), float(accuracy)


@dataclass
class TrainResult:
    """The best model of a run and what happened on the way."""

    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int  # 1-based
    best_val_accuracy: float
    train_seconds: float
    config: TrainConfig

    def save_history(self, path: Path | str) -> None:
        """Write the per-epoch history and summary as JSON."""
        payload = {
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_val_accuracy": self.best_val_accuracy,
            "train_seconds": self.train_seconds,
            "config": self.config.to_dict(),
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def make_strategy(distribute: str) -> tf.distribute.Strategy | None:
    """The ``tf.distribute`` strategy for ``distribute``, or None for plain single-device training.

    ``mirrored`` replicates over every visible GPU, or over every logical CPU device when there is
    no GPU. ``multiworker`` reads the cluster from the ``TF_CONFIG`` environment variable.
    """
    if distribute == "none":
        return None
    if distribute == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    if distribute == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"distribute must be one of {DISTRIBUTE_CHOICES}, got {distribute!r}")


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    if config.schedule == "constant":
        return config.learning_rate
    total = config.epochs * steps_per_epoch
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 20,
        decay_steps=max(total - warmup, 1),
        alpha=0.002,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )


class EpochLog(keras.callbacks.Callback):
    """One line of progress per epoch; also records learning rate and epoch time."""

    def __init__(self, epochs: int, log: Callable[[str], None]):
        super().__init__()
        self.epochs = epochs
        self.log = log
        self.best = -math.inf
        self.learning_rates: list[float] = []
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        elapsed = time.perf_counter() - self._start
        rate = self.model.optimizer.learning_rate
        self.learning_rates.append(float(np.asarray(rate)))
        self.seconds.append(elapsed)
        val_acc = logs.get("val_accuracy", -math.inf)
        marker = "  *best" if val_acc > self.best else ""
        self.best = max(self.best, val_acc)
        self.log(
            f"epoch {epoch + 1:>2}/{self.epochs}  loss {logs.get('loss', float('nan')):.4f}  "
            f"acc {logs.get('accuracy', float('nan')):.4f}  "
            f"val_loss {logs.get('val_loss', float('nan')):.4f}  val_acc {val_acc:.4f}  "
            f"lr {self.learning_rates[-1]:.2e}  {elapsed:.1f}s{marker}"
        )


def _resolve(path: str) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else project.ROOT / candidate


def _seeded_split(config: TrainConfig, mnist: MNIST):
    """Seed every generator (deterministic ops when asked) and split off the validation images:
    (x_fit, y_fit, x_val, y_val), the fit part cut to ``config.train_limit`` when set."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    x_fit, y_fit, x_val, y_val = validation_split(
        mnist.x_train, mnist.y_train, config.validation_size, seed=config.seed
    )
    if config.train_limit:
        x_fit, y_fit = x_fit[: config.train_limit], y_fit[: config.train_limit]
    return x_fit, y_fit, x_val, y_val


def train(
    config: TrainConfig,
    mnist: MNIST,
    checkpoint_path: Path | str,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train ``config.architecture`` on MNIST's training split and return the best checkpoint.

    The validation split (``config.validation_size`` images chosen by the seed) never enters
    training; the checkpoint with the best validation accuracy is kept. The test split is not
    touched here.
    """
    x_fit, y_fit, x_val, y_val = _seeded_split(config, mnist)
    train_ds = augment_lib.make_dataset(
        x_fit, y_fit, config.batch_size, config.augment, shuffle=True, seed=config.seed
    )
    val_ds = augment_lib.make_dataset(x_val, y_val, 1000)
    steps_per_epoch = max(
        len(x_fit) // config.batch_size, 1
    )  # training drops the last partial batch

    strategy = make_strategy(config.distribute)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if config.init_model:
            network = keras.models.load_model(_resolve(config.init_model))
        else:
            network = model_lib.build(config.architecture)
        optimizer = keras.optimizers.Adam(learning_rate=_learning_rate(config, steps_per_epoch))
        network.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

    checkpoint_path = Path(checkpoint_path)
    checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    epoch_log = EpochLog(config.epochs, log)
    clean = (
        config.clean_batchnorm
        and strategy is None
        and any(isinstance(layer, keras.layers.BatchNormalization) for layer in network.layers)
    )
    callbacks = [
        *([CleanStatistics(x_fit, val_ds, seed=config.seed)] if clean else []),
        keras.callbacks.ModelCheckpoint(
            checkpoint_path, monitor="val_accuracy", mode="max", save_best_only=True
        ),
        epoch_log,
    ]
    log(
        f"training {config.architecture} ({network.count_params():,} parameters) on "
        f"{len(x_fit):,} images, validating on {len(x_val):,}, {config.epochs} epochs"
    )
    start = time.perf_counter()
    fit = network.fit(
        train_ds,
        validation_data=None if clean else val_ds,  # CleanStatistics validates instead
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the dataset reshuffles itself every epoch
        verbose=0,
    )
    seconds = time.perf_counter() - start

    history = {key: [float(v) for v in values] for key, values in fit.history.items()}
    history["learning_rate"] = epoch_log.learning_rates
    history["epoch_seconds"] = epoch_log.seconds
    best_index = int(np.argmax(history["val_accuracy"]))
    best = keras.models.load_model(checkpoint_path)
    log(
        f"best epoch {best_index + 1} (val_acc {history['val_accuracy'][best_index]:.4f}), "
        f"trained in {seconds / 60:.1f} min"
    )
    return TrainResult(
        model=best,
        history=history,
        best_epoch=best_index + 1,
        best_val_accuracy=history["val_accuracy"][best_index],
        train_seconds=seconds,
        config=config,
    )


def weight_space_mix(
    base: keras.Model, tuned: keras.Model, alpha: float, images: np.ndarray, seed: int = 0
) -> keras.Model:
    """``(1 - alpha) * base + alpha * tuned``, weight by weight, with BatchNorm statistics
    re-estimated on ``images`` (clean training digits).

    A weight-space ensemble of a model and its own fine-tuned copy (WiSE-FT, Wortsman et al.,
    2022): the fine-tuned copy is robust to corruption but a little less accurate on clean
    digits; the mix keeps most of both at the cost of one network.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    base_weights, tuned_weights = base.get_weights(), tuned.get_weights()
    if [w.shape for w in base_weights] != [w.shape for w in tuned_weights]:
        raise ValueError("the two models must have the same architecture")
    mixed = keras.models.clone_model(tuned)
    mixed.set_weights(
        [(1 - alpha) * b + alpha * t for b, t in zip(base_weights, tuned_weights, strict=True)]
    )
    refresh_batchnorm(mixed, images, seed=seed)
    return mixed


def finetune_on_uploads(
    network: keras.Model,
    mnist: MNIST,
    upload_inputs: np.ndarray,
    upload_labels: np.ndarray,
    config: TrainConfig,
    log: Callable[[str], None] = print,
    share: float = 0.5,
) -> TrainResult:
    """Fine-tune ``network`` (in place) on the pipeline's outputs for uploads of training digits
    (:func:`digitlib.uploads.training_inputs`), or on users' corrections (notebook 06), each
    batch ``share`` of those (half by default) and the rest MNIST training digits with
    ``config.augment`` (notebook 03 gives them as they are: augmenting them, even
    half of them, cost clean accuracy and did not help the corruption suite through the
    pipeline). Adam at a constant ``config.learning_rate`` for ``config.epochs`` passes over the
    uploads; the last epoch is kept, with the BatchNorm statistics it trained with (batches of
    both kinds of input the network serves).

    The validation split of ``config.seed`` never enters (pass uploads made from the fit split).
    """
    x_fit, y_fit, x_val, y_val = _seeded_split(config, mnist)
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    half = min(config.batch_size - 1, max(1, round(config.batch_size * share)))
    if len(upload_inputs) < half:
        raise ValueError(
            f"a batch of {config.batch_size} holds {half} upload inputs: need at least {half}, "
            f"got {len(upload_inputs)}"
        )
    uploads = augment_lib.make_dataset(
        upload_inputs, upload_labels, half, shuffle=True, seed=config.seed
    )
    plain = augment_lib.make_dataset(
        x_fit, y_fit, config.batch_size - half, config.augment, shuffle=True, seed=config.seed + 1
    ).repeat()
    train_ds = tf.data.Dataset.zip(uploads, plain).map(
        lambda a, b: (tf.concat([a[0], b[0]], 0), tf.concat([a[1], b[1]], 0))
    )
    val_ds = augment_lib.make_dataset(x_val, y_val, 1000)
    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    epoch_log = EpochLog(config.epochs, log)
    log(
        f"fine-tuning on {len(upload_inputs):,} inputs, {half} of each batch of "
        f"{config.batch_size} (the rest from {len(x_fit):,} training digits), "
        f"{config.epochs} epochs"
    )
    start = time.perf_counter()
    fit = network.fit(
        train_ds,
        validation_data=val_ds,
        epochs=config.epochs,
        callbacks=[epoch_log],
        shuffle=False,  # the datasets reshuffle themselves every epoch
        verbose=0,
    )
    seconds = time.perf_counter() - start
    loss, accuracy = network.evaluate(val_ds, verbose=0)
    history = {key: [float(v) for v in values] for key, values in fit.history.items()}
    history["learning_rate"] = epoch_log.learning_rates
    history["epoch_seconds"] = epoch_log.seconds
    log(f"validation accuracy {accuracy:.4f} (loss {loss:.4f}), {seconds / 60:.1f} min")
    return TrainResult(
        model=network,
        history=history,
        best_epoch=config.epochs,
        best_val_accuracy=float(accuracy),
        train_seconds=seconds,
        config=config,
    )
