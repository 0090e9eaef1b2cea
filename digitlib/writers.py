"""Writer-style variation of MNIST training digits: how people outside MNIST's writers write.

MNIST's digits come from American writers of the early 1990s, written in boxes. Other writers
slant further, use a finer pen or a marker, write a 1 with a flag (and a base), cross their 7s
and close or open their 4s; a dataset or a thumbnail may hold the digit at 8x8 pixels, blocky.
Each function here takes a 28x28 uint8 MNIST digit (light on dark) and returns another, drawn at
ten times the size with anti-aliasing and brought back (strokes of the pen's width, as the digit
has them); :func:`restyle` draws one writer's way for a digit, :func:`to_8x8` makes the
low-resolution version that :func:`digitlib.synth.upscaled_8x8` enlarges.

Used on training digits only, by :mod:`digitlib.uploads` (notebook 03's stage 3): the
benchmark's other writers (UCI digits, script fonts) are never drawn from here, so they stay an
evaluation set that nothing was tuned on.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.synth import flag_one

SCALE = 10  # the digit is redrawn at 280x280
INK = 60  # an MNIST pixel above this is ink


def _ink_box(digit: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the ink, inclusive; None for a blank image."""
    ys, xs = np.nonzero(digit > INK)
    if len(ys) == 0:
        return None
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def _pen(rng: np.random.Generator) -> int:
    """A pen of about MNIST's stroke width (2-2.5 pixels at 28x28), at :data:`SCALE`."""
    return int(rng.uniform(16, 24))


def _big(digit: np.ndarray) -> np.ndarray:
    return cv2.resize(digit, (28 * SCALE, 28 * SCALE), interpolation=cv2.INTER_LINEAR)


def _small(big: np.ndarray) -> np.ndarray:
    return cv2.resize(big, (28, 28), interpolation=cv2.INTER_AREA)


def _point(x: float, y: float) -> tuple[int, int]:
    return int(round(x * SCALE)), int(round(y * SCALE))


def slant(digit: np.ndarray, degrees: float) -> np.ndarray:
    """``digit`` sheared ``degrees`` from upright (positive leans right, as most writers do),
    about its centre row, so that it stays in the frame."""
    digit = np.asarray(digit, np.uint8)
    box = _ink_box(digit)
    if box is None:
        return digit.copy()
    centre = (box[0] + box[1]) / 2
    shear = np.tan(np.deg2rad(degrees))
    # x' = x - shear * (y - centre): the top moves right for a positive slant.
    matrix = np.float32([[1, -shear, shear * centre], [0, 1, 0]])
    return cv2.warpAffine(digit, matrix, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)


def stroke_width(digit: np.ndarray, change: float) -> np.ndarray:
    """The strokes ``change`` pixels wider (a marker) or, negative, narrower (a fine pen),
    in 28x28 pixels; a narrower pen never rubs a stroke out (it keeps at least a pixel)."""
    digit = np.asarray(digit, np.uint8)
    radius = int(round(abs(change) * SCALE / 2))
    if radius < 1:
        return digit.copy()
    big = _big(digit)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    if change > 0:
        return _small(cv2.dilate(big, kernel))
    kept = _small(cv2.erode(big, kernel))
    if (kept > INK).sum() < 0.35 * (digit > INK).sum():
        # That pen rubbed most strokes out: the finest pen that keeps them (a 5x5 erosion).
        return _small(cv2.erode(big, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))))
    return kept


