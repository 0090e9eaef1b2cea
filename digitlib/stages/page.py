"""Stage 2, the page: a decoded picture turned into ink on clean paper.

:func:`read_page` takes a :class:`~digitlib.imageio.DecodedImage` and a
:class:`~digitlib.tuning.Look` (the work size, and how the paper's level is estimated there)
and returns an :class:`InkImage`: a work copy at most ``look.work_side`` long; its polarity
(dark ink on light paper, light on dark, or the alpha channel of a drawing); the paper's level
divided out (uneven light, shadows, vignetting, tinted paper); a binarisation for localisation;
ruled or squared paper lines erased (:mod:`digitlib.stages.paper_lines`); specks and page edges
dropped (:func:`digitlib.stages.find.drop_specks_and_edges`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.imageio import DecodedImage
from digitlib.stages import paper_lines
from digitlib.stages.find import drop_specks_and_edges
from digitlib.stages.levels import as_uint8, median, percentile, percentiles
from digitlib.tuning import TUNING, Look

PAGE = TUNING.page


@dataclass
class InkImage:
    """The flattened ink map (float32, 0 = paper, about 1 = full ink; uint8 0-255 for a look in
    uint8) and what led to it."""

    ink: np.ndarray
    mask: np.ndarray  # uint8 0/1, candidate ink after line, speck and edge removal
    labels: np.ndarray  # int32 connected components of ``mask`` (0 = background)
    stats: np.ndarray  # their OpenCV stats rows (row 0 = background)
    polarity: str
    work_scale: float  # work image size / decoded image size
    stages: dict[str, np.ndarray] = field(default_factory=dict)
    close_call: bool = False  # the polarity was a close call (see detect_polarity)
    line_band: int = 0  # width (px) of the band erased along paper lines, 0 when none were


def read_page(
    decoded: DecodedImage,
    look: Look = TUNING.looks.full,
    keep_stages: bool = False,
    polarity: str | None = None,
) -> InkImage | None:
    """The page stage: a decoded image as a flattened ink map and a clean candidate-ink mask.

    Ink counts where it reaches 45% of the strongest stroke (or Otsu's level, if higher): high
    enough to drop paper lines and shadow edges, low enough for faint pencil. ``polarity``
    (``dark-on-light`` or ``light-on-dark``) overrides the detected one, for a page without
    transparency. ``keep_stages`` keeps each step's image for display.

    Raises :class:`NoDigitFoundError` when there is no ink, or only lines, specks or edges.
    Returns ``None`` only for a first look (``look.defers``) at a page that needs the full look:
    a close polarity call, or paper lines.
    """
    gray, alpha, work_scale = work_copy(decoded, look.work_side)
    stages: dict[str, np.ndarray] = {}
    if keep_stages:
        stages["grayscale"] = gray

    close_call = False
    if transparent(alpha):
        # A drawing on a transparent background: the opaque pixels are the strokes, whatever
        # their colour (a white pen on transparent would vanish on white otherwise).
        polarity = "alpha"
        ink = alpha if look.uint8 else alpha.astype(np.float32) / 255.0
    else:
        if polarity is None:
            polarity, close_call = _polarity(gray)
            if close_call and look.defers:
                return None
        dark_ink = polarity == "dark-on-light"
        # Luminance: blue, red and green pens are all much darker than paper, while the light
        # blue or grey rules of a notebook stay faint.
        values = gray if look.uint8 else gray.astype(np.float32) / 255.0
        background = paper_level(values, look.grain, dark_ink, look.whole_blocks)
        ink = ink_against(values, background, dark_ink)
        if look.envelope:
            shadows = _envelope(values, ink, dark_ink, background, look.envelope)
            ink = ink_against(values, shadows, dark_ink)
    if keep_stages:
        stages["flattened ink"] = as_uint8(ink)

    if max(ink.shape) > PAGE.small_side:
        ink = cv2.GaussianBlur(ink, (3, 3), 0)  # sensor noise and JPEG ringing
    mask = binarise(ink)
    if keep_stages:
        stages["binary"] = mask * 255

    lines = paper_lines.find(mask)
    if lines is not None and look.defers:
        return None
    cleaned, line_band = paper_lines.erase(ink, mask, lines) if lines is not None else (None, 0)
    mask, labels, stats = cleaned if cleaned is not None else drop_specks_and_edges(mask)
    if keep_stages:
        stages["cleaned"] = mask * 255
    if len(stats) <= 1:
        raise NoDigitFoundError(
            "There is no digit in this image: only lines, specks or edges were found."
        )
    return InkImage(ink, mask, labels, stats, polarity, work_scale, stages, close_call, line_band)


def work_copy(decoded: DecodedImage, work_side: int) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The luminance (and alpha) at most ``work_side`` long, and that size over the decoded
    image's."""
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


def transparent(alpha: np.ndarray | None) -> bool:
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
    low, middle_pixel, high = percentiles(sample, (1, 50, 99))
    if high - low < PAGE.min_contrast * 255:
        # Ink on under 1% of the picture (a small number on a wide, clean page) is not in those
        # percentiles at all: compare the paper with the darkest and lightest pixels instead.
        low, high = float(gray.min()), float(gray.max())
    middle = (low + high) / 2
    close = abs(middle_pixel - middle) < PAGE.ambiguous_polarity * (high - low)
    if not close or min(gray.shape) < PAGE.small_side:
        return ("dark-on-light" if middle_pixel > middle else "light-on-dark"), close
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


def _background(values: np.ndarray, grain: int = 64, whole_blocks: bool = False) -> np.ndarray:
    """Paper level everywhere: a wide median filter at low resolution (the short side
    reduced to ``grain`` pixels or a little more).

    The window is several stroke widths wide, so pen strokes (a minority of any window) vanish,
    while the paper's slow changes (light falloff, vignette, tint) and the sharp edge of a
    shadow (a median keeps step edges) remain, to be divided out.

    ``values``: float32 levels (0-1), or uint8 (0-255), and the paper level in the same kind.
    ``whole_blocks`` reduces by the means of whole blocks, leaving out the picture's ragged
    edge: OpenCV's fast path, a quarter of the time.
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
        small = cv2.medianBlur(as_uint8(small), size).astype(np.float32) / 255.0
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def paper_level(
    values: np.ndarray, grain: int, dark_ink: bool, whole_blocks: bool = False
) -> np.ndarray:
    """The paper's level everywhere (:func:`_background`), and for a small light-on-dark image
    no lighter than the darker part of its border: such an image is a crop whose digit may fill
    more of it than a median window can see past."""
    background = _background(values, grain, whole_blocks)
    if not dark_ink and max(values.shape) <= 2 * PAGE.small_side:
        ring = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
        background = np.minimum(background, background.dtype.type(np.percentile(ring, 10)))
    return background


def ink_against(values: np.ndarray, background: np.ndarray, dark_ink: bool) -> np.ndarray:
    """Ink strength (0 = paper, 1 = full ink) of each pixel against the paper level; for uint8
    levels, in uint8 (0 = paper, 255 = full ink), rounded, in three OpenCV calls."""
    if values.dtype == np.uint8:
        floor = round(PAGE.paper_floor * 255)
        if dark_ink:
            return cv2.divide(
                cv2.subtract(background, values), cv2.max(background, floor), scale=255
            )
        return cv2.divide(
            cv2.subtract(values, background), cv2.max(255 - background, floor), scale=255
        )
    if dark_ink:
        ink = (background - values) / np.maximum(background, PAGE.paper_floor)
    else:
        ink = (values - background) / np.maximum(1.0 - background, PAGE.paper_floor)
    return np.clip(ink, 0.0, 1.0)


def _envelope(values, ink, dark_ink, background, widths):
    """The paper level again, now following shadows: a grey-level closing (dark ink) or opening
    (light ink) ``widths`` pen widths wide, which removes the strokes and keeps every patch of
    paper wider than them, however sharp its edge."""
    strong = (ink > PAGE.relative_ink * float(ink.max())).astype(np.uint8)
    if not strong.any():
        return background
    # The pen's width: twice the depth of the deepest stroke pixels (a high percentile of the
    # distance transform), so that a thick pen is not mistaken for paper.
    depth = cv2.distanceTransform(strong, cv2.DIST_L2, 3)
    stroke = 2.0 * percentile(depth[strong > 0], 95)
    size = int(widths * stroke + 3) | 1
    if size >= min(values.shape) // 2:
        return background
    # A square, not a disc: it keeps straight shadow edges just as well, at a tenth of the cost.
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    smooth = cv2.GaussianBlur(values, (3, 3), 0)
    envelope = cv2.morphologyEx(smooth, cv2.MORPH_CLOSE if dark_ink else cv2.MORPH_OPEN, square)
    return cv2.blur(envelope, (size // 2 | 1, size // 2 | 1))


def binarise(ink: np.ndarray) -> np.ndarray:
    """Candidate ink (uint8 0/1) where the ink map (float32 0-1, or uint8 0-255) reaches 45% of
    the strongest stroke or Otsu's level, if higher; :class:`NoDigitFoundError` when there is no
    ink to speak of. A pen stroke survives a further blur, paper grain and noise do not; and the
    strongest ink must stand well clear of the pixel noise (a robust estimate)."""
    full = 255.0 if ink.dtype == np.uint8 else 1.0  # the level of full ink
    # OpenCV sizes the kernel to 4 sigma for float32 and 3 for uint8; the quick look's uint8 ink
    # is smoothed over 2 sigma, in half the time.
    smooth = cv2.GaussianBlur(ink, (5, 5) if ink.dtype == np.uint8 else (0, 0), 1.0)
    noise = 1.4826 * median(cv2.absdiff(ink, smooth)[::2, ::2])  # pixel-to-pixel noise
    strongest = float(smooth.max())
    if strongest < max(PAGE.min_contrast * full, 8 * noise):
        raise NoDigitFoundError(
            "There is no digit in this image: it is blank or has no visible ink."
        )
    if ink.dtype == np.uint8:
        otsu, mask = cv2.threshold(ink, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    else:
        otsu, mask = cv2.threshold(as_uint8(ink), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        otsu /= 255.0
    threshold = max(otsu, PAGE.relative_ink * strongest, 0.5 * PAGE.min_contrast * full)
    if ink.dtype != np.uint8:
        return (ink > threshold).astype(np.uint8)
    # ink > threshold, as OpenCV compares uint8 levels with a fractional one: Otsu's own mask
    # where its level is the threshold
    return mask if threshold == otsu else cv2.threshold(ink, threshold, 1, cv2.THRESH_BINARY)[1]
