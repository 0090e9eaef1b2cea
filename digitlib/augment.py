"""Training-time augmentation: Keras 3 preprocessing layers in a ``tf.data`` pipeline.

The seed's augmentation (rotation, zoom, shift) is rebuilt with Keras preprocessing layers,
then extended for real handwriting and real uploads: shear, elastic distortion, stroke
thickness, mild blur, stray lines, uneven lighting, sensor and impulse noise. Every transform is
switched by one field of :class:`AugmentConfig` (0 turns it off). Images are float32 in [0, 1],
shape (N, 28, 28, 1), MNIST polarity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import keras
import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each transform; 0 switches it off."""

    rotation: float = 10.0  # maximum rotation, degrees either way
    zoom: float = 0.10  # maximum relative zoom in or out
    shift: float = 0.10  # maximum shift, fraction of the image side
    shear: float = 0.0  # maximum shear factor (x and y)
    elastic: float = 0.0  # elastic distortion: RMS displacement in pixels (Simard et al., 2003)
    elastic_sigma: float = 4.0  # smoothness of the elastic displacement field, pixels
    thickness: float = 0.0  # probability of thinning or thickening the strokes
    blur: float = 0.0  # probability of a mild Gaussian blur
    noise: float = 0.0  # maximum standard deviation of Gaussian noise (added to half the images)
    impulse: float = 0.0  # probability of salt-and-pepper pixels (up to 6% of them)
    lines: float = 0.0  # probability of one or two stray strokes, solid or dotted, across it
    lighting: float = 0.0  # probability of low contrast, a lifted background and uneven fog
    motion: float = 0.0  # probability of a straight motion blur (camera shake), 2-9 pixels long
    jitter: float = 0.0  # probability of frosted-glass blur: every pixel moved up to 2 px
    outline: float = 0.0  # probability of keeping only the strokes' outlines (an edge detector)
    bold: float = 0.0  # probability of a heavy marker: strokes 2-6 pixels wider

    @classmethod
    def from_dict(cls, values: dict | None) -> AugmentConfig:
        """Build from a (possibly partial) dict such as a notebook parameter; unknown keys fail."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"unknown augmentation settings: {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**{k: float(v) for k, v in values.items()})

    def to_dict(self) -> dict:
        """Plain dict for JSON sidecars."""
        return asdict(self)


SEED_AUGMENT = AugmentConfig(rotation=10.0, zoom=0.10, shift=0.10)
NO_AUGMENT = AugmentConfig(rotation=0.0, zoom=0.0, shift=0.0)


def _op_seed(seed: int | None, index: int) -> int | None:
    """Distinct op-level seeds within a layer (equal seeds would draw equal numbers)."""
    return None if seed is None else seed * 1000 + index


def _gaussian_taps(sigma: float) -> np.ndarray:
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-(np.arange(-radius, radius + 1, dtype=np.float32) ** 2) / (2 * sigma**2))
    return taps / taps.sum()


class ElasticDistortion(keras.layers.Layer):
    """Simard-style elastic distortion: a smooth random displacement field, bilinear warp.

    Keras's ``RandomElasticTransform`` caps its field at a tenth of the image side, which on
    28x28 digits barely moves a pixel; this layer's strength is the field's RMS displacement
    in pixels, independent per image.
    """

    def __init__(self, displacement: float, sigma: float = 4.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.displacement = displacement
        self.sigma = sigma
        self.seed = seed
        self._taps = _gaussian_taps(sigma)

    def _smooth_field(self, batch, height, width, index):
        noise = tf.random.normal([batch, height, width, 1], seed=_op_seed(self.seed, index))
        taps = tf.constant(self._taps)
        noise = tf.nn.conv2d(noise, tf.reshape(taps, [-1, 1, 1, 1]), 1, "SAME")
        noise = tf.nn.conv2d(noise, tf.reshape(taps, [1, -1, 1, 1]), 1, "SAME")[..., 0]
        rms = tf.sqrt(tf.reduce_mean(noise**2, axis=[1, 2], keepdims=True) + 1e-12)
        return noise / rms * self.displacement

    def call(self, images, training=True):
        if not training or self.displacement <= 0:
            return images
        shape = tf.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        dx = self._smooth_field(batch, height, width, 1)
        dy = self._smooth_field(batch, height, width, 2)
        return _bilinear_warp(images, dx, dy)


def _bilinear_warp(images, dx, dy):
    """Sample ``images`` (B, H, W, 1) at (y + dy, x + dx); outside the frame is background (0)."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    grid_y, grid_x = tf.meshgrid(
        tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij"
    )
    x = grid_x[None] + dx
    y = grid_y[None] + dy
    x0, y0 = tf.floor(x), tf.floor(y)
    wx, wy = x - x0, y - y0
    padded = tf.pad(images[..., 0], [[0, 0], [1, 1], [1, 1]])  # a ring of background
    batch_index = tf.broadcast_to(tf.range(batch)[:, None, None], tf.shape(x))

    def at(rows, cols):
        rows = tf.clip_by_value(tf.cast(rows, tf.int32) + 1, 0, height + 1)
        cols = tf.clip_by_value(tf.cast(cols, tf.int32) + 1, 0, width + 1)
        return tf.gather_nd(padded, tf.stack([batch_index, rows, cols], axis=-1))

    top = (1 - wx) * at(y0, x0) + wx * at(y0, x0 + 1)
    bottom = (1 - wx) * at(y0 + 1, x0) + wx * at(y0 + 1, x0 + 1)
    return ((1 - wy) * top + wy * bottom)[..., None]


