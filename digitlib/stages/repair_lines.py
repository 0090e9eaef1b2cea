"""Part of stage 5, 28x28 repair: what runs across a 28x28 input is painted over.

No MNIST stroke spans the image (its digit keeps to a 20x20 box, 4 pixels from every edge), so
a row or column lit from edge to edge (:func:`erase_streaks`: a scanner streak, a fold) and hard
pencil lines or straight lines from edge to edge (:func:`erase_lines`: a doodle, a ruled line, a
dotted crossing-out) are not the digit.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.stages.levels import as_uint8
from digitlib.tuning import TUNING

REPAIR = TUNING.repair
FRAME = np.ones((28, 28), bool)
FRAME[2:-2, 2:-2] = False  # the 2-pixel border: MNIST's strokes stay clear of most of it
ROWS, COLS = np.mgrid[0:28, 0:28].astype(np.float32)


def erase_streaks(values: np.ndarray) -> np.ndarray:
    """A row or column lit from edge to edge (a scanner streak, a ruled line, a fold) is no
    MNIST stroke, which keeps 4 pixels from the edges: it is painted over from the rows (or
    columns) beside it."""
    for axis in (0, 1):
        work = values if axis == 0 else values.T
        lit_pixels = work > 0.5
        # Lit at both ends (MNIST's digit keeps 4 pixels from every edge), along most of its
        # length, and thin: the lines two away are far less lit (a bold digit's are not).
        ends = lit_pixels[:, :2].any(axis=1) & lit_pixels[:, -2:].any(axis=1)
        if not ends.any():
            continue  # the usual case, decided cheaply
        counts = np.count_nonzero(lit_pixels, axis=1)
        padded = np.pad(counts, 2)
        beside = np.maximum(padded[:-4], padded[4:])
        lit = ends & (counts >= REPAIR.streak_span) & (beside <= counts - 6)
        if not lit.any() or lit.all():
            continue
        work = work.copy()
        clear = np.flatnonzero(~lit)
        for row in np.flatnonzero(lit):
            neighbours = [*clear[clear < row][-1:], *clear[clear > row][:1]]
            work[row] = work[neighbours].mean(axis=0)
        values = work if axis == 0 else work.T
    return values


def erase_lines(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Pencil lines, then straight lines across the image (both need ink in the border, which
    this checks for them). Returns the image and whether anything was erased. Not on a
    speckled image (salt noise, spatter): its lone pixels and holed strokes look thin, and the
    network reads through the noise better than a repair."""
    lit = (values > 0.5).astype(np.uint8)
    if not lit[FRAME].any():
        return values, False  # the usual case, decided cheaply
    lone = lit & (cv2.filter2D(lit, -1, np.ones((3, 3), np.float32), borderType=0) == 1)
    if np.count_nonzero(lone) >= 3:
        return values, False
    values, pencil = _erase_pencil_lines(values)
    values, straight = _erase_straight_lines(values)
    return values, pencil or straight


def _thin_ink(values: np.ndarray) -> np.ndarray:
    """Ink that is 1 pixel wide even at a faint level: no anti-aliased fringe (uint8 mask)."""
    wide = cv2.morphologyEx(
        (values > REPAIR.pen_fringe).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)
    )
    return (values > 0.5).astype(np.uint8) & (1 - wide)


