"""Multi-digit reading: find each digit of a written number, left to right.

Connected components of the cleaned ink mask are grouped into blobs: pieces stacked above one
another (a 5's detached top, a 7's bar, a broken stroke) are merged, and specks, dashes,
marks off the line of writing and things cut by the picture's edge far from the number are
dropped. A blob wide enough to hold touching digits is cut at the valleys of its ink, along
paths through the least ink (round the strokes of slanted digits) or straight down (between
strokes that touch along their length), where the classifier reads the pieces best.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.stages.find import Region
from digitlib.stages.normalise import mnist_normalise
from digitlib.stages.page import InkImage
from digitlib.tuning import TUNING

NUMBERS = TUNING.numbers
_ASPECT_LOG_MEAN = np.array(NUMBERS.aspect_log_mean)
_ASPECT_LOG_STD = np.array(NUMBERS.aspect_log_std)


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def _groups(
    stats: np.ndarray, count: int, shape: tuple[int, int]
) -> tuple[list[list[int]], list[list[int]]]:
    """Merge components into digit candidates (label lists), sorted left to right; and the
    groups left out as dashes, marks off the line or things at the picture's edge.

    Only pieces that are clearly parts of one digit are merged here: one stacked above the other
    (a 5's detached top) or a short piece close to another (a 7's bar, a broken stroke), the
    surest pair first (see ``affinity``). Two tall pieces side by side stay apart even when their
    boxes overlap (a slanted 1 leaning over the 2 beside it).
    """
    boxes = {label: [int(v) for v in stats[label, :4]] for label in range(1, count)}  # x, y, w, h
    heights = sorted(h for _, _, _, h in boxes.values())
    line_height = heights[len(heights) // 2] if heights else 1
    big_height = max(heights) if heights else 1
    # Dots much smaller than the digits are specks of dirt or noise, never part of a digit.
    speck = NUMBERS.speck * heights[(3 * len(heights)) // 4] if heights else 0
    boxes = {label: box for label, box in boxes.items() if max(box[2], box[3]) >= speck} or boxes
    specks = [[label] for label in range(1, count) if label not in boxes]
    groups = [[label] for label in sorted(boxes, key=lambda label: boxes[label][0])]

    def extent(group):
        x0 = min(boxes[g][0] for g in group)
        x1 = max(boxes[g][0] + boxes[g][2] for g in group)
        y0 = min(boxes[g][1] for g in group)
        y1 = max(boxes[g][1] + boxes[g][3] for g in group)
        return x0, y0, x1, y1

    short = 0.45 * max(line_height, 0.6 * big_height)  # a group under this height is a piece

    def affinity(a, b):  # extents of two groups
        """Whether two groups are one digit, and how surely: None when not; else (less the
        share of the smaller box inside the other, 0 when one of them is as tall as a digit and
        1 for two short pieces, the horizontal gap between them (negative: they overlap)), the
        smaller the surer."""
        ax0, ay0, ax1, ay1 = a
        bx0, by0, bx1, by1 = b
        narrow = min(ax1 - ax0, bx1 - bx0)
        low = min(ay1 - ay0, by1 - by0)
        near = max(ay0, by0) - min(ay1, by1) <= NUMBERS.stack_gap * line_height
        gap = max(ax0, bx0) - min(ax1, bx1)
        stacked = (
            _overlap(ax0, ax1, bx0, bx1) >= 0.5 * narrow
            and _overlap(ay0, ay1, by0, by1) <= NUMBERS.stack_overlap * low
            and near
        )
        close = low < short and near and gap <= 0.25 * big_height
        if not (stacked or close):
            return None
        inside = _overlap(ax0, ax1, bx0, bx1) * _overlap(ay0, ay1, by0, by1)
        inside /= max(1, min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0)))
        return (-round(inside, 1), int(max(ay1 - ay0, by1 - by0) < short), gap)

    # The surest pair first: a piece joins a group whose box holds it, else the nearest
    # digit-sized group beside or under it (a 7's bar the stem it sits on, not the 0 before it
    # that it also nearly touches), before two pieces pair up on their own.
    # Groups by number (left to right at first, ties going to the leftmost); each pair's
    # affinity is worked out once, and again only for the group that a merge changed.
    members = dict(enumerate(groups))
    spans = {number: extent(group) for number, group in members.items()}
    pairs = {
        (a, b): found
        for a, b in itertools.combinations(members, 2)
        if (found := affinity(spans[a], spans[b])) is not None
    }
    while pairs:
        a, b = min(pairs, key=lambda pair: (pairs[pair], pair))
        members[a] += members.pop(b)
        spans[a] = extent(members[a])
        del spans[b]
        pairs = {pair: found for pair, found in pairs.items() if a not in pair and b not in pair}
        for other in members:
            if other != a:
                pair = (min(a, other), max(a, other))
                if (found := affinity(spans[pair[0]], spans[pair[1]])) is not None:
                    pairs[pair] = found
    groups = sorted(members.values(), key=lambda group: extent(group)[0])

    # What is left that is much shorter than the digits, or off their line, is a speck, a dash,
    # a paper-line remnant or a shadow edge, not a digit. Dashes and slivers go first, so that
    # one long shadow edge cannot pass for the tallest digit; a wide blob as tall as the digits
    # is touching digits, not a dash.
    def dash(group):
        x0, y0, x1, y1 = extent(group)
        flat = (x1 - x0) > 2.5 * (y1 - y0) and (y1 - y0) < 0.6 * big_height
        return flat or (y1 - y0) <= 3

    kept = [group for group in groups if not dash(group)]
    dropped = [group for group in groups if dash(group)] if kept else []
    groups = kept or groups
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

    dropped += [group for group in groups if not on_the_line(group)]
    groups = [group for group in groups if on_the_line(group)]

    # A mark cut by the picture's edge and far from every other mark is the edge of something
    # else in the photo (a pen, a shadow, the table), not a digit of the number.
    height, width = shape
    spans = [extent(group) for group in groups]

    def stray(index):
        x0, y0, x1, y1 = spans[index]
        if x0 > 0 and y0 > 0 and x1 < width and y1 < height:
            return False
        gaps = [max(ox0 - x1, x0 - ox1) for j, (ox0, _, ox1, _) in enumerate(spans) if j != index]
        return bool(gaps) and min(gaps) > NUMBERS.stray_gap * tallest

    strays = [stray(index) for index in range(len(groups))]
    if all(strays):  # nothing but strays: all kept
        strays = [False] * len(groups)
    kept = [group for group, left_out in zip(groups, strays, strict=True) if not left_out]
    dropped += [group for group, left_out in zip(groups, strays, strict=True) if left_out]
    return kept, dropped + specks


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


def _between(region: Region, left: np.ndarray, right: np.ndarray) -> Region | None:
    """The part of a region between two cuts: in each of its rows, the columns from ``left`` up
    to ``right`` (relative to its left edge)."""
    columns = np.arange(region.w)
    inside = (columns >= left[:, None]) & (columns < right[:, None])
    box = (slice(region.y, region.y + region.h), slice(region.x, region.x + region.w))
    piece = np.zeros_like(region.mask)
    piece[box] = region.mask[box] * inside
    return region_from_mask(piece)


def _seam(cost: np.ndarray, column: int, band: int, margin: int = 0) -> np.ndarray:
    """A cut from top to bottom through the least ink, within ``band`` columns of ``column`` and
    moving at most one column per row (dynamic programming, as in seam carving). Between two
    slanted digits that touch it goes round their strokes, where a straight cut would give a
    piece of one to the other. It keeps ``margin`` columns from both sides of ``cost``: else,
    when the digits touch along much of their height, the cheapest path goes round the whole
    of a narrow digit at the end (a 1 after a 6) and cuts nothing off. Returns the column (of
    ``cost``) at which each row is cut."""
    height, width = cost.shape
    lo, hi = max(margin, column - band), min(width - margin, column + band + 1)
    # A little cost for straying from the valley keeps the cut there when nothing is in the way.
    local = cost[:, lo:hi] + 0.01 * np.abs(np.arange(lo, hi) - column) / max(band, 1)
    total = local[0].copy()
    came = np.zeros(local.shape, np.int8)  # -1: from the column to the left, 0: above, 1: right
    rows = np.arange(hi - lo)
    for row in range(1, height):
        options = np.stack(
            [
                np.r_[np.inf, total[:-1]] + NUMBERS.seam_step,
                total,
                np.r_[total[1:], np.inf] + NUMBERS.seam_step,
            ]
        )
        choice = np.argmin(options, axis=0)
        total = options[choice, rows] + local[row]
        came[row] = choice - 1
    path = np.empty(height, np.int64)
    path[-1] = int(np.argmin(total))
    for row in range(height - 1, 0, -1):
        path[row - 1] = path[row] + came[row, path[row]]
    return path + lo


def _margin(digit_height: float) -> int:
    """How near a blob's side a cut may come (pixels)."""
    return max(2, int(NUMBERS.cut_margin * digit_height))


