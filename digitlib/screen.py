"""The screen: a small network that answers for a clear digit, in place of the two large ones.

Every input is read by the classifier (about 30 MFLOPs) and the gate (about 18 MFLOPs): on two
cores about 350 us an image together, which caps ``predict_many`` near 2,800 images/s before any
preprocessing. Most inputs are clear digits on which both are sure. The screen, a network of
about 3 MFLOPs with two heads (ten digit probabilities and "is this a digit"), is trained to
give the answers the two networks give (their outputs are its targets: distillation) on the
gate's own training images: MNIST *training* digits plain, augmented and rendered as uploads,
and generated non-digits. Where it is sure of both answers (its top probability at least
``accept_probability`` and its digit score at least ``accept_digit_score``) its answer is taken;
anything else is read by the two networks as before (:class:`digitlib.Recognizer`).

The two thresholds are chosen on validation images (other training digits, other non-digits):
the safest pair at which the screen still answers ``ANSWER_AT_LEAST`` of the digits, taking no
input the gate would refuse (:func:`choose_thresholds`). Trained and measured by notebook 04;
its card (``models/digit_screen.json``) holds the thresholds and what was measured.
"""

from __future__ import annotations

import numpy as np

from digitlib import gate

SCREEN_NAME = "digit_screen"
ANSWER_AT_LEAST = 0.95  # of the validation digits: enough for the speed, not more
PROBABILITY_STEPS = (0.8, 0.9, 0.95, 0.97, 0.99, 0.995)
DIGIT_SCORE_STEPS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995)


def build_screen():
    """Three small conv/BatchNorm stages (16, 32, 64 filters; two max-pools) and a 64-unit
    layer shared by the two heads: ``probabilities`` (10) and ``is_digit`` (1)."""
    import keras
    from keras import layers

    def conv_bn(x, filters: int, padding: str = "same"):
        x = layers.Conv2D(filters, 3, padding=padding, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(x)

    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.MaxPooling2D()(conv_bn(inputs, 16))
    x = layers.MaxPooling2D()(conv_bn(x, 32))
    x = layers.Flatten()(conv_bn(x, 64, padding="valid"))
    x = layers.Dense(64, activation="relu")(layers.Dropout(0.2)(x))
    probabilities = layers.Dense(10, activation="softmax", name="probabilities")(x)
    is_digit = layers.Dense(1, activation="sigmoid", name="is_digit")(x)
    return keras.Model(inputs, [probabilities, is_digit], name=SCREEN_NAME)


def training_images(digit_images: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """The images the screen learns from, as network inputs: ``digit_images`` (MNIST training
    digits) as they are (at most ``2 * count`` of them), and the gate's training set (``count``
    digits, ``count`` non-digits and ``count // 4`` pairs of touching digits,
    :mod:`digitlib.gate`)."""
    return np.concatenate(
        [
            digit_images[: 2 * count].astype(np.float32) / 255.0,
            gate.positives(digit_images, count, seed),
            gate.training_negatives(count, seed),
            gate.pairs(digit_images, count // 4, seed),
        ]
    ).astype(np.float32)


def train_screen(
    images: np.ndarray,
    probabilities: np.ndarray,
    digit_scores: np.ndarray,
    epochs: int = 8,
    seed: int = 0,
    log=print,
):
    """Train the screen to give ``probabilities`` (N, 10) and ``digit_scores`` (N,): the
    classifier's and the gate's outputs on ``images`` (N, 28, 28)."""
    import keras

    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(images))
    model = build_screen()
    steps = max(1, epochs * (len(images) // 128))
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss={"probabilities": "categorical_crossentropy", "is_digit": "binary_crossentropy"},
    )
    model.fit(
        images[order][..., None],
        {
            "probabilities": probabilities[order],
            "is_digit": digit_scores[order].reshape(-1, 1),
        },
        batch_size=128,
        epochs=epochs,
        verbose=0,
        callbacks=[gate.epoch_logger("screen", epochs, log)],
    )
    return model


def answered(
    screen_probabilities: np.ndarray,
    screen_scores: np.ndarray,
    accept_probability: float,
    accept_digit_score: float,
) -> np.ndarray:
    """Which inputs the screen answers: sure of the digit and sure that it is one."""
    return (screen_probabilities.max(axis=1) >= accept_probability) & (
        screen_scores >= accept_digit_score
    )


def choose_thresholds(
    screen_probabilities: np.ndarray,
    screen_scores: np.ndarray,
    probabilities: np.ndarray,
    digit_scores: np.ndarray,
    gate_threshold: float,
    is_digit: np.ndarray,
) -> dict:
    """The safest thresholds at which the screen still answers ``ANSWER_AT_LEAST`` of the
    validation digits (``is_digit``): among those at which it answers no input the gate
    refuses, the fewest disagreements with the classifier, then the fewest validation
    non-digits answered, then the highest top-probability threshold (the digits validation
    cannot show it misreading are those the classifier itself is unsure of), then the most
    digits; with what was measured there. A screen that cannot (a smoke run's) gets thresholds
    above 1: it answers nothing."""
    refused = digit_scores < gate_threshold
    disagrees = screen_probabilities.argmax(axis=1) != probabilities.argmax(axis=1)
    candidates = []
    for accept_probability in PROBABILITY_STEPS:
        for accept_digit_score in DIGIT_SCORE_STEPS:
            sure = answered(
                screen_probabilities, screen_scores, accept_probability, accept_digit_score
            )
            digits = float(sure[is_digit].mean()) if is_digit.any() else 0.0
            if (sure & refused).any() or digits < ANSWER_AT_LEAST:
                continue
            candidates.append(
                {
                    "accept_probability": accept_probability,
                    "accept_digit_score": accept_digit_score,
                    "digits_answered": digits,
                    "non_digits_answered": float(sure[~is_digit].mean())
                    if (~is_digit).any()
                    else 0.0,
                    "disagreements": int((sure & disagrees).sum()),
                    "answered": int(sure.sum()),
                }
            )
    if not candidates:
        return {"accept_probability": 1.1, "accept_digit_score": 1.1, "digits_answered": 0.0}
    return min(
        candidates,
        key=lambda c: (
            c["disagreements"],
            c["non_digits_answered"],
            -c["accept_probability"],
            -c["digits_answered"],
        ),
    )
