"""Stage 3, find digits: which components of the cleaned ink are the digit.

Components are labelled (:func:`components`), specks and page edges dropped
(:func:`drop_specks_and_edges`, also run by the page and 28x28 repair stages), and
:func:`find_digit` takes the component with the most ink and the pieces close to it. A written
number's digits are found by :mod:`digitlib.segment` on the same components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.stages.levels import percentile
from digitlib.tuning import TUNING

if TYPE_CHECKING:
    from digitlib.stages.page import InkImage

FIND = TUNING.find


@dataclass
class Region:
    """Where ink was found, in work-image pixels, with its binary mask (full work size)."""

    x: int
    y: int
    w: int
    h: int
    mask: np.ndarray

    def scaled(self, factor: float) -> tuple[int, int, int, int]:
        """The box in another image's pixels (``factor`` = that image's size / work size)."""
        return (
            int(round(self.x * factor)),
            int(round(self.y * factor)),
            max(1, int(round(self.w * factor))),
            max(1, int(round(self.h * factor))),
        )


def components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """``cv2.connectedComponentsWithStats(mask, connectivity=8)``'s count, labels and stats,
    labelled within the box around the ink only (a tenth of a photo's quick look, typically: half
    the time). The same labels, numbered alike, and the same stats for every component; row 0
    (the background, which nothing reads) gives the whole image's box and the background's
    area."""
    x, y, w, h = cv2.boundingRect(mask)
    x0, y0 = x & ~1, y & ~1  # OpenCV labels 2x2 blocks in scan order: the same blocks here
    # (No ink, or ink over half of it: the whole image. OpenCV crashes on an empty one.)
    if w == 0 or (x + w - x0) * (y + h - y0) > 0.5 * mask.size:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        return count, labels, stats
    count, inside, stats, _ = cv2.connectedComponentsWithStats(
        mask[y0 : y + h, x0 : x + w], connectivity=8
    )
    labels = np.zeros(mask.shape, np.int32)
    labels[y0 : y + h, x0 : x + w] = inside
    stats[1:, cv2.CC_STAT_LEFT] += x0
    stats[1:, cv2.CC_STAT_TOP] += y0
    height, width = mask.shape
    stats[0] = (0, 0, width, height, mask.size - stats[1:, cv2.CC_STAT_AREA].sum())
    return count, labels, stats


def drop_specks_and_edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove specks and page edges from a uint8 0/1 mask; return the mask and its components'
    labels and OpenCV stats, numbered 1..n (row 0: the background)."""
    count, labels, stats = components(mask)
    if count <= 1:
        return mask, labels, stats
    height, width = mask.shape
    # Plain numbers: a handful of components is read several times faster than with numpy.
    rows = stats[1:].tolist()  # [x, y, w, h, area] of each component
    largest = max(row[cv2.CC_STAT_AREA] for row in rows)
    speck = max(4, 0.0003 * height * width)
    keep = [area >= speck or area >= 0.2 * largest for *_, area in rows]
    # A page edge or table corner hugs the border and spans it; drop such a component only when
    # something else is left, since a tight crop's digit may touch the border too. A line of
    # digits cropped at its top and bottom has several marks as tall as the picture: its
    # digits, kept when no wider than a digit.
    tall = sum(kept and h >= 0.6 * height for kept, (_, _, _, h, _) in zip(keep, rows, strict=True))
    inner = [
        kept
        and not (
            (x == 0 or y == 0 or x + w == width or y + h == height)
            and (w >= 0.9 * width or h >= 0.9 * height)
            and area > 0.3 * w * h
            and not (tall >= 2 and h >= 0.6 * height and w <= 1.2 * h)
        )
        for kept, (x, y, w, h, area) in zip(keep, rows, strict=True)
    ]
    if any(inner):
        keep = inner
    if all(keep):
        return mask, labels, stats  # nothing dropped: numbered as they are
    kept = np.flatnonzero(keep) + 1
    renumber = np.zeros(count, np.int32)
    renumber[kept] = np.arange(1, len(kept) + 1)
    labels = renumber[labels]
    return (labels > 0).astype(np.uint8), labels, np.vstack([stats[:1], stats[kept]])


