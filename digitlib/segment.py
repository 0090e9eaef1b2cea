"""Multi-digit reading: find each digit of a written number, left to right.

Connected components of the cleaned ink mask are grouped into digits: pieces stacked above one
another (a 5's detached top, a 7's bar, a broken stroke) are merged; a component much wider than
a digit (touching digits) is split at the weakest columns of its ink profile.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.preprocess import InkImage, Region

MAX_DIGITS = 32


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def _groups(stats: np.ndarray, count: int) -> list[list[int]]:
    """Merge components into digit candidates (label lists), sorted left to right."""
    boxes = {label: [int(v) for v in stats[label, :4]] for label in range(1, count)}  # x, y, w, h
    heights = sorted(h for _, _, _, h in boxes.values())
    line_height = heights[len(heights) // 2] if heights else 1
    big_height = max(heights) if heights else 1
    groups = [[label] for label in sorted(boxes, key=lambda label: boxes[label][0])]

    def extent(group):
        x0 = min(boxes[g][0] for g in group)
        x1 = max(boxes[g][0] + boxes[g][2] for g in group)
        y0 = min(boxes[g][1] for g in group)
        y1 = max(boxes[g][1] + boxes[g][3] for g in group)
        return x0, y0, x1, y1

    merged = True
    while merged and len(groups) > 1:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                ax0, ay0, ax1, ay1 = extent(groups[i])
                bx0, by0, bx1, by1 = extent(groups[j])
                narrow = min(ax1 - ax0, bx1 - bx0)
                stacked = _overlap(ax0, ax1, bx0, bx1) >= 0.5 * narrow
                small = min(ay1 - ay0, by1 - by0) < 0.45 * max(line_height, 0.6 * big_height)
                close = max(ax0, bx0) - min(ax1, bx1) <= 0.25 * big_height
                if stacked or (small and close):
                    groups[i] += groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    groups.sort(key=lambda group: extent(group)[0])
    # What is left that is much shorter than the digits, or off their line, is a speck, a dash,
    # a paper-line remnant or a shadow edge, not a digit.
    tallest = max(extent(group)[3] - extent(group)[1] for group in groups)
    band = [
        extent(group) for group in groups if extent(group)[3] - extent(group)[1] >= 0.6 * tallest
    ]
    top = float(np.median([b[1] for b in band]))
    bottom = float(np.median([b[3] for b in band]))

    def on_the_line(group):
        x0, y0, x1, y1 = extent(group)
        return (
            y1 - y0 >= 0.4 * tallest
            and top - 0.3 * tallest <= (y0 + y1) / 2 <= bottom + 0.3 * tallest
        )

    return [group for group in groups if on_the_line(group)]


def _split_points(profile: np.ndarray, pieces: int) -> list[int]:
    """Cut columns near the ideal positions where the ink profile is weakest."""
    width = len(profile)
    cuts = []
    for k in range(1, pieces):
        ideal = k * width / pieces
        window = int(width / pieces * 0.3)
        lo, hi = max(1, int(ideal - window)), min(width - 1, int(ideal + window) + 1)
        cuts.append(lo + int(np.argmin(profile[lo:hi])))
    return cuts


def region_from_mask(mask: np.ndarray) -> Region | None:
    """The bounding region of a binary mask, or None when it is empty."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return Region(
        int(xs.min()),
        int(ys.min()),
        int(xs.max() + 1 - xs.min()),
        int(ys.max() + 1 - ys.min()),
        mask,
    )


def split(ink: InkImage, region: Region, pieces: int) -> list[Region]:
    """Cut a region into ``pieces`` side by side at the weakest columns of its ink."""
    x0, y0, x1, y1 = region.x, region.y, region.x + region.w, region.y + region.h
    profile = (ink.ink[y0:y1, x0:x1] * region.mask[y0:y1, x0:x1]).sum(axis=0)
    bounds = [0, *_split_points(profile, pieces), region.w]
    parts = []
    for left, right in zip(bounds[:-1], bounds[1:], strict=True):
        piece = np.zeros_like(region.mask)
        piece[:, x0 + left : x0 + right] = region.mask[:, x0 + left : x0 + right]
        part = region_from_mask(piece)
        if part is not None:
            parts.append(part)
    return parts


def find_digits(ink: InkImage) -> list[Region]:
    """The digits of a written number as regions in work-image pixels, left to right."""
    labels, stats = ink.labels, ink.stats
    count = len(stats)
    if count <= 1:
        raise NoDigitFoundError("There is no number in this image.")
    regions: list[Region] = []
    groups = _groups(stats, count)
    heights = [
        max(stats[g, cv2.CC_STAT_TOP] + stats[g, cv2.CC_STAT_HEIGHT] for g in group)
        - min(stats[g, cv2.CC_STAT_TOP] for g in group)
        for group in groups
    ]
    digit_height = float(np.median(heights))
    for group in groups:
        region = region_from_mask(np.isin(labels, group).astype(np.uint8))
        # A handwritten digit is rarely wider than tall (a wide 5 or 7 reaches about 1.3);
        # a wider blob is digits that touch, about 0.8 of the height each.
        if region.w > 1.45 * region.h:
            pieces = max(2, int(round(region.w / (0.8 * max(digit_height, region.h)))))
            regions.extend(split(ink, region, pieces))
        else:
            regions.append(region)
    if len(regions) > MAX_DIGITS:
        raise NoDigitFoundError(
            f"This image holds {len(regions)} separate marks; "
            f"a number of at most {MAX_DIGITS} digits was expected."
        )
    return regions