def _cut_candidates(ink: InkImage, region: Region, digit_height: float) -> list[int]:
    """Columns where a blob might be cut into digits: the valleys of its ink profile."""
    x0, y0, x1, y1 = region.x, region.y, region.x + region.w, region.y + region.h
    profile = (ink.ink[y0:y1, x0:x1] * region.mask[y0:y1, x0:x1]).sum(axis=0)
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    margin = _margin(digit_height)
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
        if len(cuts) == NUMBERS.max_cuts:
            break
    return sorted(cuts)


def _boundaries(ink: InkImage, region: Region, digit_height: float) -> list[list[np.ndarray]]:
    """Where a blob may be cut, left to right: its left side, then for each valley of its ink
    profile the ways to cut there, then its right side (each a column per row, relative to the
    blob's left edge). A narrow blob has only its two sides.

    Each valley is cut two ways: along the least-ink path (``_seam``), which goes round the
    strokes of slanted digits that touch, and straight down, which is right where two strokes
    run side by side and touch along their length (a 9's stem against a 0: the least-ink path
    crosses the 0's thin ring twice instead, and gives half the 0 to the 9). The reader picks,
    cut by cut, whichever reads best. Every way of cutting at one valley lies right of every
    way of cutting at the one before, so that no ink is in two pieces."""
    left = np.zeros(region.h, np.int64)
    right = np.full(region.h, region.w, np.int64)
    if region.w <= NUMBERS.narrow * region.h:  # narrower than two digits side by side
        return [[left], [right]]
    box = (slice(region.y, region.y + region.h), slice(region.x, region.x + region.w))
    cost = ink.ink[box] * region.mask[box]
    band, margin = int(NUMBERS.seam_band * digit_height), _margin(digit_height)
    bounds = [[left]]
    for column in _cut_candidates(ink, region, digit_height):  # left to right
        floor = np.max(bounds[-1], axis=0)  # never crossing a cut before
        ways = [_seam(cost, column, band, margin)]
        if NUMBERS.straight_cuts:
            ways.append(np.full(region.h, column, np.int64))
        ways = [np.maximum(way, floor) for way in ways]
        if len(ways) == 2 and np.array_equal(ways[0], ways[1]):
            ways = ways[:1]
        bounds.append(ways)
    bounds.append([right])
    return bounds


