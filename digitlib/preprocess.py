"""From a real image to what the network expects: an MNIST-style 28x28 digit.

Stages (each can be kept for display): grayscale, polarity (dark ink on light paper, light on
dark, coloured ink, or the alpha channel of a drawing), illumination flattening (uneven light,
shadows, vignetting, tinted paper), denoising, binarisation for localisation, removal of ruled or
squared paper lines, specks and page edges, then MNIST's own normalisation: crop, fit into 20x20
keeping the aspect ratio with anti-aliased grey levels, centre by centre of mass in 28x28.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.imageio import DecodedImage

WORK_SIDE = 320  # localisation runs on an image whose long side is at most this
# A large upload gets a first, cheap look on a work image this small (see quick_look), kept when
# the digit it finds there is at least QUICK_DIGIT pixels long: more than the 20x20 box needs.
# (Development photos 256 px or larger, 1,222: 982 answered by the quick look with 32, 1,066 with
# 24; with either, every answer on 2 x 1000 photos, crops and drawings the same as the full path's.)
QUICK_SIDE = 128
QUICK_DIGIT = 24
QUICK_GRAIN = 16  # its paper level is estimated on a coarser grid, relative to its size
SMALL_SIDE = 64  # images this small get no extra denoising blur
MIN_CONTRAST = 0.10  # strongest ink must differ from the paper by 10% of the paper's level
TARGET_STROKE = 2.0  # MNIST strokes are about 2-3 pixels wide in the 20x20 box
MIN_DIGIT_SIDE = 8  # work-image pixels: anything smaller is a speck, not a digit
# A piece joins the digit only when its ink is this dark (x the digit's): the edge of a shadow
# or a smudge beside the digit stays out (photos of 2 x 1000 test digits: 98.0 -> 98.3%, 98.5
# -> 98.8%; crops 99.4 -> 99.3%, canvas unchanged).
PIECE_INK = 0.7
PIECE_GAP = 0.25  # a piece this close (x the digit's long side so far) joins it, ...
# ... and a large piece (this share of the first one's area) this close x the longer side of the
# two: a digit broken in the middle, a 3's lower half 11 px below a 36 px top (photos and crops
# of 2 x 1000 test digits: 2 more read right, none fewer; held-out non-digits refused alike).
LARGE_PIECE = 0.3
LARGE_PIECE_GAP = 0.35
# When paper lines were erased, a piece this close (x the erased band's width) joins too: a small
# digit crossed by a line is left in pieces further apart than PIECE_GAP allows. (300 photos
# 64x56 of test digits 24 px tall, a ruled line through the middle: read right 64.7 -> 89.3%;
# development uploads and held-out non-digits unchanged, the benchmark's photos 1 more right.)
LINE_GAP = 1.5
# Where paper lines are erased, the pixels of their band darker than midway between the line's
# ink and the pen's are a stroke on the line, kept (see _strokes_on_lines), provided the pen is
# at least this many times as dark as the lines (0: off). 300 photos 64x56 of test digits 24 px
# tall, a ruled line through the middle: read right 89.3 -> 98.0% (1.25: 95.7%, 1.5: 92.7%);
# lines as dark as the ink (grey 20-60 on white): 80.0 -> 90.7%; development photos, crops and
# drawings (2 x 1000 each), the benchmark's photos and numbers, held-out non-digits unchanged.
LINE_STROKES = 1.0
# A second look keeps the faint ink this wide (work pixels) around the strokes, for readings the
# network is unsure of (recognizer.LOOK_AGAIN): see with_faint_ink.
FAINT_MARGIN = 7
AMBIGUOUS_POLARITY = 0.1  # median this close (x range) to mid-grey: look at the strokes
ENVELOPE = 2  # the shadow-following paper level is this many pen widths wide (0: off)
PAPER_FLOOR = 0.15  # ink is measured against a paper level of at least this (dark paper)
RELATIVE_INK = 0.45  # binarisation level, as a fraction of the strongest ink
# A 28x28 light-on-dark input passes through untouched when it looks like MNIST, measured on
# 20,000 MNIST training digits: background median 0, 99th-percentile ink >= 0.84, long side of the
# ink (> 0.35) 18-20 pixels, centre of mass within 13.5-14.5 on both axes.
LIFTED_BACKGROUND = 0.04  # a border median above this is a lifted or foggy background
FAINT_INK = 0.6  # ink whose 99th percentile is under this is stretched to full strength
CLEAN_LONG_SIDE = (16, 24)  # all the ink: a clean digit, passed through untouched
MNIST_LONG_SIDE = (16, 28)  # the digit without stray marks: only one clearly too small is resized
MNIST_CENTRE = (12.5, 15.5)
# Repairs of a 28x28 input (measured on the corruption suite, notebook 05): MNIST's own strokes
# are 2.5-5.1 px wide (a 28x28 digit's area over half its outline; 2,000 test digits).
WIDE_STROKE = 5.5  # wider than any MNIST stroke: a marker or a bled scan, eroded back to ...
THINNED_STROKE = 4.5  # ... this width (MNIST's widest tenth)
BOLD_MIN_PIXELS = 20  # fewer ink pixels than this are never thinned
FAINT_STROKE = 0.12  # ink this faint still belongs to a stroke when it touches one
STREAK_SPAN = 14  # lit pixels in one row or column of 28, both ends included: a streak
NOISY_BACKGROUND = 0.12  # this share of the background lit: sensor noise, cleared away
PEN_FRINGE = 0.05  # an anti-aliased stroke is 2+ px wide at this level; a pencil line stays 1 px
DIGIT_BODY = 20  # pixels of 2+ px wide ink a digit keeps once the thin lines are gone
LINE_VOTES = 22  # pixels on one straight line for it to be a candidate line across the image
LINE_LIT = 0.6  # share of a line's pixels that must be lit, edge to edge
LINE_WIDTH = 1.2  # mean lit width (px) of a line worth erasing: the network reads through thinner
LINE_BAND = 2.0  # pixels either side of a found line that are its ink, at least (beads of radius 1)
SCREEN_MARGIN = 5.0  # pixels: how far refining may move a candidate line, allowed generously
_FRAME = np.ones((28, 28), bool)
_FRAME[2:-2, 2:-2] = False  # the 2-pixel border: MNIST's strokes stay clear of most of it
_ROWS, _COLS = np.mgrid[0:28, 0:28].astype(np.float32)


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


@dataclass
class InkImage:
    """The flattened ink map (float32, 0 = paper, about 1 = full ink) and what led to it."""

    ink: np.ndarray
    mask: np.ndarray  # uint8 0/1, candidate ink after line, speck and edge removal
    labels: np.ndarray  # int32 connected components of ``mask`` (0 = background)
    stats: np.ndarray  # their OpenCV stats rows (row 0 = background)
    polarity: str
    work_scale: float  # work image size / decoded image size
    stages: dict[str, np.ndarray] = field(default_factory=dict)
    close_call: bool = False  # the polarity was a close call (see detect_polarity)
    line_band: int = 0  # width (px) of the band erased along paper lines, 0 when none were


def _as_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(values * 255.0, 0, 255).astype(np.uint8)


def _work_copy(
    decoded: DecodedImage, work_side: int = WORK_SIDE
) -> tuple[np.ndarray, np.ndarray | None, float]:
    pixels, alpha = decoded.pixels, decoded.alpha
    if pixels.ndim == 3:  # only luminance is used below: convert first, resize a third of it
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    height, width = pixels.shape[:2]
    scale = min(1.0, work_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return pixels, alpha, scale


def _transparent(alpha: np.ndarray | None) -> bool:
    """A drawing on a transparent background: over 5% of it see-through."""
    return alpha is not None and bool(np.mean(alpha < 128) > 0.05)


def detect_polarity(gray: np.ndarray) -> str:
    """``dark-on-light`` when the typical pixel is clearly nearer the bright end, ``light-on-dark``
    when clearly nearer the dark end; otherwise whichever the strokes show."""
    return _polarity(gray)[0]


def _polarity(gray: np.ndarray) -> tuple[str, bool]:
    """:func:`detect_polarity`'s answer, and whether it was a close call: the typical pixel
    near mid-grey (half the page in a shadow), where the other polarity deserves a look."""
    step = max(1, int(np.sqrt(gray.size / 10_000)))  # about 10,000 pixels are plenty
    sample = gray[::step, ::step]
    low, median, high = _percentiles(sample, (1, 50, 99))
    if high - low < MIN_CONTRAST * 255:
        # Ink on under 1% of the picture (a small number on a wide, clean page) is not in those
        # percentiles at all: compare the paper with the darkest and lightest pixels instead.
        low, high = float(gray.min()), float(gray.max())
    middle = (low + high) / 2
    close = abs(median - middle) < AMBIGUOUS_POLARITY * (high - low)
    if not close or min(gray.shape) < SMALL_SIDE:
        return ("dark-on-light" if median > middle else "light-on-dark"), close
    # The typical pixel is mid-grey: half the page is in a shadow, or the paper is mid-toned.
    # Decide by the thin structures instead: dark strokes on lighter ground are what a grey
    # closing removes, light strokes on darker ground what an opening removes. The edge of a
    # shadow is removed by neither. (A small crop has too few pixels across a stroke for this.)
    size = max(3, (min(sample.shape) // 10) | 1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    values = sample.astype(np.float32)
    dark = float((cv2.morphologyEx(values, cv2.MORPH_CLOSE, disc) - values).mean())
    light = float((values - cv2.morphologyEx(values, cv2.MORPH_OPEN, disc)).mean())
    return ("dark-on-light" if dark >= light else "light-on-dark"), close


def _percentiles(gray: np.ndarray, percents: tuple[float, ...]) -> list[float]:
    """``np.percentile(gray, percents)`` for uint8 pixels, exactly (the same linear
    interpolation between order statistics), read from a histogram: five times faster."""
    counts = cv2.calcHist([np.ascontiguousarray(gray)], [0], None, [256], [0, 256]).ravel()
    below = np.cumsum(counts)  # pixels at or below each level
    last = gray.size - 1
    positions = [percent / 100 * last for percent in percents]
    ranks = [int(position) for position in positions]  # the floor: positions are not negative
    levels = np.searchsorted(
        below, [r for rank in ranks for r in (rank, min(rank + 1, last))], "right"
    ).tolist()
    return [
        _between(float(levels[2 * i]), float(levels[2 * i + 1]), position - rank)
        for i, (position, rank) in enumerate(zip(positions, ranks, strict=True))
    ]


def _between(low: float, high: float, fraction: float) -> float:
    """Linear interpolation as numpy's percentiles round it (from the nearer end)."""
    diff = high - low
    return high - diff * (1 - fraction) if fraction >= 0.5 else low + diff * fraction


