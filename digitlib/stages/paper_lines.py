"""Part of stage 2, the page: ruled or squared paper's lines found and erased, the strokes that
cross or run along them kept.

``find(mask)`` gives the lines' mask (or ``None``); ``erase(ink, mask, lines)`` the cleaned
components and the width of the band erased.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.stages.find import drop_specks_and_edges
from digitlib.stages.levels import percentile
from digitlib.tuning import TUNING

PAGE = TUNING.page


def find(mask: np.ndarray) -> np.ndarray | None:
    """Ruled or squared paper lines in a candidate-ink mask (uint8 0/1): long thin runs spanning
    most of the image, dilated by a pixel; ``None`` when there are none (or the image is under
    16 pixels on a side)."""
    if min(mask.shape) < 16:
        return None
    height, width = mask.shape
    _, _, ink_width, ink_height = cv2.boundingRect(mask)
    if ink_width < 0.5 * width and ink_height < 0.5 * height:
        return None  # the ink spans less than half the picture either way (see below)
    lines = None
    for axis, length, span in ((0, width, width), (1, height, height)):
        # A line spans at least half the picture, so the ink must cover that much of it (along
        # the line) before the runs are worth finding: thickening across and opening along
        # cover no more of it than the ink does.
        if _covered(mask, axis) < 0.5 * span:
            continue
        # Thicken across the line first so that a slightly tilted line stays connected.
        across = _across(mask.shape)
        bridge = cv2.getStructuringElement(
            cv2.MORPH_RECT, (1, across) if axis == 0 else (across, 1)
        )
        along = cv2.getStructuringElement(
            cv2.MORPH_RECT, (max(3, length // 4), 1) if axis == 0 else (1, max(3, length // 4))
        )
        runs = cv2.morphologyEx(cv2.dilate(mask, bridge), cv2.MORPH_OPEN, along)
        # The same for the runs themselves, before their components are measured.
        if _covered(runs, axis) < 0.5 * span:
            continue
        count, labels, stats, _ = cv2.connectedComponentsWithStats(runs, connectivity=8)
        start = stats[:, cv2.CC_STAT_LEFT if axis == 0 else cv2.CC_STAT_TOP]
        extent = stats[:, cv2.CC_STAT_WIDTH if axis == 0 else cv2.CC_STAT_HEIGHT]
        thickness = stats[:, cv2.CC_STAT_HEIGHT if axis == 0 else cv2.CC_STAT_WIDTH]
        # A paper line runs off the picture; a digit's straight stroke (a 1, a 7's bar) does not
        # reach an edge while also spanning half of it.
        at_edge = (start <= 0.05 * span) | (start + extent >= 0.95 * span)
        thin = thickness <= max(6, 0.08 * (height if axis == 0 else width))
        # Thin along its length too (its area over its length, which a line's tilt does not
        # widen): a rule is a few percent of its length thick at most; a 1 of a line of digits
        # cropped at its top and bottom spans the picture as well, but its stroke is a tenth
        # of its length.
        along_thickness = stats[:, cv2.CC_STAT_AREA] / np.maximum(extent, 1)
        thin &= along_thickness <= max(6, 0.05 * span) + across
        keep = np.flatnonzero(((extent >= 0.75 * span) | ((extent >= 0.5 * span) & at_edge)) & thin)
        keep = keep[keep > 0]
        if len(keep):
            found = np.isin(labels, keep).astype(np.uint8)
            lines = found if lines is None else lines | found
    if lines is not None:
        lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    return lines


def erase(
    ink: np.ndarray, mask: np.ndarray, lines: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, int]:
    """The mask with the lines erased and the pixels where a stroke crossed one given back (those
    that the stroke's own pixels on both sides bridge, and those of a stroke along a line), as
    :func:`~digitlib.stages.find.drop_specks_and_edges` gives it, and the width (px) of the band
    erased. ``(None, 0)`` when the "line" is a single long stroke and nothing else is left: a 1
    drawn large on a canvas, not paper."""
    kept = mask & (1 - lines)
    if PAGE.line_strokes:
        kept |= _strokes_on_lines(ink, mask, lines, kept)
    bridge = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    cleaned = drop_specks_and_edges(cv2.morphologyEx(kept, cv2.MORPH_CLOSE, bridge) & mask)
    if len(cleaned[2]) <= 1 and _lone_stroke(lines):
        return None, 0
    return cleaned, _band_width(mask.shape)


def _band_width(shape: tuple[int, int]) -> int:
    """How wide a band :func:`find` marks along a one-pixel line: thickened across, then
    dilated by one pixel on each side."""
    return _across(shape) + 2


def _across(shape: tuple[int, int]) -> int:
    """How many pixels :func:`find` thickens a line by, across it."""
    return max(3, (min(shape) // 80) | 1)


def _covered(mask: np.ndarray, axis: int) -> int:
    """How many columns (``axis`` 0) or rows (1) of ``mask`` hold any ink."""
    return cv2.countNonZero(cv2.reduce(mask, axis, cv2.REDUCE_MAX))


def _strokes_on_lines(
    ink: np.ndarray, mask: np.ndarray, lines: np.ndarray, kept: np.ndarray
) -> np.ndarray:
    """The pixels of a paper line's band that are a pen's stroke, not the line: those darker
    than midway between the line's own ink and the pen's (a stroke running along the line, a
    2's foot or a 7's bar on it). A ruled line is one or two pixels of pale ink, a stroke wider
    and darker, so the middle of the line's band is where they differ."""
    on_line = (lines > 0) & (mask > 0)
    if not on_line.any() or not kept.any():
        return np.zeros_like(mask)
    line_level = percentile(ink[on_line], 75)
    stroke_level = percentile(ink[kept > 0], 75)
    if stroke_level < PAGE.line_strokes * line_level:
        return np.zeros_like(mask)  # the pen is no darker than the lines: nothing to tell apart
    return (on_line & (ink > (line_level + stroke_level) / 2)).astype(np.uint8)


def _lone_stroke(lines: np.ndarray) -> bool:
    """True when the "line" found is one stroke that stops short of the image's edges on both
    ends, as a 1 drawn large on a canvas does; a paper line runs off the picture."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    if count != 2:
        return False
    x, y, w, h = stats[1, :4]
    height, width = lines.shape
    return x > 0 and y > 0 and x + w < width and y + h < height