def find_digit(
    ink: InkImage,
    piece_ink: float = FIND.piece_ink,
    large_piece_gap: float = FIND.large_piece_gap,
) -> Region:
    """The component with the most ink and the pieces close to it (a 5's top, a 7's bar, the
    other half of a broken stroke) that are at least ``piece_ink`` times as dark; raises
    :class:`NoDigitFoundError` when there is none, or only specks."""
    labels, stats = ink.labels, ink.stats
    count = len(stats)
    if count <= 1:
        raise NoDigitFoundError("There is no digit in this image.")
    rows = stats.tolist()  # [x, y, w, h, area] of each component, as plain numbers
    first = 1  # the only component, or the one with the most ink:
    if count > 2:
        # Ink per component, counted on every other pixel (plenty for ranking, four times
        # cheaper).
        weights = np.bincount(
            labels[::2, ::2].ravel(), weights=ink.ink[::2, ::2].ravel(), minlength=count
        )[1:]
        weights = np.where(weights > 0, weights, stats[1:, cv2.CC_STAT_AREA] * 1e-6)  # thin
        first = int(np.argmax(weights)) + 1
    chosen = {first}
    least = None  # how dark a piece must be: measured when there is a piece to measure
    faint: set[int] = set()  # pieces found too faint: not measured again on the next pass
    x0, y0, x1, y1 = _box(rows, chosen)
    height, width = labels.shape
    # A digit clear of the picture's edges (a photo, not a tight crop) takes no piece that runs
    # into an edge: that is a paper line's or a shadow's remnant. (Development uploads, 2 x 1000
    # of each kind: photos 1 more read right, crops and drawings unchanged; held-out non-digits,
    # 3 x 2,000: one more letter accepted. Through restore_mnist_style, the corruption suite of
    # notebook 05: 97.11 -> 97.15%, fog 97.9 -> 98.6%, spatter 98.4 -> 98.7%.)
    clear = x0 > 0 and y0 > 0 and x1 < width and y1 < height
    changed = True
    while changed:
        changed = False
        side = max(x1 - x0, y1 - y0)
        for label in range(1, count):
            if label in chosen or label in faint:
                continue
            lx, ly, lw, lh, area = rows[label]
            gap = max(FIND.piece_gap * side, FIND.line_gap * ink.line_band)
            if area >= FIND.large_piece * rows[first][cv2.CC_STAT_AREA]:
                gap = max(gap, large_piece_gap * max(side, lw, lh))
            # A hair-thin straight sliver beside the digit is what is left of a paper line.
            thin = max(2, 0.03 * max(x1 - x0, y1 - y0))  # the box as it stands now
            sliver = min(lw, lh) <= thin and max(lw, lh) >= 4 * min(lw, lh)
            if clear and (lx == 0 or ly == 0 or lx + lw == width or ly + lh == height):
                continue
            if (
                not sliver
                and lx <= x1 + gap
                and lx + lw >= x0 - gap
                and ly <= y1 + gap
                and ly + lh >= y0 - gap
            ):
                if least is None:
                    least = piece_ink * _strength(ink, rows, first) if piece_ink else 0.0
                if least and _strength(ink, rows, label) < least:
                    faint.add(label)
                    continue
                chosen.add(label)
                x0, y0, x1, y1 = _box(rows, chosen)
                changed = True
    if max(x1 - x0, y1 - y0) < FIND.min_digit_side:
        raise NoDigitFoundError("There is no digit in this image: only specks were found.")
    if len(chosen) == count - 1:
        mask = ink.mask.copy()  # every component: the whole mask
    else:
        lookup = np.zeros(count, np.uint8)
        lookup[list(chosen)] = 1
        mask = lookup[labels]
    return Region(x=x0, y=y0, w=x1 - x0, h=y1 - y0, mask=mask)


def _strength(ink: InkImage, rows: list[list[int]], label: int) -> float:
    """How dark a component's ink is: its 90th percentile (a pen's stroke, however thin, reaches
    the pen's darkness somewhere; the edge of a shadow or a smudge does not). ``rows``: the
    components' OpenCV stats as lists."""
    x, y, w, h = rows[label][:4]
    inside = ink.labels[y : y + h, x : x + w] == label
    return percentile(ink.ink[y : y + h, x : x + w][inside], 90)


def _box(rows: list[list[int]], labels) -> tuple[int, int, int, int]:
    """The box around the components ``labels`` (``rows``: their OpenCV stats as lists)."""
    boxes = [rows[label] for label in labels]
    return (
        min(x for x, *_ in boxes),
        min(y for _, y, *_ in boxes),
        max(x + w for x, _, w, *_ in boxes),
        max(y + h for _, y, _, h, _ in boxes),
    )
