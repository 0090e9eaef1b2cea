"""Model architectures: the seed's baseline and the project's default BatchNorm CNN.

Both take float32 (N, 28, 28, 1) images in [0, 1] (light digit on dark, MNIST style) and return
(N, 10) softmax probabilities.
"""

from __future__ import annotations

import keras
from keras import layers

from digitlib.config import IMAGE_SIZE, NUM_CLASSES

INPUT_NAME = "image"


def build_seed() -> keras.Model:
    """The seed notebook's CNN: two conv/pool stages, a 128-unit dense layer, dropout."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name=INPUT_NAME)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed")


def _conv_bn(x, filters: int, kernel: int, strides: int = 1, padding: str = "valid"):
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def build_default(dropout: float = 0.4) -> keras.Model:
    """The project's default: a BatchNorm CNN of about 330k parameters.

    Two stages of conv-conv-strided conv (learned downsampling instead of pooling), each
    followed by dropout, then a 4x4 conv to a 128-vector and the classifier.
    """
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name=INPUT_NAME)
    x = inputs
    for filters in (32, 64):
        x = _conv_bn(x, filters, 3)
        x = _conv_bn(x, filters, 3)
        x = _conv_bn(x, filters, 5, strides=2, padding="same")
        x = layers.Dropout(dropout)(x)
    x = _conv_bn(x, 128, 4)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="default")


def build_tiny() -> keras.Model:
    """A very small CNN for tests and smoke runs (seconds per epoch)."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name=INPUT_NAME)
    x = _conv_bn(inputs, 16, 3, strides=2, padding="same")
    x = _conv_bn(x, 32, 3, strides=2, padding="same")
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tiny")


ARCHITECTURES = {"seed": build_seed, "default": build_default, "tiny": build_tiny}


def build(architecture: str) -> keras.Model:
    """Build an architecture by name: ``seed``, ``default`` or ``tiny``."""
    try:
        builder = ARCHITECTURES[architecture]
    except KeyError:
        raise ValueError(
            f"unknown architecture {architecture!r}; choose one of {sorted(ARCHITECTURES)}"
        ) from None
    return builder()