def _score(probabilities: np.ndarray, window: Region, digit_height: float) -> tuple[float, int]:
    """How much a window reads like one digit, and as which: the log-probability of its best
    class, less a cost per digit and penalties for shapes wider, or much shorter, than a
    digit."""
    aspect = window.w / max(window.h, 1)
    z = (np.log(aspect) - _ASPECT_LOG_MEAN) / _ASPECT_LOG_STD
    z[1] = max(z[1], 0.0)  # a 1 may be as thin as the pen
    surprise = 0.5 * z**2
    fits = np.log(probabilities + 1e-9) - NUMBERS.aspect_weight * surprise
    digit = int(np.argmax(fits))
    score = float(fits[digit]) - NUMBERS.digit_cost
    score -= 2.0 * max(0.0, aspect - 1.2)
    # The model reads a fragment (a 9's loop, a 5's bar) confidently as a 0 or a 7: judge
    # candidates also by height, since every digit on a line is about as tall as the others.
    score -= NUMBERS.height_weight * max(0.0, 0.7 - window.h / digit_height)
    return score, digit


@dataclass
class Line:
    """A number's digits as :func:`read_line` cut them, and what makes the cutting doubtful."""

    digits: list[tuple[Region, np.ndarray]]  # each digit's region (work image) and 28x28 input
    # The best reading with another text for each count of digits, and how much less it
    # scores than the reading (log-probability), closest first.
    rivals: list[tuple[str, float]]
    at_edge: list[bool]  # each digit: touching the picture's edge (perhaps cut by it)
    left_out: list[Region]  # marks near the number, half a digit tall or more, read as no digit

    def doubts(self, confidences: list[float]) -> list[str]:
        """Why the cutting is doubtful, in words (none: it is not), given each digit's
        confidence: another cut reads almost as well, a mark near the number was left out, or
        a digit at the picture's edge reads less than surely (it may be cut)."""
        found = []
        count = len(self.digits)
        close = [
            text
            for text, margin in self.rivals
            if margin < NUMBERS.rival_margin[int(np.sign(len(text) - count)) + 1]
        ]
        if close:
            found.append(f"another cut reads almost as well ({close[0]})")
        if self.left_out:
            found.append("a mark near the number was left out")
        if any(
            edge and confidence < NUMBERS.edge_confidence
            for edge, confidence in zip(self.at_edge, confidences, strict=True)
        ):
            found.append("a digit at the picture's edge may be cut off")
        return found


