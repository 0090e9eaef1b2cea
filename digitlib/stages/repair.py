"""Stage 5, 28x28 repair: an input that is 28x28 already, made MNIST-like in place.

Such an input is not resampled (that would smooth its grain away): :func:`restore_mnist_style`
passes a clean MNIST digit through untouched and repairs the rest as MNIST's own preparation
would have (a lifted background, faint ink, streaks and lines across it, bold strokes, noise,
an off-centre or wrongly sized digit). :func:`clean_at_once` decides which of many inputs are
clean, all at once, with the same tests.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.imageio import DecodedImage
from digitlib.stages.find import drop_specks_and_edges, find_digit
from digitlib.stages.normalise import mnist_normalise, stroke_width
from digitlib.stages.page import InkImage
from digitlib.stages.repair_lines import COLS, FRAME, ROWS, erase_lines, erase_streaks
from digitlib.tuning import TUNING

REPAIR = TUNING.repair
MIN_CONTRAST = TUNING.page.min_contrast


def is_mnist_style(decoded: DecodedImage) -> bool:
    """A 28x28 gray image is a network input already: MNIST's size, in either polarity (a dark
    digit on a light ground is the same input inverted)."""
    pixels = decoded.pixels
    return pixels.shape[:2] == (28, 28) and pixels.ndim == 2 and decoded.alpha is None


def ring_polarity(pixels: np.ndarray) -> str:
    """Polarity of a 28x28 input from its border: MNIST's frame is background, whatever share
    of the square the digit covers (a very bold digit is mostly ink)."""
    ring = pixels[FRAME]
    low, high = float(pixels.min()), float(pixels.max())
    return "dark-on-light" if float(np.median(ring)) > (low + high) / 2 else "light-on-dark"


def restore_mnist_style(pixels: np.ndarray) -> np.ndarray:
    """A 28x28 light-on-dark digit (uint8) as the network expects it (float32, 0-1).

    A clean MNIST digit passes through untouched. Otherwise, as MNIST's own preparation would
    have done: a lifted background level is subtracted, faint ink is stretched, and a digit
    that is off-centre, too small or too large, or surrounded by specks and stray marks is cut
    out (with the pieces near it) and normalised again. Streaks and lines across the image are
    painted over, strokes far bolder than MNIST's thinned, and background noise cleared.
    Raises :class:`NoDigitFoundError` for a blank input.
    """
    values = pixels.astype(np.float32) / 255.0
    lifted = REPAIR.lifted_background * 255
    if max(pixels[:2].max(), pixels[-2:].max(), pixels[:, :2].max(), pixels[:, -2:].max()) > lifted:
        ring = np.concatenate(
            [pixels[:2].ravel(), pixels[-2:].ravel(), pixels[:, :2].ravel(), pixels[:, -2:].ravel()]
        )
        background = float(np.median(ring)) / 255.0
        if REPAIR.lifted_background < background < 1.0:
            # One level for the whole digit: a local estimate (a median filter) would eat into
            # thick strokes, and the network is trained on uneven light anyway.
            values = np.clip((values - background) / (1.0 - background), 0.0, 1.0)
    # The 99th percentile of the ink, found cheaply when 1% of the pixels reach full strength.
    if np.count_nonzero(values >= REPAIR.faint_ink) < 0.01 * values.size:
        top = float(np.percentile(values, 99))
        if top < MIN_CONTRAST:
            raise NoDigitFoundError("There is no digit in this image: it is blank.")
        values = np.clip(values / top, 0.0, 1.0)
    values, lined = erase_lines(erase_streaks(values))
    values = _quiet_background(thin_bold(values))
    mask = (values > 0.35).astype(np.uint8)
    if _mnist_like(values, mask, REPAIR.clean_long_side):
        return values
    mask, labels, stats = drop_specks_and_edges(mask)
    if len(stats) <= 1:
        return values
    try:
        # Every piece counts here: a corrupted digit's pieces may be fainter than the rest.
        # (Large pieces join only as close as any other: the corruption suite was measured so.)
        region = find_digit(
            InkImage(values, mask, labels, stats, "light-on-dark", 1.0),
            piece_ink=0.0,
            large_piece_gap=0.0,
        )
    except NoDigitFoundError:
        if lined:
            return values  # the lines took pieces out of the digit: leave the rest in place
        raise
    gated = values * cv2.dilate(region.mask, np.ones((3, 3), np.uint8))
    if _mnist_like(gated, region.mask, REPAIR.mnist_long_side):
        return gated  # specks and stray marks away from the digit removed, the digit in place
    if lined or max(region.w, region.h) >= 26:
        # The digit is where it was, with what the lines left; or the "digit" spans the image
        # (a line through it): cutting either out would blow a fragment up to a digit's size.
        return values
    return mnist_normalise(values, region)


def thin_bold(values: np.ndarray) -> np.ndarray:
    """Strokes far wider than MNIST's eroded back to a wide MNIST stroke (the same array back
    when nothing is thinned)."""
    mask = (values > 0.35).astype(np.uint8)
    if np.count_nonzero(mask) < REPAIR.bold_min_pixels:
        return values
    width = stroke_width(mask)
    steps = int(round((width - REPAIR.thinned_stroke) / 2))
    if width <= REPAIR.wide_stroke or steps < 1:
        return values
    return cv2.erode(values, np.ones((3, 3), np.uint8), iterations=steps)


def _quiet_background(values: np.ndarray) -> np.ndarray:
    """Sensor noise over the background cleared: everything not connected to a stroke through
    faint ink goes, but only when much of the background is lit (faint remnants of a thin pen
    are kept otherwise)."""
    frame = values[FRAME]
    if np.count_nonzero(frame > 0.05) < 0.5 * REPAIR.noisy_background * frame.size:
        return values  # noise lights the frame too; MNIST's frame is dark
    strokes = values > 0.35
    count, labels = cv2.connectedComponents(
        (values > REPAIR.faint_stroke).astype(np.uint8), connectivity=8
    )
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strokes])] = True
    keep[0] = False
    near = cv2.dilate(keep[labels].astype(np.uint8), np.ones((3, 3), np.uint8))
    outside = values[near == 0]
    if np.count_nonzero(outside > 0.05) < REPAIR.noisy_background * outside.size:
        return values
    return values * near


def _mnist_like(values: np.ndarray, mask: np.ndarray, sizes: tuple[int, int]) -> bool:
    """Ink of MNIST's size (long side) and centred where MNIST centres it."""
    _, _, width, height = cv2.boundingRect(mask)
    moments = cv2.moments(values)
    if not width or moments["m00"] <= 0:
        return False
    # Pixel centres at integer coordinates, as MNIST's own centre-of-mass convention.
    centre = (moments["m01"] / moments["m00"], moments["m10"] / moments["m00"])
    return sizes[0] <= max(width, height) <= sizes[1] and all(
        REPAIR.mnist_centre[0] <= c <= REPAIR.mnist_centre[1] for c in centre
    )