def crossed_seven(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 7 with a bar across its stem at about half its height, as written in much of Europe."""
    digit = np.asarray(digit, np.uint8)
    box = _ink_box(digit)
    if box is None:
        return digit.copy()
    top, bottom, left, right = box
    y = top + rng.uniform(0.45, 0.6) * (bottom - top)
    row = np.nonzero(digit[int(round(y))] > INK)[0]
    if len(row) == 0:
        return digit.copy()
    stem = row.mean()
    half = rng.uniform(0.2, 0.32) * max(right - left, 12)
    tilt = np.tan(np.deg2rad(rng.uniform(-8, 8))) * half
    big = _big(digit)
    start = _point(stem - half, y + tilt)
    end = _point(stem + half * rng.uniform(0.8, 1.2), y - tilt)
    cv2.line(big, start, end, 255, _pen(rng), cv2.LINE_AA)
    return _small(big)


def european_one(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 1 with a long flag (:func:`digitlib.synth.flag_one`) and, two times in five, a base."""
    flagged = flag_one(digit, rng)
    if rng.random() >= 0.4:
        return flagged
    box = _ink_box(digit)
    if box is None:
        return flagged
    top, bottom, _, _ = box
    foot = np.nonzero(digit[bottom] > INK)[0].mean()
    half = rng.uniform(0.15, 0.25) * (bottom - top)
    big = _big(flagged)
    cv2.line(big, _point(foot - half, bottom), _point(foot + half, bottom), 255, _pen(rng))
    return _small(big)


def drawn_four(rng: np.random.Generator, open_top: bool | None = None) -> np.ndarray:
    """A 4 drawn in two strokes with a wobbly hand: open at the top (a short stroke down and
    across, then the long stem) or closed (a slanted stroke meeting the stem's top)."""
    open_top = rng.random() < 0.5 if open_top is None else open_top
    jitter = lambda: rng.normal(0, 0.6)  # noqa: E731  (pixels at 28x28)
    top, bottom = 4 + jitter(), 24 + jitter()
    bar = rng.uniform(15, 18)  # the crossbar's height
    stem_x = rng.uniform(15, 18)
    left = rng.uniform(6, 9)
    right = stem_x + rng.uniform(2, 5)
    if open_top:
        first = [(left + rng.uniform(0, 2), top + rng.uniform(0, 3)), (left, bar)]
    else:
        first = [(stem_x + jitter(), top)]
    first += [(left - (0 if open_top else 1), bar), (right, bar + jitter() * 0.5)]
    second = [(stem_x + rng.uniform(-1, 1), top + (rng.uniform(-1, 2) if open_top else 0))]
    second += [(stem_x + rng.uniform(-1.5, 0.5), bottom)]
    big = np.zeros((28 * SCALE, 28 * SCALE), np.uint8)
    pen = _pen(rng)
    for stroke in (first, second):
        points = np.array([_point(x, y) for x, y in stroke], np.int32)
        cv2.polylines(big, [points], False, 255, pen, cv2.LINE_AA)
    return _small(big)


def restyle(digit: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """One other writer's way of writing ``digit`` (of class ``label``):

    * half of the 1s get a European flag (sometimes a base), a third of the 7s a crossbar, and
      a third of the 4s are redrawn open or closed in two strokes;
    * then a slant of up to 22 degrees either way (most lean right) for two in three;
    * then a finer pen or a marker for half of them (-1 to +2.5 pixels of stroke width).
    """
    digit = np.asarray(digit, np.uint8)
    if label == 1 and rng.random() < 0.5:
        digit = european_one(digit, rng)
    elif label == 7 and rng.random() < 1 / 3:
        digit = crossed_seven(digit, rng)
    elif label == 4 and rng.random() < 1 / 3:
        digit = drawn_four(rng)
    if rng.random() < 2 / 3:
        digit = slant(digit, rng.uniform(-12, 22))
    if rng.random() < 0.5:
        digit = stroke_width(digit, rng.choice([-1.0, 1.0, 1.5, 2.5]) * rng.uniform(0.7, 1.0))
    return digit


def to_8x8(digit: np.ndarray) -> np.ndarray:
    """The digit as a low-resolution 8x8 of levels 0-16, made the way the UCI optical digits
    were: the ink binarised, fitted into 32x32 and each 4x4 block's ink pixels counted (float)."""
    digit = np.asarray(digit, np.uint8)
    box = _ink_box(digit)
    if box is None:
        return np.zeros((8, 8), np.float32)
    top, bottom, left, right = box
    ink = digit[top : bottom + 1, left : right + 1]
    height, width = ink.shape
    scale = 32 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fitted = cv2.resize(ink, size, interpolation=cv2.INTER_LINEAR) > 127
    frame = np.zeros((32, 32), np.float32)
    y, x = (32 - size[1]) // 2, (32 - size[0]) // 2
    frame[y : y + size[1], x : x + size[0]] = fitted
    return frame.reshape(8, 4, 8, 4).sum(axis=(1, 3))