def read_line(ink: InkImage, classify, digitness=None) -> Line:
    """The digits of a written number, left to right (each one's region in work-image pixels
    and its 28x28 network input), and what makes their cutting doubtful (:class:`Line`).

    The line is over-segmented: components grouped by ``_groups``, and blobs wide enough to
    hold touching digits cut at the valleys of their ink profile, each in two ways (along the
    least ink, round the strokes of slanted writing, and straight down: ``_boundaries``). Each
    blob whole, and every run of one to ``max_pieces`` consecutive pieces of one blob, between
    any way of cutting at its start and any at its end, is a candidate digit; ``classify``
    (mapping (N, 28, 28) network inputs to (N, 10) probabilities) and ``digitness`` (the gate's
    "is this one digit" score, optional) score them, and dynamic programming picks the best
    reading of the whole line (over-segmentation and recognition, as in classic check readers).
    Joining pieces of two blobs (a 4 written in two strokes) was tried and read fewer numbers
    right: broken strokes are merged by ``_groups`` instead.
    """
    if len(ink.stats) <= 1:
        raise NoDigitFoundError("There is no number in this image.")
    labels, stats = ink.labels, ink.stats
    count = len(stats)
    groups, dropped = _groups(stats, count, labels.shape)
    blobs = []
    for group in groups:
        lookup = np.zeros(count, np.uint8)
        lookup[group] = 1
        blobs.append(region_from_mask(lookup[labels]))
    digit_height = float(np.median([blob.h for blob in blobs]))
    cuts = [_boundaries(ink, blob, digit_height) for blob in blobs]
    pieces = sum(len(bounds) - 1 for bounds in cuts)
    if pieces > 3 * NUMBERS.max_digits:
        raise NoDigitFoundError(
            f"This image holds {pieces} separate marks; "
            f"a number of at most {NUMBERS.max_digits} digits was expected."
        )
    # The line as a graph: a node per way of cutting (each blob's sides, shared with its
    # neighbours, and each way of cutting at each valley), numbered left to right, and an edge
    # per candidate digit between two of them (each blob whole, and every run of one to
    # NUMBERS.max_pieces pieces of a blob).
    edges: list[tuple[int, int]] = []
    windows: list[Region] = []
    nodes = 1  # node 0: the left side of the first blob
    for blob, bounds in zip(blobs, cuts, strict=True):
        ids = [[nodes - 1]]  # this blob's left side: the node the blob before it ended on
        for ways in bounds[1:]:
            ids.append(list(range(nodes, nodes + len(ways))))
            nodes += len(ways)
        last = len(bounds) - 1
        for i, j in itertools.combinations(range(len(bounds)), 2):
            if j - i > NUMBERS.max_pieces and (i, j) != (0, last):
                continue
            for (a, left), (b, right) in itertools.product(
                zip(ids[i], bounds[i], strict=True), zip(ids[j], bounds[j], strict=True)
            ):
                window = _between(blob, left, right)
                if window is not None:
                    edges.append((a, b))
                    windows.append(window)
    inputs = np.stack([mnist_normalise(ink.ink, window) for window in windows])
    probabilities = classify(inputs)
    gate = digitness(inputs) if digitness is not None else np.ones(len(inputs))
    # Nodes are numbered left to right, every edge going from a lower number to a higher one:
    # the best readings up to each node, taken in order of the edges' ends. Each node keeps,
    # for each count of digits, its two best readings of different texts, so that the line's
    # runner-up (the best reading with another text) is known as well as its best.
    scored = [
        _score(p, window, digit_height) for p, window in zip(probabilities, windows, strict=True)
    ]
    best: list[dict[int, list[tuple[float, str, list[int]]]]] = [{0: [(0.0, "", [])]}] + [
        {} for _ in range(nodes - 1)
    ]
    for index in sorted(range(len(edges)), key=lambda e: (edges[e][1], edges[e][0])):
        start, stop = edges[index]
        gain = scored[index][0] + NUMBERS.gate_weight * float(np.log(gate[index] + 1e-6))
        for digits, readings in best[start].items():
            for total, text, path in readings:
                kept = best[stop].setdefault(digits + 1, [])
                candidate = (total + gain, text + str(scored[index][1]), [*path, index])
                same = [k for k, reading in enumerate(kept) if reading[1] == candidate[1]]
                if same:
                    if candidate[0] > kept[same[0]][0]:
                        kept[same[0]] = candidate
                else:
                    kept.append(candidate)
                kept.sort(key=lambda reading: -reading[0])
                del kept[2:]
    finished = sorted(
        (reading for readings in best[nodes - 1].values() for reading in readings),
        key=lambda reading: -reading[0],
    )
    top = finished[0]
    rivals: dict[int, tuple[str, float]] = {}
    for total, text, _ in finished[1:]:
        if text != top[1] and len(text) not in rivals:
            rivals[len(text)] = (text, top[0] - total)
    regions = [(windows[i], inputs[i]) for i in top[2]]
    if len(regions) > NUMBERS.max_digits:
        raise NoDigitFoundError(
            f"This image holds {len(regions)} separate marks; "
            f"a number of at most {NUMBERS.max_digits} digits was expected."
        )
    height, width = labels.shape

    def at_edge(window: Region) -> bool:
        return (
            window.x == 0
            or window.y == 0
            or window.x + window.w >= width
            or window.y + window.h >= height
        )

    return Line(
        digits=regions,
        rivals=sorted(rivals.values(), key=lambda rival: rival[1]),
        at_edge=[at_edge(window) for window, _ in regions],
        left_out=_left_out(stats, dropped, blobs, digit_height),
    )


