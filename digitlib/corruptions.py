"""A corruption suite in the spirit of MNIST-C (Mu & Gilmer, 2019), with five severities each.

Every function takes uint8 MNIST-style digits ``(N, 28, 28)`` (light ink on dark), a severity
1-5 and a ``numpy.random.Generator``, and returns uint8 digits of the same shape. Given the seed
the result is deterministic. Apply it to MNIST *test* digits when evaluating.

``corrupt(images, name, severity, seed)`` runs one; :data:`CORRUPTIONS` lists them all with the
family each belongs to (noise, blur, geometry, light, clutter, style).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

SEVERITIES = (1, 2, 3, 4, 5)
Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def _uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def _level(table: tuple, severity: int):
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be 1-5, got {severity}")
    return table[severity - 1]


# Noise -------------------------------------------------------------------------------------------


def gaussian_noise(images, severity, rng):
    sigma = _level((0.06, 0.10, 0.14, 0.18, 0.24), severity)
    return _uint8(_float(images) + rng.normal(0, sigma, images.shape))


def shot_noise(images, severity, rng):
    photons = _level((60, 30, 16, 10, 6), severity)
    # Photon noise on the light (ink) and on a faint background glow.
    values = _float(images) + 0.05
    return _uint8(rng.poisson(values * photons) / photons - 0.05)


def impulse_noise(images, severity, rng):
    amount = _level((0.01, 0.02, 0.04, 0.06, 0.09), severity)
    out = images.copy()
    hit = rng.random(images.shape)
    out[hit < amount / 2] = 0
    out[(hit >= amount / 2) & (hit < amount)] = 255
    return out


def speckle_noise(images, severity, rng):
    scale = _level((0.25, 0.4, 0.6, 0.8, 1.0), severity)
    values = _float(images)
    return _uint8(values + values * rng.normal(0, scale, images.shape))


# Blur --------------------------------------------------------------------------------------------


def gaussian_blur(images, severity, rng):
    sigma = _level((0.7, 1.0, 1.3, 1.6, 2.0), severity)
    return np.stack([cv2.GaussianBlur(image, (0, 0), sigma) for image in images])


def motion_blur(images, severity, rng):
    length = _level((3, 4, 5, 7, 9), severity)
    out = []
    for image in images:
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        angle = rng.uniform(0, 180)
        rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        kernel /= max(kernel.sum(), 1e-6)
        out.append(cv2.filter2D(image, -1, kernel))
    return np.stack(out)


def glass_blur(images, severity, rng):
    sigma, shift, rounds = _level(
        ((0.4, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 1, 2), (0.8, 2, 1)), severity
    )
    out = []
    for image in images:
        work = cv2.GaussianBlur(image, (0, 0), sigma)
        for _ in range(rounds):
            rows, cols = np.indices(work.shape)
            dy = rng.integers(-shift, shift + 1, work.shape)
            dx = rng.integers(-shift, shift + 1, work.shape)
            work = work[np.clip(rows + dy, 0, 27), np.clip(cols + dx, 0, 27)]
        out.append(cv2.GaussianBlur(work, (0, 0), sigma))
    return np.stack(out)


# Geometry ----------------------------------------------------------------------------------------


def _affine(images, matrices):
    return np.stack(
        [
            cv2.warpAffine(image, matrix, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
            for image, matrix in zip(images, matrices, strict=True)
        ]
    )


def rotate(images, severity, rng):
    degrees = _level((10, 15, 20, 25, 30), severity)
    signs = rng.choice((-1.0, 1.0), len(images))
    return _affine(images, [cv2.getRotationMatrix2D((13.5, 13.5), s * degrees, 1.0) for s in signs])


def shear(images, severity, rng):
    amount = _level((0.2, 0.35, 0.5, 0.65, 0.8), severity)
    matrices = []
    for sign in rng.choice((-1.0, 1.0), len(images)):
        k = sign * amount
        matrices.append(np.array([[1, k, -k * 13.5], [0, 1, 0]], np.float32))
    return _affine(images, matrices)


def scale(images, severity, rng):
    factor = _level((0.9, 0.8, 0.7, 0.6, 0.5), severity)
    return _affine(images, [cv2.getRotationMatrix2D((13.5, 13.5), 0, factor)] * len(images))


def translate(images, severity, rng):
    distance = _level((2, 3, 4, 5, 6), severity)
    angles = rng.uniform(0, 2 * np.pi, len(images))
    matrices = [
        np.array([[1, 0, distance * np.cos(a)], [0, 1, distance * np.sin(a)]], np.float32)
        for a in angles
    ]
    return _affine(images, matrices)


# Light -------------------------------------------------------------------------------------------


def brightness(images, severity, rng):
    lift = _level((0.1, 0.2, 0.3, 0.4, 0.5), severity)
    return _uint8(_float(images) + lift)


def low_contrast(images, severity, rng):
    contrast = _level((0.6, 0.5, 0.4, 0.3, 0.2), severity)
    return _uint8(0.4 + (_float(images) - 0.4) * contrast)


def fog(images, severity, rng):
    strength = _level((0.25, 0.35, 0.45, 0.55, 0.65), severity)
    out = []
    for image in images:
        field = np.zeros((28, 28), np.float32)
        for cells in (2, 4, 7):  # a few octaves of smooth noise
            coarse = rng.random((cells, cells)).astype(np.float32)
            field += cv2.resize(coarse, (28, 28), interpolation=cv2.INTER_CUBIC) / cells
        field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
        out.append(_float(image) + strength * field)
    return _uint8(np.stack(out))


def inverse(images, severity, rng):
    # Severity is how much of the inversion is done: 1 is a faint negative, 5 a full one.
    amount = _level((0.6, 0.7, 0.8, 0.9, 1.0), severity)
    values = _float(images)
    return _uint8(values + amount * (1.0 - 2.0 * values))


# Clutter -----------------------------------------------------------------------------------------


def stripe(images, severity, rng):
    count = _level((1, 1, 2, 2, 3), severity)
    width = 1
    out = images.copy()
    for image in out:
        for _ in range(count):
            start = int(rng.integers(0, 28 - width))
            if rng.random() < 0.5:
                image[:, start : start + width] = 255 - image[:, start : start + width]
            else:
                image[start : start + width, :] = 255 - image[start : start + width, :]
    return out


def dotted_line(images, severity, rng):
    lines = _level((1, 1, 2, 2, 3), severity)
    out = images.copy()
    for image in out:
        for _ in range(lines):
            start, end = rng.integers(0, 28, 2), rng.integers(0, 28, 2)
            if rng.random() < 0.5:
                start[0], end[0] = 0, 27
            else:
                start[1], end[1] = 0, 27
            for t in np.linspace(0, 1, 14):
                x, y = np.rint(start + t * (end - start)).astype(int)
                cv2.circle(image, (int(x), int(y)), 0 if severity < 4 else 1, 255, -1)
    return out


def zigzag(images, severity, rng):
    lines = _level((1, 1, 1, 2, 2), severity)
    thickness = 1
    out = images.copy()
    for image in out:
        for _ in range(lines):
            points = np.stack([np.linspace(0, 27, 5), rng.uniform(0, 27, 5)], axis=1)
            if rng.random() < 0.5:
                points = points[:, ::-1]
            cv2.polylines(image, [np.rint(points).astype(np.int32)], False, 255, thickness)
    return out


def spatter(images, severity, rng):
    blobs = _level((2, 4, 6, 9, 12), severity)
    out = images.copy()
    for image in out:
        for _ in range(blobs):
            centre = tuple(int(v) for v in rng.integers(0, 28, 2))
            cv2.circle(image, centre, int(rng.integers(0, 2)), int(rng.integers(120, 256)), -1)
    return out


# Style -------------------------------------------------------------------------------------------


def canny_edges(images, severity, rng):
    # Edges only: the outline of each stroke, with the stroke's inside faded out by severity.
    inside = _level((0.5, 0.35, 0.2, 0.1, 0.0), severity)
    edges = np.stack([cv2.Canny(cv2.GaussianBlur(image, (0, 0), 0.8), 50, 150) for image in images])
    return _uint8(np.maximum(_float(edges), inside * _float(images)))


def thick(images, severity, rng):
    size = _level((2, 2, 3, 3, 4), severity)
    rounds = _level((1, 2, 1, 2, 2), severity)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return np.stack([cv2.dilate(image, kernel, iterations=rounds) for image in images])


def thin(images, severity, rng):
    # Erosion at 3x resolution, so that a thin stroke thins instead of vanishing at once.
    size = _level((2, 3, 4, 5, 6), severity)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    out = []
    for image in images:
        big = cv2.resize(image, (84, 84), interpolation=cv2.INTER_CUBIC)
        out.append(cv2.resize(cv2.erode(big, kernel), (28, 28), interpolation=cv2.INTER_AREA))
    return np.stack(out)


CORRUPTIONS: dict[str, tuple[str, Corruption]] = {
    "gaussian_noise": ("noise", gaussian_noise),
    "shot_noise": ("noise", shot_noise),
    "impulse_noise": ("noise", impulse_noise),
    "speckle_noise": ("noise", speckle_noise),
    "gaussian_blur": ("blur", gaussian_blur),
    "motion_blur": ("blur", motion_blur),
    "glass_blur": ("blur", glass_blur),
    "rotate": ("geometry", rotate),
    "shear": ("geometry", shear),
    "scale": ("geometry", scale),
    "translate": ("geometry", translate),
    "brightness": ("light", brightness),
    "low_contrast": ("light", low_contrast),
    "fog": ("light", fog),
    "inverse": ("light", inverse),
    "stripe": ("clutter", stripe),
    "dotted_line": ("clutter", dotted_line),
    "zigzag": ("clutter", zigzag),
    "spatter": ("clutter", spatter),
    "canny_edges": ("style", canny_edges),
    "thick": ("style", thick),
    "thin": ("style", thin),
}


def corrupt(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``images`` (uint8, (N, 28, 28)) corrupted by ``name`` at ``severity``; deterministic."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; known: {sorted(CORRUPTIONS)}")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError("images must be uint8 of shape (N, 28, 28)")
    # A separate stream per corruption and severity, so adding one changes no other.
    rng = np.random.default_rng([seed, list(CORRUPTIONS).index(name), severity])
    return CORRUPTIONS[name][1](images, severity, rng)
