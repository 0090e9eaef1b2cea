"""Multi-digit reading: find each digit of a written number, left to right.

Connected components of the cleaned ink mask are grouped into blobs: pieces stacked above one
another (a 5's detached top, a 7's bar, a broken stroke) are merged, and specks, dashes and
marks off the line of writing are dropped. A blob wide enough to hold touching digits is cut
where the classifier reads the pieces best.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.preprocess import InkImage, Region, mnist_normalise

MAX_DIGITS = 32
MAX_CUTS = 12  # candidate cuts per blob
MAX_PIECES = 3  # a digit may span this many consecutive pieces of an over-cut blob
DIGIT_COST = 0.3  # log-probability each extra digit must earn (keeps a wide 0 whole)


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
    # a paper-line remnant or a shadow edge, not a digit. Dashes and slivers go first, so that
    # one long shadow edge cannot pass for the tallest digit.
    def dash(group):
        x0, y0, x1, y1 = extent(group)
        return (x1 - x0) > 2.5 * (y1 - y0) or (y1 - y0) <= 3

    groups = [group for group in groups if not dash(group)] or groups
    heights = sorted(extent(group)[3] - extent(group)[1] for group in groups)
    tallest = heights[min(len(heights) - 1, (3 * len(heights)) // 4)]  # robust to one odd blob
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


def _columns(region: Region, left: int, right: int) -> Region | None:
    """The part of a region between two columns (relative to its left edge)."""
    piece = np.zeros_like(region.mask)
    start, stop = region.x + left, region.x + right
    piece[:, start:stop] = region.mask[:, start:stop]
    return region_from_mask(piece)


def _cut_candidates(ink: InkImage, region: Region, digit_height: float) -> list[int]:
    """Columns where a blob might be cut into digits: the valleys of its ink profile."""
    x0, y0, x1, y1 = region.x, region.y, region.x + region.w, region.y + region.h
    profile = (ink.ink[y0:y1, x0:x1] * region.mask[y0:y1, x0:x1]).sum(axis=0)
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    margin = max(2, int(0.15 * digit_height))
    valleys = [
        column
        for column in range(margin, region.w - margin)
        if smooth[column] <= smooth[column - 1]
        and smooth[column] <= smooth[column + 1]
        and smooth[column] < 0.6 * smooth.max()
    ]
    cuts: list[int] = []
    for column in sorted(valleys, key=lambda c: smooth[c]):  # deepest valleys first
        if all(abs(column - other) >= margin for other in cuts):
            cuts.append(column)
        if len(cuts) == MAX_CUTS:
            break
    return sorted(cuts)


def segment_blob(
    ink: InkImage, region: Region, digit_height: float, classify
) -> list[tuple[Region, np.ndarray]]:
    """Split a blob into digits, letting the classifier choose among the cuts.

    The blob is over-cut at the valleys of its ink profile; the blob whole and every run of one
    to three consecutive pieces are candidate digits, scored by the log-probability of their best
    class, less a cost per digit and penalties for shapes wider or much shorter than a digit.
    Dynamic programming picks the best sequence (over-segmentation and recognition, as in
    classic check readers). Returns each digit's region with its network input.
    """
    if region.w <= 0.8 * region.h:  # narrower than two digits side by side
        return [(region, mnist_normalise(ink.ink, region))]
    bounds = [0, *_cut_candidates(ink, region, digit_height), region.w]
    pieces = len(bounds) - 1
    windows, spans = [], []
    runs = {(i, j) for i in range(pieces) for j in range(i + 1, min(i + MAX_PIECES, pieces) + 1)}
    runs.add((0, pieces))  # the blob whole is always a candidate
    for start, stop in sorted(runs, key=lambda run: (run[1], run[0])):  # by end: DP order
        window = _columns(region, bounds[start], bounds[stop])
        if window is not None:
            windows.append(window)
            spans.append((start, stop))
    if not windows:
        return [(region, mnist_normalise(ink.ink, region))]
    inputs = np.stack([mnist_normalise(ink.ink, w) for w in windows])
    probabilities = classify(inputs)
    best: list[tuple[float, list[int]]] = [(0.0, [])] + [(-np.inf, [])] * pieces
    for index, ((start, stop), window) in enumerate(zip(spans, windows, strict=True)):
        aspect = window.w / max(window.h, 1)
        score = float(np.log(probabilities[index].max() + 1e-9)) - DIGIT_COST
        score -= 2.0 * max(0.0, aspect - 1.2)
        # The model reads a fragment (a 9's loop, a 5's bar) confidently as a 0 or a 7: judge
        # candidates also by height, since every digit on a line is about as tall as the others.
        score -= 6.0 * max(0.0, 0.7 - window.h / digit_height)
        total = best[start][0] + score
        if total > best[stop][0]:
            best[stop] = (total, [*best[start][1], index])
    chosen = best[pieces][1]
    if not chosen:
        return [(region, mnist_normalise(ink.ink, region))]
    return [(windows[i], inputs[i]) for i in chosen]


def find_digits(ink: InkImage, classify) -> list[tuple[Region, np.ndarray]]:
    """The digits of a written number, left to right: each one's region in work-image pixels
    and its 28x28 network input.

    ``classify`` maps (N, 28, 28) network inputs to (N, 10) probabilities; it settles where
    touching digits are cut.
    """
    labels, stats = ink.labels, ink.stats
    count = len(stats)
    if count <= 1:
        raise NoDigitFoundError("There is no number in this image.")
    regions: list[tuple[Region, np.ndarray]] = []
    groups = _groups(stats, count)
    heights = [
        max(stats[g, cv2.CC_STAT_TOP] + stats[g, cv2.CC_STAT_HEIGHT] for g in group)
        - min(stats[g, cv2.CC_STAT_TOP] for g in group)
        for group in groups
    ]
    digit_height = float(np.median(heights))
    for group in groups:
        lookup = np.zeros(count, np.uint8)
        lookup[group] = 1
        region = region_from_mask(lookup[labels])
        regions.extend(segment_blob(ink, region, digit_height, classify))
    if len(regions) > MAX_DIGITS:
        raise NoDigitFoundError(
            f"This image holds {len(regions)} separate marks; "
            f"a number of at most {MAX_DIGITS} digits was expected."
        )
    return regions