def _erase_pencil_lines(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Hard 1-pixel lines across the image (a paint program's pencil, a doodle over the digit)
    are cleared. MNIST's strokes are anti-aliased, so even a thin one is 2 or more pixels wide
    at a faint level; a pencil line has no such fringe. Only when such lines reach two opposite
    edges of the image, and a digit's body of wider ink is left, are the thin pieces cleared
    (an outline-only digit is all thin and stays)."""
    lit = (values > 0.5).astype(np.uint8)
    # Ink on two opposite edges of the image: no MNIST digit spans it (its box is 20x20).
    if not (lit[:, 0].any() and lit[:, -1].any()) and not (lit[0].any() and lit[-1].any()):
        return values, False
    thin = _thin_ink(values)
    wide = lit & (1 - thin)
    if np.count_nonzero(thin[FRAME]) < 4 or np.count_nonzero(wide) < REPAIR.digit_body:
        return values, False
    count, labels, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA]
    pieces = np.flatnonzero(areas >= 4)
    pieces = pieces[pieces > 0]
    out = values.copy()
    out[np.isin(labels, pieces)] = 0.0
    return out, True


def _erase_straight_lines(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Straight lines lit from one edge of the image to the other (a ruled line, a dotted
    crossing-out) are painted over from the pixels beside them (inpainting), so the digit's
    stroke where a line crossed it is filled in."""
    lit = (values > 0.5).astype(np.uint8)
    band = np.zeros((28, 28), np.uint8)
    for _ in range(4):  # one line at a time, strongest first, each removed before the next
        line = _line_across(lit)
        if line is None:
            break
        band |= line
        lit &= 1 - line
    if not band.any() or np.count_nonzero(lit) < 25:
        return values, False  # nothing found, or nothing but the lines: leave it be
    painted = cv2.inpaint(as_uint8(values), band, 2, cv2.INPAINT_TELEA).astype(np.float32)
    painted /= 255.0
    # What the lines' ragged edges left beside the band: hard 1-pixel remnants.
    beside = cv2.dilate(band, np.ones((3, 3), np.uint8)) & _thin_ink(painted)
    painted[beside > 0] = 0.0
    return painted, True


def _line_across(lit: np.ndarray) -> np.ndarray | None:
    """The band of the strongest straight line lit from edge to edge, or None."""
    found = cv2.HoughLines(lit, 2, np.pi / 90, REPAIR.line_votes)
    on_border = FRAME & (lit > 0)
    if found is None or not on_border.any():
        return None
    # Most candidates are a digit's strokes: they are screened all at once (the same float32
    # arithmetic, candidate by candidate, as the refining below), and only those left refined.
    rho, theta = found[:20, 0, 0], found[:20, 0, 1]
    cos, sin = np.cos(theta), np.sin(theta)
    rho3, cos3, sin3 = rho[:, None, None], cos[:, None, None], sin[:, None, None]
    distances = np.abs(COLS * cos3 + ROWS * sin3 - rho3)
    enough = np.count_nonzero((distances <= REPAIR.line_band) & (lit > 0), axis=(1, 2)) >= 26
    # Lit border pixels near both ends of the candidate, or it is no line from edge to edge
    # (the test below, after refining): screened with a wide margin (refining moves a line by
    # a pixel or two).
    lengthwise = ROWS * cos3 - COLS * sin3
    on_line = distances <= 0.71
    reach_min = np.where(on_line, lengthwise, np.inf).min(axis=(1, 2))
    reach_max = np.where(on_line, lengthwise, -np.inf).max(axis=(1, 2))
    border_x, border_y = COLS[on_border], ROWS[on_border]
    close = np.abs(border_x * cos[:, None] + border_y * sin[:, None] - rho[:, None])
    close = close <= REPAIR.screen_margin
    border_reach = border_y * cos[:, None] - border_x * sin[:, None]
    border_min = np.where(close, border_reach, np.inf).min(axis=1)
    border_max = np.where(close, border_reach, -np.inf).max(axis=1)
    screened = enough & close.any(axis=1) & on_line.any(axis=(1, 2))
    screened &= border_min <= reach_min + 2.5 + REPAIR.screen_margin
    screened &= border_max >= reach_max - 2.5 - REPAIR.screen_margin
    for index in np.flatnonzero(screened):
        distance = distances[index]
        near = (distance <= REPAIR.line_band) & (lit > 0)
        # Refined on its own pixels (Hough's coarse steps miss by a pixel or two at the ends),
        # then on those closest to the refined line (the digit's strokes beside it pull less).
        for _ in range(2):
            points = np.column_stack((COLS[near], ROWS[near]))
            dx, dy, x0, y0 = cv2.fitLine(points, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
            distance = np.abs((COLS - x0) * dy - (ROWS - y0) * dx)
            near = (distance <= 1.5) & (lit > 0)
            if np.count_nonzero(near) < 20:
                break
        on = distance <= 0.71
        if np.count_nonzero(on) < 26 or lit[on].mean() < REPAIR.line_lit:
            continue
        # A line the network reads through (single pixels, a hairline) is left to it; a bold one
        # (beads, a marker) hides the strokes it crosses.
        if np.count_nonzero(lit[distance <= 1.5]) < REPAIR.line_width * np.count_nonzero(on):
            continue
        # Lit at both of its ends, in the border: from edge to edge.
        along = (COLS - x0) * dx + (ROWS - y0) * dy
        ends = along[on].min(), along[on].max()
        lit_along = along[on & FRAME & (lit > 0)]
        if not len(lit_along) or lit_along.min() > ends[0] + 2.5 or lit_along.max() < ends[1] - 2.5:
            continue
        # As wide as the line is (a marker's stroke is wider than beads): out to where it ends.
        width = REPAIR.line_band
        while width < 4.0:
            ring = (distance > width) & (distance <= width + 0.7)
            if not ring.any() or lit[ring].mean() <= 0.5:
                break
            width += 0.5
        # A line, not the edge of a digit bold enough to span the image: dark beside it.
        if lit[(distance > width + 0.5) & (distance <= width + 2.5)].mean() > 0.4:
            continue
        return (distance <= width).astype(np.uint8)
    return None