def _percentile(values: np.ndarray, percent: float) -> float:
    """``float(np.percentile(values, percent))``, exactly (the same order statistics and the same
    rounding of their linear interpolation), without its general machinery: a tenth of the time
    on the few thousand values it is asked about here."""
    flat = np.ravel(values)
    position = (flat.size - 1) * (percent / 100)
    rank = int(position)
    if rank + 1 >= flat.size:
        return float(np.max(flat))
    part = np.partition(flat, (rank, rank + 1))
    low, high = part[rank], part[rank + 1]
    fraction = position - rank
    if flat.dtype.kind == "f":  # interpolated in the values' own precision, as numpy does
        kind = flat.dtype.type
        diff = high - low
        if fraction >= 0.5:
            return float(high - diff * kind(1 - fraction))
        return float(low + diff * kind(fraction))
    return _between(float(low), float(high), fraction)


def _median(values: np.ndarray) -> float:
    """``float(np.median(values))``, exactly: the middle value, or the mean of the two middle
    values."""
    flat = np.ravel(values)
    middle = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, middle)[middle])
    part = np.partition(flat, (middle - 1, middle))
    return float(np.mean(part[middle - 1 : middle + 1]))


def _background(values: np.ndarray, grain: int = 64, whole_blocks: bool = False) -> np.ndarray:
    """Paper level everywhere: a wide median filter at low resolution (the short side
    reduced to ``grain`` pixels or a little more).

    The window is several stroke widths wide, so pen strokes (a minority of any window) vanish,
    while the paper's slow changes (light falloff, vignette, tint) and the sharp edge of a
    shadow (a median keeps step edges) remain, to be divided out.

    ``values``: float32 levels (0-1), or uint8 (0-255), and the paper level in the same kind.
    ``whole_blocks`` (the quick look) reduces by the means of whole blocks, leaving out the
    picture's ragged edge: OpenCV's fast path, a quarter of the time.
    """
    height, width = values.shape
    factor = max(1, min(height, width) // grain)
    rows, cols = max(1, height // factor), max(1, width // factor)
    source = values[: rows * factor, : cols * factor] if whole_blocks else values
    small = cv2.resize(source, (cols, rows), interpolation=cv2.INTER_AREA)
    size = max(3, (min(small.shape) // 2) | 1)
    if values.dtype == np.uint8:
        small = cv2.medianBlur(small, size)
    else:
        small = cv2.medianBlur(_as_uint8(small), size).astype(np.float32) / 255.0
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def _paper_level(
    values: np.ndarray, grain: int, dark_ink: bool, whole_blocks: bool = False
) -> np.ndarray:
    """:func:`_background`, and for a small light-on-dark image no lighter than the darker part
    of its border: such an image is a crop whose digit may fill more of it than a median window
    can see past."""
    background = _background(values, grain, whole_blocks)
    if not dark_ink and max(values.shape) <= 2 * SMALL_SIDE:
        ring = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
        background = np.minimum(background, background.dtype.type(np.percentile(ring, 10)))
    return background


def _ink_against(values: np.ndarray, background: np.ndarray, dark_ink: bool) -> np.ndarray:
    """Ink strength (0 = paper, 1 = full ink) of each pixel against the paper level; for uint8
    levels, in uint8 (0 = paper, 255 = full ink), rounded, in three OpenCV calls."""
    if values.dtype == np.uint8:
        floor = round(PAPER_FLOOR * 255)
        if dark_ink:
            return cv2.divide(
                cv2.subtract(background, values), cv2.max(background, floor), scale=255
            )
        return cv2.divide(
            cv2.subtract(values, background), cv2.max(255 - background, floor), scale=255
        )
    if dark_ink:
        ink = (background - values) / np.maximum(background, PAPER_FLOOR)
    else:
        ink = (values - background) / np.maximum(1.0 - background, PAPER_FLOOR)
    return np.clip(ink, 0.0, 1.0)


def _envelope(values, ink, dark_ink, background):
    """The paper level again, now following shadows: a grey-level closing (dark ink) or opening
    (light ink) a little wider than the pen, which removes the strokes and keeps every patch of
    paper wider than them, however sharp its edge."""
    strong = (ink > RELATIVE_INK * float(ink.max())).astype(np.uint8)
    if not strong.any():
        return background
    # The pen's width: twice the depth of the deepest stroke pixels (a high percentile of the
    # distance transform), so that a thick pen is not mistaken for paper.
    depth = cv2.distanceTransform(strong, cv2.DIST_L2, 3)
    stroke = 2.0 * _percentile(depth[strong > 0], 95)
    size = int(ENVELOPE * stroke + 3) | 1
    if size >= min(values.shape) // 2:
        return background
    # A square, not a disc: it keeps straight shadow edges just as well, at a tenth of the cost.
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    smooth = cv2.GaussianBlur(values, (3, 3), 0)
    envelope = cv2.morphologyEx(smooth, cv2.MORPH_CLOSE if dark_ink else cv2.MORPH_OPEN, square)
    return cv2.blur(envelope, (size // 2 | 1, size // 2 | 1))


def _band_width(shape: tuple[int, int]) -> int:
    """How wide a band ``_line_mask`` erases along a one-pixel line: thickened across, then
    dilated by one pixel on each side."""
    return _across(shape) + 2


def _across(shape: tuple[int, int]) -> int:
    """How many pixels ``_line_mask`` thickens a line by, across it."""
    return max(3, (min(shape) // 80) | 1)


def _line_mask(mask: np.ndarray) -> np.ndarray | None:
    """Ruled or squared paper lines: long thin runs spanning most of the image; ``None`` when
    there are none."""
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
        keep = np.flatnonzero(((extent >= 0.75 * span) | ((extent >= 0.5 * span) & at_edge)) & thin)
        keep = keep[keep > 0]
        if len(keep):
            found = np.isin(labels, keep).astype(np.uint8)
            lines = found if lines is None else lines | found
    if lines is not None:
        lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    return lines


def _covered(mask: np.ndarray, axis: int) -> int:
    """How many columns (``axis`` 0) or rows (1) of ``mask`` hold any ink."""
    return cv2.countNonZero(cv2.reduce(mask, axis, cv2.REDUCE_MAX))


def ink_image(
    decoded: DecodedImage,
    keep_stages: bool = False,
    work_side: int = WORK_SIDE,
    polarity: str | None = None,
    grain: int = 64,
) -> InkImage:
    """Turn a decoded image into a flattened ink map and a clean candidate-ink mask.

    Ink counts where it reaches 45% of the strongest stroke (or Otsu's level, if higher): high
    enough to drop paper lines and shadow edges, low enough for faint pencil. ``polarity``
    (``dark-on-light`` or ``light-on-dark``) overrides the detected one, for a page without
    transparency. ``grain``: the paper level is estimated on an image with a short side of about
    this many pixels (see ``_background``).
    """
    gray, alpha, work_scale = _work_copy(decoded, work_side)
    stages: dict[str, np.ndarray] = {}
    if keep_stages:
        stages["grayscale"] = gray

    close_call = False
    if _transparent(alpha):
        # A drawing on a transparent background: the opaque pixels are the strokes, whatever
        # their colour (a white pen on transparent would vanish on white otherwise).
        polarity = "alpha"
        ink = alpha.astype(np.float32) / 255.0
    else:
        if polarity is None:
            polarity, close_call = _polarity(gray)
        dark_ink = polarity == "dark-on-light"
        # Luminance: blue, red and green pens are all much darker than paper, while the light
        # blue or grey rules of a notebook stay faint.
        values = gray.astype(np.float32) / 255.0
        background = _paper_level(values, grain, dark_ink)
        ink = _ink_against(values, background, dark_ink)
        if ENVELOPE:
            ink = _ink_against(values, _envelope(values, ink, dark_ink, background), dark_ink)
    if keep_stages:
        stages["flattened ink"] = _as_uint8(ink)

    if max(ink.shape) > SMALL_SIDE:
        ink = cv2.GaussianBlur(ink, (3, 3), 0)  # sensor noise and JPEG ringing
    mask = _binarise(ink)
    if keep_stages:
        stages["binary"] = mask * 255

    cleaned = None
    line_band = 0
    if min(mask.shape) >= 16:
        lines = _line_mask(mask)
        if lines is not None:
            # Erase the lines, then give back the pixels where a stroke crossed one: those
            # that the stroke's own pixels on both sides bridge.
            kept = mask & (1 - lines)
            if LINE_STROKES:
                kept |= _strokes_on_lines(ink, mask, lines, kept)
            bridge = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
            cleaned = _drop_specks_and_edges(cv2.morphologyEx(kept, cv2.MORPH_CLOSE, bridge) & mask)
            if len(cleaned[2]) <= 1 and _lone_stroke(lines):
                cleaned = None  # a single long stroke and nothing else: a drawn 1, not paper
            else:
                line_band = _band_width(mask.shape)
    mask, labels, stats = cleaned if cleaned is not None else _drop_specks_and_edges(mask)
    if keep_stages:
        stages["cleaned"] = mask * 255
    if len(stats) <= 1:
        raise NoDigitFoundError(
            "There is no digit in this image: only lines, specks or edges were found."
        )
    return InkImage(ink, mask, labels, stats, polarity, work_scale, stages, close_call, line_band)


def _binarise(ink: np.ndarray) -> np.ndarray:
    """Candidate ink (uint8 0/1) where the ink map (float32 0-1, or uint8 0-255) reaches 45% of
    the strongest stroke or Otsu's level, if higher; :class:`NoDigitFoundError` when there is no
    ink to speak of. A pen stroke survives a further blur, paper grain and noise do not; and the
    strongest ink must stand well clear of the pixel noise (a robust estimate)."""
    full = 255.0 if ink.dtype == np.uint8 else 1.0  # the level of full ink
    # OpenCV sizes the kernel to 4 sigma for float32 and 3 for uint8; the quick look's uint8 ink
    # is smoothed over 2 sigma, in half the time.
    smooth = cv2.GaussianBlur(ink, (5, 5) if ink.dtype == np.uint8 else (0, 0), 1.0)
    noise = 1.4826 * _median(cv2.absdiff(ink, smooth)[::2, ::2])  # pixel-to-pixel noise
    strongest = float(smooth.max())
    if strongest < max(MIN_CONTRAST * full, 8 * noise):
        raise NoDigitFoundError(
            "There is no digit in this image: it is blank or has no visible ink."
        )
    if ink.dtype == np.uint8:
        otsu, mask = cv2.threshold(ink, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    else:
        otsu, mask = cv2.threshold(_as_uint8(ink), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        otsu /= 255.0
    threshold = max(otsu, RELATIVE_INK * strongest, 0.5 * MIN_CONTRAST * full)
    if ink.dtype != np.uint8:
        return (ink > threshold).astype(np.uint8)
    # ink > threshold, as OpenCV compares uint8 levels with a fractional one: Otsu's own mask
    # where its level is the threshold
    return mask if threshold == otsu else cv2.threshold(ink, threshold, 1, cv2.THRESH_BINARY)[1]


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
    line_level = _percentile(ink[on_line], 75)
    stroke_level = _percentile(ink[kept > 0], 75)
    if stroke_level < LINE_STROKES * line_level:
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


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
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


def _drop_specks_and_edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove specks and page edges; return the mask and its components, numbered 1..n."""
    count, labels, stats = _components(mask)
    if count <= 1:
        return mask, labels, stats
    height, width = mask.shape
    # Plain numbers: a handful of components is read several times faster than with numpy.
    rows = stats[1:].tolist()  # [x, y, w, h, area] of each component
    largest = max(row[cv2.CC_STAT_AREA] for row in rows)
    speck = max(4, 0.0003 * height * width)
    keep = [area >= speck or area >= 0.2 * largest for *_, area in rows]
    # A page edge or table corner hugs the border and spans it; drop such a component only when
    # something else is left, since a tight crop's digit may touch the border too.
    inner = [
        kept
        and not (
            (x == 0 or y == 0 or x + w == width or y + h == height)
            and (w >= 0.9 * width or h >= 0.9 * height)
            and area > 0.3 * w * h
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
    ink: InkImage, piece_ink: float = PIECE_INK, large_piece_gap: float = LARGE_PIECE_GAP
) -> Region:
    """The component with the most ink and the pieces close to it (a 5's top, a 7's bar, the
    other half of a broken stroke) that are at least ``piece_ink`` times as dark."""
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
            gap = max(PIECE_GAP * side, LINE_GAP * ink.line_band)
            if area >= LARGE_PIECE * rows[first][cv2.CC_STAT_AREA]:
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
    if max(x1 - x0, y1 - y0) < MIN_DIGIT_SIDE:
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
    return _percentile(ink.ink[y : y + h, x : x + w][inside], 90)


def _box(rows: list[list[int]], labels) -> tuple[int, int, int, int]:
    """The box around the components ``labels`` (``rows``: their OpenCV stats as lists)."""
    boxes = [rows[label] for label in labels]
    return (
        min(x for x, *_ in boxes),
        min(y for _, y, *_ in boxes),
        max(x + w for x, _, w, *_ in boxes),
        max(y + h for _, y, _, h, _ in boxes),
    )


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary shape: twice its area over its outline length."""
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(contour, True) for contour in contours)
    return 2.0 * cv2.countNonZero(mask) / max(perimeter, 1.0)  # the mask is 0/1


def mnist_normalise(ink: np.ndarray, region: Region) -> np.ndarray:
    """MNIST's normalisation: crop, fit into 20x20 keeping aspect, centre of mass at the centre."""
    x, y, w, h = region.x, region.y, region.w, region.h
    gate = cv2.dilate(region.mask[y : y + h, x : x + w], np.ones((3, 3), np.uint8))
    crop = ink[y : y + h, x : x + w].astype(np.float32, copy=False) * gate  # uint8 ink too
    stroke = crop[region.mask[y : y + h, x : x + w] > 0]
    level = _percentile(stroke, 90) if stroke.size else float(crop.max())
    floor = 0.25 * level
    crop = np.clip((crop - floor) / max(level - floor, 1e-3), 0.0, 1.0)

    scale = 20.0 / max(w, h)
    width = _stroke_width(region.mask[y : y + h, x : x + w])
    if width * scale < TARGET_STROKE:
        # A thin pen on a large digit would vanish in 20x20: thicken it to MNIST's stroke.
        grow = int(round((TARGET_STROKE / scale - width) / 2))
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
    """The network input again, keeping the ink within ``FAINT_MARGIN`` pixels of the strokes
    (inside the digit's box) that binarisation left out: a stroke broken into faint dots, the
    faint side of a 0. A second look for a reading the network is unsure of: on photos of
    2 x 1000 test digits it read 2 more right and none fewer, on numbers 2 of 1,200 more."""
    x, y, w, h = region.x, region.y, region.w, region.h
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (FAINT_MARGIN, FAINT_MARGIN))
    wider = np.zeros_like(region.mask)
    wider[y : y + h, x : x + w] = cv2.dilate(region.mask[y : y + h, x : x + w], kernel)
    return mnist_normalise(ink, Region(x, y, w, h, wider))


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


def ring_polarity(pixels: np.ndarray) -> str:
    """Polarity of a 28x28 input from its border: MNIST's frame is background, whatever share
    of the square the digit covers (a very bold digit is mostly ink)."""
    ring = pixels[_FRAME]
    low, high = float(pixels.min()), float(pixels.max())
    return "dark-on-light" if float(np.median(ring)) > (low + high) / 2 else "light-on-dark"


def _erase_streaks(values: np.ndarray) -> np.ndarray:
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
        lit = ends & (counts >= STREAK_SPAN) & (beside <= counts - 6)
        if not lit.any() or lit.all():
            continue
        work = work.copy()
        clear = np.flatnonzero(~lit)
        for row in np.flatnonzero(lit):
            neighbours = [*clear[clear < row][-1:], *clear[clear > row][:1]]
            work[row] = work[neighbours].mean(axis=0)
        values = work if axis == 0 else work.T
    return values


def _thin_ink(values: np.ndarray) -> np.ndarray:
    """Ink that is 1 pixel wide even at a faint level: no anti-aliased fringe (uint8 mask)."""
    wide = cv2.morphologyEx(
        (values > PEN_FRINGE).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)
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
    if np.count_nonzero(thin[_FRAME]) < 4 or np.count_nonzero(wide) < DIGIT_BODY:
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
    stroke where a line crossed it is filled in. No MNIST stroke spans the image: its digit
    keeps to a 20x20 box."""
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
    painted = cv2.inpaint(_as_uint8(values), band, 2, cv2.INPAINT_TELEA).astype(np.float32)
    painted /= 255.0
    # What the lines' ragged edges left beside the band: hard 1-pixel remnants.
    beside = cv2.dilate(band, np.ones((3, 3), np.uint8)) & _thin_ink(painted)
    painted[beside > 0] = 0.0
    return painted, True


def _line_across(lit: np.ndarray) -> np.ndarray | None:
    """The band of the strongest straight line lit from edge to edge, or None."""
    found = cv2.HoughLines(lit, 2, np.pi / 90, LINE_VOTES)
    on_border = _FRAME & (lit > 0)
    if found is None or not on_border.any():
        return None
    # Most candidates are a digit's strokes: they are screened all at once (the same float32
    # arithmetic, candidate by candidate, as the refining below), and only those left refined.
    rho, theta = found[:20, 0, 0], found[:20, 0, 1]
    cos, sin = np.cos(theta), np.sin(theta)
    rho3, cos3, sin3 = rho[:, None, None], cos[:, None, None], sin[:, None, None]
    distances = np.abs(_COLS * cos3 + _ROWS * sin3 - rho3)
    enough = np.count_nonzero((distances <= LINE_BAND) & (lit > 0), axis=(1, 2)) >= 26
    # Lit border pixels near both ends of the candidate, or it is no line from edge to edge
    # (the test below, after refining): screened with a wide margin (refining moves a line by
    # a pixel or two).
    lengthwise = _ROWS * cos3 - _COLS * sin3
    on_line = distances <= 0.71
    reach_min = np.where(on_line, lengthwise, np.inf).min(axis=(1, 2))
    reach_max = np.where(on_line, lengthwise, -np.inf).max(axis=(1, 2))
    border_x, border_y = _COLS[on_border], _ROWS[on_border]
    close = np.abs(border_x * cos[:, None] + border_y * sin[:, None] - rho[:, None])
    close = close <= SCREEN_MARGIN
    border_reach = border_y * cos[:, None] - border_x * sin[:, None]
    border_min = np.where(close, border_reach, np.inf).min(axis=1)
    border_max = np.where(close, border_reach, -np.inf).max(axis=1)
    screened = enough & close.any(axis=1) & on_line.any(axis=(1, 2))
    screened &= border_min <= reach_min + 2.5 + SCREEN_MARGIN
    screened &= border_max >= reach_max - 2.5 - SCREEN_MARGIN
    for index in np.flatnonzero(screened):
        distance = distances[index]
        near = (distance <= LINE_BAND) & (lit > 0)
        # Refined on its own pixels (Hough's coarse steps miss by a pixel or two at the ends),
        # then on those closest to the refined line (the digit's strokes beside it pull less).
        for _ in range(2):
            points = np.column_stack((_COLS[near], _ROWS[near]))
            dx, dy, x0, y0 = cv2.fitLine(points, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
            distance = np.abs((_COLS - x0) * dy - (_ROWS - y0) * dx)
            near = (distance <= 1.5) & (lit > 0)
            if np.count_nonzero(near) < 20:
                break
        on = distance <= 0.71
        if np.count_nonzero(on) < 26 or lit[on].mean() < LINE_LIT:
            continue
        # A line the network reads through (single pixels, a hairline) is left to it; a bold one
        # (beads, a marker) hides the strokes it crosses.
        if np.count_nonzero(lit[distance <= 1.5]) < LINE_WIDTH * np.count_nonzero(on):
            continue
        # Lit at both of its ends, in the border: from edge to edge.
        along = (_COLS - x0) * dx + (_ROWS - y0) * dy
        ends = along[on].min(), along[on].max()
        lit_along = along[on & _FRAME & (lit > 0)]
        if not len(lit_along) or lit_along.min() > ends[0] + 2.5 or lit_along.max() < ends[1] - 2.5:
            continue
        # As wide as the line is (a marker's stroke is wider than beads): out to where it ends.
        width = LINE_BAND
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


def _erase_lines(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Pencil lines, then straight lines across the image (both need ink in the border, which
    this checks for them). Returns the image and whether anything was erased. Not on a
    speckled image (salt noise, spatter): its lone pixels and holed strokes look thin, and the
    network reads through the noise better than a repair."""
    lit = (values > 0.5).astype(np.uint8)
    if not lit[_FRAME].any():
        return values, False  # the usual case, decided cheaply
    lone = lit & (cv2.filter2D(lit, -1, np.ones((3, 3), np.float32), borderType=0) == 1)
    if np.count_nonzero(lone) >= 3:
        return values, False
    values, pencil = _erase_pencil_lines(values)
    values, straight = _erase_straight_lines(values)
    return values, pencil or straight


def _thin_bold(values: np.ndarray) -> np.ndarray:
    """Strokes far wider than MNIST's eroded back to a wide MNIST stroke."""
    mask = (values > 0.35).astype(np.uint8)
    if np.count_nonzero(mask) < BOLD_MIN_PIXELS:
        return values
    width = _stroke_width(mask)
    steps = int(round((width - THINNED_STROKE) / 2))
    if width <= WIDE_STROKE or steps < 1:
        return values
    return cv2.erode(values, np.ones((3, 3), np.uint8), iterations=steps)


def _quiet_background(values: np.ndarray) -> np.ndarray:
    """Sensor noise over the background cleared: everything not connected to a stroke through
    faint ink goes, but only when much of the background is lit (faint remnants of a thin pen
    are kept otherwise)."""
    frame = values[_FRAME]
    if np.count_nonzero(frame > 0.05) < 0.5 * NOISY_BACKGROUND * frame.size:
        return values  # noise lights the frame too; MNIST's frame is dark
    strokes = values > 0.35
    count, labels = cv2.connectedComponents(
        (values > FAINT_STROKE).astype(np.uint8), connectivity=8
    )
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strokes])] = True
    keep[0] = False
    near = cv2.dilate(keep[labels].astype(np.uint8), np.ones((3, 3), np.uint8))
    outside = values[near == 0]
    if np.count_nonzero(outside > 0.05) < NOISY_BACKGROUND * outside.size:
        return values
    return values * near


def restore_mnist_style(pixels: np.ndarray) -> np.ndarray:
    """A 28x28 light-on-dark digit as the network expects it.

    A clean MNIST digit passes through untouched. Otherwise, as MNIST's own preparation would
    have done: a lifted background level is subtracted, faint ink is stretched, and a digit
    that is off-centre, too small or too large, or surrounded by specks and stray marks is cut
    out (with the pieces near it) and normalised again. Streaks and lines across the image are
    painted over, strokes far bolder than MNIST's thinned, and background noise cleared.
    """
    values = pixels.astype(np.float32) / 255.0
    lifted = LIFTED_BACKGROUND * 255
    if max(pixels[:2].max(), pixels[-2:].max(), pixels[:, :2].max(), pixels[:, -2:].max()) > lifted:
        ring = np.concatenate(
            [pixels[:2].ravel(), pixels[-2:].ravel(), pixels[:, :2].ravel(), pixels[:, -2:].ravel()]
        )
        background = float(np.median(ring)) / 255.0
        if LIFTED_BACKGROUND < background < 1.0:
            # One level for the whole digit: a local estimate (a median filter) would eat into
            # thick strokes, and the network is trained on uneven light anyway.
            values = np.clip((values - background) / (1.0 - background), 0.0, 1.0)
    # The 99th percentile of the ink, found cheaply when 1% of the pixels reach full strength.
    if np.count_nonzero(values >= FAINT_INK) < 0.01 * values.size:
        top = float(np.percentile(values, 99))
        if top < MIN_CONTRAST:
            raise NoDigitFoundError("There is no digit in this image: it is blank.")
        values = np.clip(values / top, 0.0, 1.0)
    values, lined = _erase_lines(_erase_streaks(values))
    values = _quiet_background(_thin_bold(values))
    mask = (values > 0.35).astype(np.uint8)
    if _mnist_like(values, mask, CLEAN_LONG_SIDE):
        return values
    mask, labels, stats = _drop_specks_and_edges(mask)
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
    if _mnist_like(gated, region.mask, MNIST_LONG_SIDE):
        return gated  # specks and stray marks away from the digit removed, the digit in place
    if lined or max(region.w, region.h) >= 26:
        # The digit is where it was, with what the lines left; or the "digit" spans the image
        # (a line through it): cutting either out would blow a fragment up to a digit's size.
        return values
    return mnist_normalise(values, region)


def _mnist_like(values: np.ndarray, mask: np.ndarray, sizes: tuple[int, int]) -> bool:
    """Ink of MNIST's size (long side) and centred where MNIST centres it."""
    _, _, width, height = cv2.boundingRect(mask)
    moments = cv2.moments(values)
    if not width or moments["m00"] <= 0:
        return False
    # Pixel centres at integer coordinates, as MNIST's own centre-of-mass convention.
    centre = (moments["m01"] / moments["m00"], moments["m10"] / moments["m00"])
    return sizes[0] <= max(width, height) <= sizes[1] and all(
        MNIST_CENTRE[0] <= c <= MNIST_CENTRE[1] for c in centre
    )


def is_mnist_style(decoded: DecodedImage) -> bool:
    """A 28x28 gray image is a network input already: MNIST's size, in either polarity (a dark
    digit on a light ground is the same input inverted)."""
    pixels = decoded.pixels
    return pixels.shape[:2] == (28, 28) and pixels.ndim == 2 and decoded.alpha is None


@dataclass
class Preprocessed:
    """One digit ready for the network, with where it was found and the stages on the way."""

    network_input: np.ndarray  # float32 (28, 28) in [0, 1]
    box: tuple[int, int, int, int]  # x, y, width, height in the original image's pixels
    polarity: str
    stages: dict[str, np.ndarray]
    resampled: bool = True  # False: a 28x28 input restored in place (no resampling smoothed it)
    # For an upload, its input made again with the faint ink around the strokes
    # (:func:`with_faint_ink`), made only when asked: the recogniser's second look.
    second_look: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)
    # For an upload whose polarity was a close call (half the page in a shadow), the same path
    # with the other polarity, made only when asked: the recogniser tries it when the gate
    # refuses this reading.
    other_polarity: Callable[[], Preprocessed] | None = field(
        default=None, repr=False, compare=False
    )


_OPPOSITE = {"dark-on-light": "light-on-dark", "light-on-dark": "dark-on-light"}


def preprocess(
    decoded: DecodedImage, keep_stages: bool = False, polarity: str | None = None
) -> Preprocessed:
    """The full single-digit path; raises :class:`NoDigitFoundError` when there is no digit.
    ``polarity`` (``dark-on-light`` or ``light-on-dark``) overrides the detected one."""
    if is_mnist_style(decoded):
        polarity = polarity or ring_polarity(decoded.pixels)
        pixels = decoded.pixels if polarity == "light-on-dark" else 255 - decoded.pixels
        network_input = restore_mnist_style(pixels)
        stages = {"network input": _as_uint8(network_input)} if keep_stages else {}
        return Preprocessed(network_input, (0, 0, 28, 28), polarity, stages, resampled=False)
    ink = ink_image(decoded, keep_stages, polarity=polarity)
    region = find_digit(ink)
    network_input = mnist_normalise(ink.ink, region)
    if keep_stages:
        ink.stages["network input"] = _as_uint8(network_input)
    back = 1.0 / (ink.work_scale * decoded.scale)
    return Preprocessed(
        network_input,
        region.scaled(back),
        ink.polarity,
        ink.stages,
        second_look=functools.partial(with_faint_ink, ink.ink, region),
        other_polarity=(
            functools.partial(preprocess, decoded, keep_stages, _OPPOSITE[ink.polarity])
            if ink.close_call
            else None
        ),
    )


def quick_look(decoded: DecodedImage) -> Preprocessed | None:
    """A first look at a large upload on a :data:`QUICK_SIDE` work image: the stages of
    :func:`preprocess` on a sixth of the pixels, in uint8 levels, with a coarser paper level
    and without its second estimate that follows sharp shadows (``_envelope``); see
    :func:`_quick_ink`. ``None`` (the full path decides) unless the upload is at least twice
    that size, its polarity clear, no paper lines found and the digit found is at least
    :data:`QUICK_DIGIT` pixels long, so that the 20x20 box loses nothing to the lower
    resolution. Nothing is raised: what this look cannot find, the full path looks for again.
    The recogniser keeps this look only when its screen is sure of it, and its answers were
    checked against the full path's (see ``Recognizer._quick``)."""
    if max(decoded.original_size) < 2 * QUICK_SIDE or is_mnist_style(decoded):
        return None
    try:
        ink = _quick_ink(decoded)
        if ink is None:
            return None
        region = find_digit(ink)
    except NoDigitFoundError:
        return None
    if max(region.w, region.h) < QUICK_DIGIT:
        return None
    return Preprocessed(
        mnist_normalise(ink.ink, region),
        region.scaled(1.0 / (ink.work_scale * decoded.scale)),
        ink.polarity,
        {},
    )  # no second look: only the screen's sure answers on it are kept


def _quick_ink(decoded: DecodedImage) -> InkImage | None:
    """:func:`ink_image` for the quick look, in uint8 levels throughout (a quarter of the memory,
    and fewer calls); ``None`` where the full path must decide: a close polarity call, or paper
    lines. Raises :class:`NoDigitFoundError` as :func:`ink_image` does."""
    gray, alpha, work_scale = _work_copy(decoded, QUICK_SIDE)
    if _transparent(alpha):
        polarity, ink = "alpha", alpha
    else:
        polarity, close_call = _polarity(gray)
        if close_call:
            return None
        dark_ink = polarity == "dark-on-light"
        background = _paper_level(gray, QUICK_GRAIN, dark_ink, whole_blocks=True)
        ink = _ink_against(gray, background, dark_ink)
    if max(ink.shape) > SMALL_SIDE:
        ink = cv2.GaussianBlur(ink, (3, 3), 0)
    mask = _binarise(ink)
    if min(mask.shape) >= 16 and _line_mask(mask) is not None:
        return None
    mask, labels, stats = _drop_specks_and_edges(mask)
    if len(stats) <= 1:
        return None
    return InkImage(ink, mask, labels, stats, polarity, work_scale)


def _clean_at_once(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a stack of 28x28 gray images: which are clean MNIST-style digits that
    :func:`restore_mnist_style` would pass through untouched, decided for all of them at once
    with the same tests, with their polarity (True: dark on light) and light-on-dark values.

    Clean means: the 2-pixel frame dark (so no lifted background, streak, line or frame noise
    to repair), ink at full strength, strokes no bolder than MNIST's, and ink of MNIST's size
    centred where MNIST centres it."""
    frame = stack[:, _FRAME]
    low = stack.min(axis=(1, 2)).astype(np.float64)
    high = stack.max(axis=(1, 2)).astype(np.float64)
    dark_on_light = np.median(frame, axis=1) > (low + high) / 2  # as ring_polarity
    pixels = np.where(dark_on_light[:, None, None], 255 - stack, stack)
    values = pixels.astype(np.float32) / 255.0
    frame = np.where(dark_on_light[:, None], 255 - frame, frame)
    clean = frame.max(axis=1) <= LIFTED_BACKGROUND * 255
    clean &= np.count_nonzero(values >= FAINT_INK, axis=(1, 2)) >= 0.01 * 28 * 28
    mask = values > 0.35
    rows, cols = mask.any(axis=2), mask.any(axis=1)
    height = 28 - rows[:, ::-1].argmax(axis=1) - rows.argmax(axis=1)
    width = 28 - cols[:, ::-1].argmax(axis=1) - cols.argmax(axis=1)
    long_side = np.where(rows.any(axis=1), np.maximum(width, height), 0)
    clean &= (CLEAN_LONG_SIDE[0] <= long_side) & (long_side <= CLEAN_LONG_SIDE[1])
    weights = values.astype(np.float64)
    total = weights.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        for axis in (_ROWS, _COLS):
            centre = (weights * axis).sum(axis=(1, 2)) / total
            clean &= (MNIST_CENTRE[0] <= centre) & (centre <= MNIST_CENTRE[1])
    # The one test left to each image: stroke width, measured only where it could be bold.
    for index in np.flatnonzero(clean & _may_be_bold(mask)):
        digit = values[index]
        clean[index] = _thin_bold(digit) is digit  # the same array back: nothing thinned
    return clean, dark_on_light, values


def _may_be_bold(masks: np.ndarray) -> np.ndarray:
    """For a stack of binary 28x28 masks: which ones :func:`_thin_bold` might thin, decided
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
    return (area >= BOLD_MIN_PIXELS) & (2.0 * area > WIDE_STROKE * np.maximum(outline, 1))


def preprocess_many(images: list[DecodedImage]) -> list[Preprocessed | NoDigitFoundError]:
    """:func:`preprocess` for many images, nothing kept for display; an image with no digit
    gives its :class:`NoDigitFoundError` in its place. The clean MNIST-style 28x28 inputs among
    them are recognised as such all at once (the same decisions, without a pass over each)."""
    out: list[Preprocessed | NoDigitFoundError | None] = [None] * len(images)
    small = [i for i, image in enumerate(images) if is_mnist_style(image)]
    if small:
        clean, dark_on_light, values = _clean_at_once(np.stack([images[i].pixels for i in small]))
        for k in np.flatnonzero(clean):
            polarity = "dark-on-light" if dark_on_light[k] else "light-on-dark"
            out[small[k]] = Preprocessed(
                values[k].copy(), (0, 0, 28, 28), polarity, {}, resampled=False
            )
    for i, item in enumerate(out):
        if item is None:
            try:
                out[i] = preprocess(images[i])
            except NoDigitFoundError as error:
                out[i] = error
    return out  # type: ignore[return-value]
