"""Augmentation: each transform switchable, realistic, deterministic, in a tf.data pipeline."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from digitlib import augment

OFF = {"rotation": 0.0, "zoom": 0.0, "shift": 0.0}
ALONE = {
    "rotation": augment.AugmentConfig(**{**OFF, "rotation": 15.0}),
    "zoom": augment.AugmentConfig(**{**OFF, "zoom": 0.15}),
    "shift": augment.AugmentConfig(**{**OFF, "shift": 0.15}),
    "shear": augment.AugmentConfig(**{**OFF, "shear": 0.3}),
    "elastic": augment.AugmentConfig(**{**OFF, "elastic": 1.5}),
    "thickness": augment.AugmentConfig(**{**OFF, "thickness": 1.0}),
    "blur": augment.AugmentConfig(**{**OFF, "blur": 1.0}),
    "noise": augment.AugmentConfig(**{**OFF, "noise": 0.2}),
    "impulse": augment.AugmentConfig(**{**OFF, "impulse": 1.0}),
    "lines": augment.AugmentConfig(**{**OFF, "lines": 1.0}),
    "lighting": augment.AugmentConfig(**{**OFF, "lighting": 1.0}),
    "motion": augment.AugmentConfig(**{**OFF, "motion": 1.0}),
    "jitter": augment.AugmentConfig(**{**OFF, "jitter": 1.0}),
    "outline": augment.AugmentConfig(**{**OFF, "outline": 1.0}),
    "bold": augment.AugmentConfig(**{**OFF, "bold": 1.0}),
}


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.x_train[:64]


def _ink(images):
    return images.reshape(len(images), -1).sum(axis=1)


@pytest.mark.parametrize("name", list(ALONE))
def test_each_transform_changes_images_but_keeps_the_digit(digits, name):
    base = augment.to_float(digits)
    out = augment.augment_images(digits, ALONE[name], seed=3)
    assert out.shape == base.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    changed = np.abs(out - base).reshape(len(out), -1).max(axis=1) > 0.05
    if name == "noise":  # noise goes on half the images, by design
        assert 0.3 < changed.mean() < 0.7
    else:
        assert changed.mean() > 0.85, f"{name} left most images untouched"
    if name in ("lighting", "bold", "outline"):
        return  # they add ink on purpose: a lifted ground, wide strokes, a ring on both sides
    # Nothing may wipe a digit out or flood the frame: ink stays within a factor of ~2.
    ratio = _ink(out) / _ink(base)
    assert ratio.min() > 0.4 and ratio.max() < 3.0, (name, ratio.min(), ratio.max())


def test_all_off_is_the_identity(digits):
    dataset = augment.make_dataset(
        digits, np.arange(len(digits)), batch_size=16, augment=augment.NO_AUGMENT
    )
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
    np.testing.assert_array_equal(np.concatenate(images), augment.to_float(digits))
    np.testing.assert_array_equal(np.concatenate(labels), np.arange(len(digits)))


def test_thickness_thickens_and_thins_without_erasing(digits):
    out = augment.augment_images(digits, ALONE["thickness"], seed=0)
    ratio = _ink(out) / _ink(augment.to_float(digits))
    assert (ratio > 1.15).sum() >= 10, "some strokes must get thicker"
    assert (ratio < 0.95).sum() >= 10, "some strokes must get thinner"
    assert ratio.min() > 0.5, "thinning must never erase a digit"


def test_blur_softens_edges(digits):
    base = augment.to_float(digits)
    out = augment.augment_images(digits, ALONE["blur"], seed=0)
    assert np.abs(np.diff(out, axis=2)).mean() < np.abs(np.diff(base, axis=2)).mean()


def test_same_seed_same_images(digits):
    config = augment.AugmentConfig(shear=0.1, elastic=1.0, thickness=0.3, blur=0.3, noise=0.05)
    keras.utils.set_random_seed(7)
    first = augment.augment_images(digits, config, seed=7)
    keras.utils.set_random_seed(7)
    second = augment.augment_images(digits, config, seed=7)
    np.testing.assert_array_equal(first, second)


def test_training_pipeline_batches_shuffles_and_keeps_labels_with_images(mnist):
    x, y = mnist.x_train[:1000], mnist.y_train[:1000]
    dataset = augment.make_dataset(
        x, y, batch_size=100, augment=augment.SEED_AUGMENT, shuffle=True, seed=1
    )
    batches = list(dataset)
    assert len(batches) == 10 and all(b[0].shape == (100, 28, 28, 1) for b in batches)
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert sorted(labels.tolist()) == sorted(y.tolist())
    assert not np.array_equal(labels, y), "training batches are shuffled"


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation settings: \\['rotate'\\]"):
        augment.AugmentConfig.from_dict({"rotate": 10})


def test_stray_lines_add_ink_and_lighting_lifts_the_background(digits):
    base = augment.to_float(digits)
    lined = augment.augment_images(digits, ALONE["lines"], seed=4)
    assert (lined >= base - 1e-6).all(), "a stray line only adds ink"
    assert (_ink(lined) > _ink(base) + 1).mean() > 0.8
    lit = augment.augment_images(digits, ALONE["lighting"], seed=4)
    corners = lit[:, :3, :3, 0].reshape(len(lit), -1).mean(axis=1)
    assert (corners > 0.02).mean() > 0.5, "the black MNIST background is lifted"


def test_bold_strokes_widen_every_digit_and_outlines_hollow_them(digits):
    base = augment.to_float(digits)
    bold = augment.augment_images(digits, ALONE["bold"], seed=5)
    ratio = _ink(bold) / _ink(base)
    assert ratio.min() > 1.3 and np.median(ratio) > 1.8, (ratio.min(), np.median(ratio))
    outlined = augment.augment_images(digits, ALONE["outline"], seed=5)
    # The middle of a stroke (ink all around it) fades; the ring around it lights up.
    core = np.asarray(_erode(base))[..., 0] > 0.9
    assert outlined[..., 0][core].mean() < 0.6 * base[..., 0][core].mean()
    ring = (base[..., 0] < 0.05) & (np.asarray(_dilate(base))[..., 0] > 0.9)
    assert outlined[..., 0][ring].mean() > 0.3


def _dilate(images):
    import tensorflow as tf

    return tf.nn.max_pool2d(images, 3, 1, "SAME")


def _erode(images):
    return -_dilate(-images)


def test_motion_blur_and_glass_jitter_only_touch_the_drawn_share(digits):
    base = augment.to_float(digits)
    for name in ("motion", "jitter", "outline", "bold"):
        config = augment.AugmentConfig(**{**OFF, name: 0.3})
        out = augment.augment_images(digits, config, seed=6)
        changed = np.abs(out - base).reshape(len(out), -1).max(axis=1) > 1e-6
        assert 0.1 < changed.mean() < 0.55, (name, changed.mean())
        np.testing.assert_array_equal(out[~changed], base[~changed])