class _PerImage(keras.layers.Layer):
    """A transform applied to each image with probability ``probability`` (seeded)."""

    def __init__(self, probability: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.probability = probability
        self.seed = seed

    def _on_some(self, images, transform):
        """``transform`` run on the drawn images only (gathered, then scattered back): the
        costly transforms touch a tenth of a batch instead of all of it and a selection."""
        if self.probability <= 0:
            return images
        draw = tf.random.uniform([tf.shape(images)[0]], seed=_op_seed(self.seed, 0))
        chosen = tf.where(draw < self.probability)
        return tf.tensor_scatter_nd_update(images, chosen, transform(tf.gather_nd(images, chosen)))


class StrokeThickness(_PerImage):
    """Thicken (grey dilation) or thin (grey erosion) strokes by a random amount per image."""

    def call(self, images, training=True):
        if not training or self.probability <= 0:
            return images
        batch = tf.shape(images)[0]
        dilated = tf.nn.max_pool2d(images, 3, 1, "SAME")
        eroded = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
        pick = tf.random.uniform([batch, 1, 1, 1], seed=_op_seed(self.seed, 1))
        amount = tf.random.uniform([batch, 1, 1, 1], seed=_op_seed(self.seed, 2))
        thicken = pick < self.probability / 2
        thin = (pick >= self.probability / 2) & (pick < self.probability)
        # A full 3x3 erosion wipes out a 2-pixel stroke, so thinning goes at most halfway.
        images = tf.where(thicken, images + (0.3 + 0.7 * amount) * (dilated - images), images)
        return tf.where(thin, images + (0.2 + 0.3 * amount) * (eroded - images), images)


class MildBlur(keras.layers.Layer):
    """With the given probability per image, blur with a Gaussian of sigma 0.5-1.0 pixels."""

    def __init__(self, probability: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.probability = probability
        self.seed = seed
        taps = np.arange(-2, 3, dtype=np.float32)
        kernel = np.exp(-(taps[:, None] ** 2 + taps[None, :] ** 2) / (2 * 1.0**2))
        self._kernel = (kernel / kernel.sum())[:, :, None, None]

    def call(self, images, training=True):
        if not training or self.probability <= 0:
            return images
        batch = tf.shape(images)[0]
        blurred = tf.nn.conv2d(images, tf.constant(self._kernel), 1, "SAME")
        draw = tf.random.uniform([batch, 1, 1, 1], seed=_op_seed(self.seed, 1))
        apply = tf.cast(draw < self.probability, tf.float32)
        amount = apply * tf.random.uniform([batch, 1, 1, 1], 0.5, 1.0, seed=_op_seed(self.seed, 2))
        return images + amount * (blurred - images)


class SensorNoise(keras.layers.Layer):
    """To half the images, add Gaussian noise of standard deviation up to ``stddev`` (per
    image), clipped to [0, 1]; the other half stay clean."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = stddev
        self.seed = seed

    def call(self, images, training=True):
        if not training or self.stddev <= 0:
            return images
        batch = tf.shape(images)[0]
        sigma = tf.random.uniform([batch, 1, 1, 1], 0.0, self.stddev, seed=_op_seed(self.seed, 1))
        noisy = tf.random.uniform([batch, 1, 1, 1], seed=_op_seed(self.seed, 3)) < 0.5
        sigma = tf.where(noisy, sigma, 0.0)
        noise = tf.random.normal(tf.shape(images), seed=_op_seed(self.seed, 2)) * sigma
        return tf.clip_by_value(images + noise, 0.0, 1.0)


class ImpulseNoise(_PerImage):
    """With the given probability per image, set up to 6% of its pixels to black or white."""

    def call(self, images, training=True):
        if not training or self.probability <= 0:
            return images
        batch = tf.shape(images)[0]
        apply = tf.random.uniform([batch, 1, 1, 1], seed=_op_seed(self.seed, 1)) < self.probability
        density = tf.random.uniform([batch, 1, 1, 1], 0.0, 0.06, seed=_op_seed(self.seed, 2))
        draw = tf.random.uniform(tf.shape(images), seed=_op_seed(self.seed, 3))
        salted = tf.where(draw < density / 2, 1.0, images)
        salted = tf.where((draw >= density / 2) & (draw < density), 0.0, salted)
        return tf.where(apply, salted, images)


class StrayLines(_PerImage):
    """With the given probability per image, draw one or two anti-aliased strokes across it,
    solid or dotted, of random width and brightness: ruled lines, crossings-out, scanner
    stripes."""

    def _line(self, batch, size, index):
        def uniform(low, high, k):
            return tf.random.uniform([batch, 1, 1], low, high, seed=_op_seed(self.seed, index + k))

        ax, ay, bx, by = (uniform(-4.0, size + 4.0, k) for k in range(4))
        width = uniform(0.4, 1.3, 4)
        brightness = uniform(0.5, 1.0, 5)
        dotted = tf.cast(uniform(0.0, 1.0, 6) < 0.4, tf.float32)
        grid = tf.cast(tf.range(size), tf.float32)
        px, py = grid[None, None, :], grid[None, :, None]
        dx, dy = bx - ax, by - ay
        along = tf.clip_by_value(
            ((px - ax) * dx + (py - ay) * dy) / tf.maximum(dx * dx + dy * dy, 1e-6), 0.0, 1.0
        )
        distance = tf.sqrt((px - ax - along * dx) ** 2 + (py - ay - along * dy) ** 2)
        stroke = tf.clip_by_value(width + 0.5 - distance, 0.0, 1.0) * brightness
        length = tf.sqrt(dx * dx + dy * dy)
        dots = tf.cast(tf.sin(along * length * 1.6) > 0.0, tf.float32)
        return stroke * (1.0 - dotted + dotted * dots)

    def call(self, images, training=True):
        if not training or self.probability <= 0:
            return images
        batch, size = tf.shape(images)[0], images.shape[1]
        first = self._line(batch, size, 10)
        second = self._line(batch, size, 20)
        two = tf.random.uniform([batch, 1, 1], seed=_op_seed(self.seed, 1)) < 0.35
        strokes = tf.maximum(first, tf.where(two, second, 0.0))[..., None]
        apply = tf.random.uniform([batch, 1, 1, 1], seed=_op_seed(self.seed, 2)) < self.probability
        return tf.where(apply, tf.maximum(images, strokes), images)


class Lighting(_PerImage):
    """With the given probability per image: lower the contrast, lift the background and add
    smooth uneven fog, each by a random amount."""

    def call(self, images, training=True):
        if not training or self.probability <= 0:
            return images
        batch, size = tf.shape(images)[0], images.shape[1]

        def uniform(shape, low, high, k):
            return tf.random.uniform(shape, low, high, seed=_op_seed(self.seed, k))

        contrast = uniform([batch, 1, 1, 1], 0.2, 1.0, 1)
        lift = uniform([batch, 1, 1, 1], 0.0, 0.5, 2)
        fog = uniform([batch, 1, 1, 1], 0.0, 0.5, 3) * tf.cast(
            uniform([batch, 1, 1, 1], 0.0, 1.0, 4) < 0.5, tf.float32
        )
        field = tf.image.resize(uniform([batch, 4, 4, 1], 0.0, 1.0, 5), [size, size], "bicubic")
        lit = lift * (1.0 - contrast) + images * contrast + fog * field
        apply = uniform([batch, 1, 1, 1], 0.0, 1.0, 6) < self.probability
        return tf.where(apply, tf.clip_by_value(lit, 0.0, 1.0), images)


def _uniform(layer, shape, low, high, index):
    return tf.random.uniform(shape, low, high, seed=_op_seed(layer.seed, index))


class MotionBlur(_PerImage):
    """With the given probability per image, average it along a straight path of 2-9 pixels at
    a random angle, as a shaken camera or a moving page smears the strokes."""

    taps = 9

    def _transform(self, images):
        batch, size = tf.shape(images)[0], images.shape[1]
        angle = _uniform(self, [batch, 1, 1], 0.0, np.pi, 1)
        length = _uniform(self, [batch, 1, 1], 2.0, 9.0, 2)
        total = tf.zeros_like(images)
        for t in np.linspace(-0.5, 0.5, self.taps, dtype=np.float32):
            dx = tf.broadcast_to(t * length * tf.cos(angle), [batch, size, size])
            dy = tf.broadcast_to(t * length * tf.sin(angle), [batch, size, size])
            total += _bilinear_warp(images, dx, dy)
        return total / self.taps

    def call(self, images, training=True):
        return self._on_some(images, self._transform) if training else images


class GlassJitter(_PerImage):
    """With the given probability per image, frosted glass: each pixel taken from up to 2
    pixels away in a random direction (independently per pixel), then softened a little."""

    def _transform(self, images):
        batch, size = tf.shape(images)[0], images.shape[1]
        reach = _uniform(self, [batch, 1, 1], 0.8, 2.0, 1)
        dx = _uniform(self, [batch, size, size], -1.0, 1.0, 2) * reach
        dy = _uniform(self, [batch, size, size], -1.0, 1.0, 3) * reach
        kernel = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25]).astype(np.float32)
        return tf.nn.conv2d(
            _bilinear_warp(images, dx, dy), tf.constant(kernel[:, :, None, None]), 1, "SAME"
        )

    def call(self, images, training=True):
        return self._on_some(images, self._transform) if training else images


class Outline(_PerImage):
    """With the given probability per image, keep the outline of every stroke (its
    morphological gradient, as an edge detector sees it) and a faded trace of its inside."""

    def _transform(self, images):
        soft = tf.nn.avg_pool2d(images, 2, 1, "SAME")  # edges of a lightly smoothed digit
        gradient = tf.nn.max_pool2d(soft, 3, 1, "SAME") + tf.nn.max_pool2d(-soft, 3, 1, "SAME")
        peak = tf.reduce_max(gradient, axis=[1, 2, 3], keepdims=True)
        edges = tf.clip_by_value(gradient / tf.maximum(peak, 1e-3) * 1.4 - 0.2, 0.0, 1.0)
        inside = _uniform(self, [tf.shape(images)[0], 1, 1, 1], 0.0, 0.5, 1) * images
        return tf.maximum(edges, inside)

    def call(self, images, training=True):
        return self._on_some(images, self._transform) if training else images


class BoldStrokes(_PerImage):
    """With the given probability per image, a heavy marker: one to three rounds of 3x3 grey
    dilation (strokes 2-6 pixels wider), the last one partial."""

    def _transform(self, images):
        rounds = _uniform(self, [tf.shape(images)[0], 1, 1, 1], 1.0, 3.0, 1)
        for step in range(3):
            grown = tf.nn.max_pool2d(images, 3, 1, "SAME")
            images = images + tf.clip_by_value(rounds - step, 0.0, 1.0) * (grown - images)
        return images

    def call(self, images, training=True):
        return self._on_some(images, self._transform) if training else images


def build_augmenter(config: AugmentConfig, seed: int = 0) -> keras.Sequential:
    """The augmentation pipeline for ``config`` as a Keras model of preprocessing layers."""
    fill = {"fill_mode": "constant", "fill_value": 0.0}  # MNIST background is black
    layers: list[keras.layers.Layer] = []
    if config.rotation > 0:
        layers.append(keras.layers.RandomRotation(config.rotation / 360.0, seed=seed, **fill))
    if config.zoom > 0:
        layers.append(keras.layers.RandomZoom(config.zoom, config.zoom, seed=seed + 1, **fill))
    if config.shift > 0:
        layers.append(
            keras.layers.RandomTranslation(config.shift, config.shift, seed=seed + 2, **fill)
        )
    if config.shear > 0:
        layers.append(keras.layers.RandomShear(config.shear, config.shear, seed=seed + 3, **fill))
    if config.elastic > 0:
        layers.append(ElasticDistortion(config.elastic, config.elastic_sigma, seed=seed + 4))
    if config.thickness > 0:
        layers.append(StrokeThickness(config.thickness, seed=seed + 5))
    if config.bold > 0:
        layers.append(BoldStrokes(config.bold, seed=seed + 14))
    if config.outline > 0:
        layers.append(Outline(config.outline, seed=seed + 13))
    if config.blur > 0:
        layers.append(MildBlur(config.blur, seed=seed + 6))
    if config.motion > 0:
        layers.append(MotionBlur(config.motion, seed=seed + 11))
    if config.jitter > 0:
        layers.append(GlassJitter(config.jitter, seed=seed + 12))
    if config.lines > 0:
        layers.append(StrayLines(config.lines, seed=seed + 8))
    if config.lighting > 0:
        layers.append(Lighting(config.lighting, seed=seed + 9))
    if config.noise > 0:
        layers.append(SensorNoise(config.noise, seed=seed + 7))
    if config.impulse > 0:
        layers.append(ImpulseNoise(config.impulse, seed=seed + 10))
    return keras.Sequential(layers, name="augment")


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) MNIST images to float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    return images.astype(np.float32) / (255.0 if images.dtype == np.uint8 else 1.0)


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 128,
    augment: AugmentConfig | None = None,
    shuffle: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """A batched ``tf.data`` pipeline of (image, label), augmented on the fly when asked.

    Augmentation runs batch-wise in the input pipeline (one map call per batch, sequential so
    that a seed gives the same stream), overlapping with training through ``prefetch``.
    """
    x = to_float(images)
    y = np.asarray(labels, dtype=np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    # Training batches have a fixed size so that every layer sees a static batch dimension.
    dataset = dataset.batch(batch_size, drop_remainder=shuffle)
    if augment is not None and augment != NO_AUGMENT:
        augmenter = build_augmenter(augment, seed=seed)

        def apply(batch_images, batch_labels):
            return tf.clip_by_value(augmenter(batch_images, training=True), 0.0, 1.0), batch_labels

        dataset = dataset.map(apply, num_parallel_calls=None)
    return dataset.prefetch(tf.data.AUTOTUNE)


def augment_images(images: np.ndarray, config: AugmentConfig, seed: int = 0) -> np.ndarray:
    """Augment a small array of images eagerly (for figures and tests)."""
    augmenter = build_augmenter(config, seed=seed)
    out = augmenter(tf.constant(to_float(images)), training=True)
    return np.clip(np.asarray(out), 0.0, 1.0)
