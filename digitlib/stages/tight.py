"""A small, clean picture whose digit fills most of it: a tight crop, a scan of one digit, an
upscaled low-resolution digit (the UCI 8x8 digits, a thumbnail).

For such a picture the page stage's tools work against it: a median window the size of the
picture takes a digit that fills it for paper (worst for dark ink on white, which has no
border clamp), a stroke touching every side looks like a page edge, and binarising an
upscaled 8x8 digit keeps its blocks and loses its grey levels, which are most of what it holds.
:func:`tight_crop` reads the paper level from the picture's border instead and keeps the grey
levels: the ink is cropped to its box and area-resampled into the box MNIST's digits fill, with
no threshold anywhere but the crop's. Measured on scikit-learn's 8x8 UCI digits rendered nine
ways (reports/experiments/other-writers.md); photos, drawings and crops are read as before
unless they are this small and clean.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from digitlib.imageio import DecodedImage
from digitlib.stages.find import Region, components
from digitlib.stages.normalise import centre_by_mass, mnist_normalise, stroke_width
from digitlib.stages.page import transparent
from digitlib.tuning import TUNING

TIGHT = TUNING.tight


def _ring(values: np.ndarray) -> np.ndarray:
    return np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])


def blocky(crop: np.ndarray) -> bool:
    """A digit enlarged from a few pixels by repeating them (nearest-neighbour, or OpenCV's
    area upscaling): its grey levels change only where one enlarged pixel meets the next, on
    a few rows and columns, where any smoothing interpolation, a camera or a pen changes them
    on nearly every one. (Equal neighbours alone do not tell: a bold clean letter's strokes are
    one flat level inside.)"""
    if min(crop.shape) < 8:
        return False
    columns = np.any(crop[:, 1:] != crop[:, :-1], axis=0)
    rows = np.any(crop[1:] != crop[:-1], axis=1)
    return max(float(np.mean(columns)), float(np.mean(rows))) < TIGHT.blocky_changes


@dataclass(frozen=True)
class TightCrop:
    """What :func:`tight_crop` makes of a small, clean picture."""

    network_input: np.ndarray  # float32 (28, 28) in [0, 1], grey levels kept
    # The same crop as the page stage normalises a digit (binarised mask, MNIST's 20x20): the
    # input the gate judges, since the gate learnt the page stage's inputs. On the tight
    # stage's own input it takes letters, scribbles and shapes for digits (the held-out letters
    # in other fonts: 33 of the 43 that come here, against 1 on this input).
    gate_input: np.ndarray
    box: tuple[int, int, int, int]  # x, y, width, height in the original image's pixels
    polarity: str


def tight_crop(decoded: DecodedImage, min_fill: float = TIGHT.min_fill) -> TightCrop | None:
    """The network input of a small, clean picture whose digit fills at least ``min_fill`` of
    it (in height or width); ``None`` for any other picture (the page stage, or for 28x28 the
    repair stage, reads it)."""
    pixels = decoded.pixels
    if decoded.alpha is not None and transparent(decoded.alpha):
        return None
    if max(decoded.original_size) > TIGHT.max_side or min(pixels.shape[:2]) < TIGHT.min_side:
        return None
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    values = pixels.astype(np.float32) / 255.0
    ring = _ring(values)
    dark_ink = float(np.median(ring)) > 0.5
    if dark_ink:
        values, ring = 1.0 - values, 1.0 - ring
    # The paper: the darker part of the border (ink may touch the border on any side). Clean
    # means that part is even: no shadow, no gradient, no texture.
    paper, even = np.percentile(ring, (10, 50))
    if even - paper > TIGHT.paper_spread:
        return None
    ink = np.clip(values - paper, 0.0, None)
    strongest = float(ink.max())
    if strongest < TIGHT.min_contrast:
        return None
    # And flat: most of the border's paper within a grey level of its median. A clean
    # rendering's paper is one grey level, a scan's or a photo's has grain and noise.
    level = ring[ring < paper + TIGHT.ink_level * strongest]
    if float(np.mean(np.abs(level - np.median(level)) <= 1.5 / 255)) < TIGHT.flat_share:
        return None
    ink /= strongest
    # Paper or ink, little in between but the strokes' edges: a photo's paper has texture,
    # shading and JPEG noise that this finds (photos of test digits: a quarter of the picture
    # typically; crops and the UCI renderings: a tenth or less).
    if float(np.mean((ink > TIGHT.faint) & (ink < TIGHT.ink_level))) > TIGHT.faint_share:
        return None
    mask = (ink > TIGHT.ink_level).astype(np.uint8)
    x0, y0, w, h = cv2.boundingRect(mask)
    y1, x1 = y0 + h, x0 + w
    height, width = ink.shape
    if max((y1 - y0) / height, (x1 - x0) / width) < min_fill:
        return None
    if _runs_in_from_outside(mask):
        return None
    # Ink outside the digit's box that is not faint: more than one mark, the page stage's work.
    outside = ink.copy()
    outside[y0:y1, x0:x1] = 0.0
    if float(outside.max()) > TIGHT.stray_ink:
        return None
    crop = ink[y0:y1, x0:x1]
    # A bold digit (the UCI digits' strokes are a quarter of their height) goes in a smaller
    # box, as its blurred pen would have put it in MNIST's 20x20; a pen's line fills the box.
    bold = stroke_width(mask[y0:y1, x0:x1]) / max(w, h)
    scale = (TIGHT.bold_box if bold >= TIGHT.bold else TIGHT.box) / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    gate_ink = ink
    if blocky(crop):  # a low-resolution digit enlarged without smoothing: its steps are not ink
        digit = cv2.GaussianBlur(np.pad(digit, 2), (0, 0), TIGHT.blocky_smooth)
        # The same smoothing for the gate's view, in the picture's pixels.
        gate_ink = cv2.GaussianBlur(ink, (0, 0), TIGHT.blocky_smooth / scale)
        gate_ink /= max(float(gate_ink.max()), 1e-6)
    gate_mask = (gate_ink > TIGHT.gate_level).astype(np.uint8)
    return TightCrop(
        centre_by_mass(np.clip(digit, 0.0, 1.0)),
        mnist_normalise(gate_ink, Region(*cv2.boundingRect(gate_mask), gate_mask)),
        Region(x0, y0, w, h, mask).scaled(1.0 / decoded.scale),
        "dark-on-light" if dark_ink else "light-on-dark",
    )


def _runs_in_from_outside(mask: np.ndarray) -> bool:
    """Ink touching the picture's border apart from the digit: the largest mark clear of the
    border and another touching it (a paper line's remnant, a neighbour's stroke, a page's
    edge). A digit cropped tight touches the border itself; this one is the page stage's."""
    count, _, stats = components(mask)
    if count <= 2:
        return False
    height, width = mask.shape
    x, y, w, h = (stats[1:, i] for i in range(4))
    touches = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    largest = int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return bool(not touches[largest] and touches.any())