def _left_out(
    stats: np.ndarray, dropped: list[list[int]], blobs: list[Region], digit_height: float
) -> list[Region]:
    """Marks left out near the number (the ``dropped`` groups' components, beside the digits'
    ``blobs``) that together are half a digit tall or more: a piece of a digit that did not
    join it, or a digit broken into specks (a faint 1 in dots). Overlapping in columns,
    left-out pieces are one mark."""
    line_top = min(blob.y for blob in blobs)
    line_bottom = max(blob.y + blob.h for blob in blobs)
    x0 = min(blob.x for blob in blobs) - digit_height
    x1 = max(blob.x + blob.w for blob in blobs) + digit_height
    pieces = sorted(
        (
            int(stats[label, 0]),
            int(stats[label, 0] + stats[label, 2]),
            int(stats[label, 1]),
            int(stats[label, 1] + stats[label, 3]),
        )
        for group in dropped
        for label in group
    )
    marks: list[list[int]] = []
    for px0, px1, py0, py1 in pieces:
        if py1 <= line_top or py0 >= line_bottom or px1 <= x0 or px0 >= x1:
            continue  # off the line of writing, or far from the number
        if marks and px0 <= marks[-1][1]:
            mark = marks[-1]
            marks[-1] = [mark[0], max(mark[1], px1), min(mark[2], py0), max(mark[3], py1)]
        else:
            marks.append([px0, px1, py0, py1])
    return [
        Region(mx0, my0, mx1 - mx0, my1 - my0, np.zeros((0, 0), np.uint8))
        for mx0, mx1, my0, my1 in marks
        if my1 - my0 >= NUMBERS.left_out_height * digit_height
    ]