def clean_at_once(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a stack of 28x28 gray images: which are clean MNIST-style digits that
    :func:`restore_mnist_style` would pass through untouched, decided for all of them at once
    with the same tests, with their polarity (True: dark on light) and light-on-dark values.

    Clean means: the 2-pixel frame dark (so no lifted background, streak, line or frame noise
    to repair), ink at full strength, strokes no bolder than MNIST's, and ink of MNIST's size
    centred where MNIST centres it."""
    frame = stack[:, FRAME]
    low = stack.min(axis=(1, 2)).astype(np.float64)
    high = stack.max(axis=(1, 2)).astype(np.float64)
    dark_on_light = np.median(frame, axis=1) > (low + high) / 2  # as ring_polarity
    pixels = np.where(dark_on_light[:, None, None], 255 - stack, stack)
    values = pixels.astype(np.float32) / 255.0
    frame = np.where(dark_on_light[:, None], 255 - frame, frame)
    clean = frame.max(axis=1) <= REPAIR.lifted_background * 255
    clean &= np.count_nonzero(values >= REPAIR.faint_ink, axis=(1, 2)) >= 0.01 * 28 * 28
    mask = values > 0.35
    rows, cols = mask.any(axis=2), mask.any(axis=1)
    height = 28 - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
    width = 28 - cols[:, ::-1].argmax(axis=1) - cols.argmax(axis=1)
    long_side = np.where(rows.any(axis=1), np.maximum(width, height), 0)
    shortest, longest = REPAIR.clean_long_side
    clean &= (shortest <= long_side) & (long_side <= longest)
    weights = values.astype(np.float64)
    total = weights.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        for axis in (ROWS, COLS):
            centre = (weights * axis).sum(axis=(1, 2)) / total
            clean &= (REPAIR.mnist_centre[0] <= centre) & (centre <= REPAIR.mnist_centre[1])
    # The one test left to each image: stroke width, measured only where it could be bold.
    for index in np.flatnonzero(clean & may_be_bold(mask)):
        digit = values[index]
        clean[index] = thin_bold(digit) is digit  # the same array back: nothing thinned
    return clean, dark_on_light, values


def may_be_bold(masks: np.ndarray) -> np.ndarray:
    """For a stack of binary 28x28 masks: which ones :func:`thin_bold` might thin, decided
    without tracing outlines. Its stroke width is twice the area over the outline's length, and
    the outlines pass through every border pixel (one with a background pixel beside it) that
    is not alone, one step of 1 or more from each to the next: so their length is at least the
    number of such pixels, and a mask whose area is small beside that count is never bold."""
    padded = np.pad(masks, ((0, 0), (1, 1), (1, 1)))
    inside = padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:]
    neighbours = np.zeros_like(masks)
    for dy in range(3):
        for dx in range(3):
            if (dy, dx) != (1, 1):
                neighbours |= padded[:, dy : dy + 28, dx : dx + 28]
    outline = np.count_nonzero(masks & ~inside & neighbours, axis=(1, 2))
    area = np.count_nonzero(masks, axis=(1, 2))
    return (area >= REPAIR.bold_min_pixels) & (
        2.0 * area > REPAIR.wide_stroke * np.maximum(outline, 1)
    )
