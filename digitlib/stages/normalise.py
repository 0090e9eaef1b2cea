"""Stage 4, normalise: the digit found, prepared as MNIST's own digits were.

:func:`mnist_normalise` crops the region, fits it into a 20x20 box keeping its aspect ratio
(with anti-aliased grey levels, a thin pen thickened to MNIST's stroke) and centres it by its
centre of mass in 28x28: the network input (float32, 0-1, light on dark).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.stages.find import Region
from digitlib.stages.levels import percentile
from digitlib.tuning import TUNING

NORMALISE = TUNING.normalise


def mnist_normalise(ink: np.ndarray, region: Region) -> np.ndarray:
    """MNIST's normalisation of ``region`` of an ink map (float32 0-1 or uint8 0-255, 0 =
    paper): crop, fit into 20x20 keeping aspect, centre of mass at the centre of 28x28."""
    x, y, w, h = region.x, region.y, region.w, region.h
    gate = cv2.dilate(region.mask[y : y + h, x : x + w], np.ones((3, 3), np.uint8))
    crop = ink[y : y + h, x : x + w].astype(np.float32, copy=False) * gate  # uint8 ink too
    stroke = crop[region.mask[y : y + h, x : x + w] > 0]
    level = percentile(stroke, 90) if stroke.size else float(crop.max())
    floor = 0.25 * level
    crop = np.clip((crop - floor) / max(level - floor, 1e-3), 0.0, 1.0)

    scale = 20.0 / max(w, h)
    width = stroke_width(region.mask[y : y + h, x : x + w])
    if width * scale < NORMALISE.target_stroke:
        # A thin pen on a large digit would vanish in 20x20: thicken it to MNIST's stroke.
        grow = int(round((NORMALISE.target_stroke / scale - width) / 2))
        if grow >= 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
            crop = np.pad(crop, grow)
            crop = cv2.dilate(crop, kernel)
            h, w = crop.shape
            scale = 20.0 / max(w, h)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    digit = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return centre_by_mass(digit)


def with_faint_ink(ink: np.ndarray, region: Region) -> np.ndarray:
    """The network input again, keeping the ink within ``faint_margin`` pixels of the strokes
    (inside the digit's box) that binarisation left out: a stroke broken into faint dots, the
    faint side of a 0. The cascade's second look at an upload the network is unsure of."""
    x, y, w, h = region.x, region.y, region.w, region.h
    margin = NORMALISE.faint_margin
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (margin, margin))
    wider = np.zeros_like(region.mask)
    wider[y : y + h, x : x + w] = cv2.dilate(region.mask[y : y + h, x : x + w], kernel)
    return mnist_normalise(ink, Region(x, y, w, h, wider))


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary (0/1) shape: twice its area over its outline length."""
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(contour, True) for contour in contours)
    return 2.0 * cv2.countNonZero(mask) / max(perimeter, 1.0)  # the mask is 0/1


@functools.lru_cache(maxsize=512)
def _indices(shape: tuple[int, ...]) -> np.ndarray:
    """``np.indices(shape)``, made once per shape (read only)."""
    grids = np.indices(shape)
    grids.flags.writeable = False
    return grids


def centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place a digit (at most 20x20) in 28x28 so that its centre of mass is at the centre."""
    total = float(digit.sum())
    rows, cols = _indices(digit.shape)
    if total <= 0:
        raise NoDigitFoundError("There is no digit in this image.")
    cy, cx = float((rows * digit).sum() / total), float((cols * digit).sum() / total)
    # MNIST itself puts the centre of mass at pixel (14, 14) (measured: median 13.99, 14.02).
    shift = np.float32([[1, 0, 14.0 - cx], [0, 1, 14.0 - cy]])
    centred = cv2.warpAffine(digit, shift, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return centred / max(float(centred.max()), 1e-6)  # MNIST's strokes reach full intensity
