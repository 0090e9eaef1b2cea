"""From a real image to what the network expects: an MNIST-style 28x28 digit.

One upload meets the stages of :mod:`digitlib.stages` in order: decoded (:mod:`digitlib.imageio`),
its page read as ink (:func:`~digitlib.stages.page.read_page`), the digit found
(:func:`~digitlib.stages.find.find_digit`) and normalised as MNIST's digits were
(:func:`~digitlib.stages.normalise.mnist_normalise`); an input that is 28x28 already is repaired
in place instead (:func:`~digitlib.stages.repair.restore_mnist_style`), and a small, clean
picture that its digit fills is cropped with its grey levels kept
(:func:`~digitlib.stages.tight.tight_crop`).

:func:`preprocess` is the full look (``TUNING.looks.full``); :func:`quick_look` runs the same
stages on a smaller work image (``TUNING.looks.quick``), and :func:`preprocess_many` prepares
many images, the clean 28x28 ones recognised all at once. What the networks' readings of the
result mean is decided in :mod:`digitlib.cascade`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from digitlib.errors import NoDigitFoundError
from digitlib.imageio import DecodedImage
from digitlib.stages.find import Region, find_digit
from digitlib.stages.levels import as_uint8
from digitlib.stages.normalise import centre_by_mass, mnist_normalise, with_faint_ink
from digitlib.stages.page import InkImage, detect_polarity, read_page
from digitlib.stages.repair import (
    clean_at_once,
    is_mnist_style,
    restore_mnist_style,
    ring_polarity,
)
from digitlib.stages.tight import tight_crop
from digitlib.tuning import TUNING, Look

__all__ = [
    "InkImage",
    "Preprocessed",
    "Region",
    "centre_by_mass",
    "detect_polarity",
    "find_digit",
    "is_mnist_style",
    "mnist_normalise",
    "preprocess",
    "preprocess_many",
    "quick_look",
    "read_page",
    "restore_mnist_style",
    "with_faint_ink",
]


@dataclass
class Preprocessed:
    """One digit ready for the network, with where it was found and the stages on the way."""

    network_input: np.ndarray  # float32 (28, 28) in [0, 1]
    box: tuple[int, int, int, int]  # x, y, width, height in the original image's pixels
    polarity: str
    stages: dict[str, np.ndarray]
    resampled: bool = True  # False: a 28x28 input restored in place (no resampling smoothed it)
    # For an upload, its input made again with the faint ink around the strokes
    # (:func:`with_faint_ink`), made only when asked: the cascade's second look.
    second_look: Callable[[], np.ndarray] | None = field(default=None, repr=False, compare=False)
    # For an upload whose polarity was a close call (half the page in a shadow), the same path
    # with the other polarity, made only when asked: the cascade tries it when the gate refuses
    # this reading.
    other_polarity: Callable[[], Preprocessed] | None = field(
        default=None, repr=False, compare=False
    )
    # The input the gate (and the screen) judge when it is not ``network_input``: for the tight
    # stage's grey-level crop, the same crop as the page stage normalises it, which is what
    # they learnt from (:class:`~digitlib.stages.tight.TightCrop`).
    gate_input: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def gate_view(self) -> np.ndarray:
        """What the gate judges: ``gate_input`` when there is one, else ``network_input``."""
        return self.network_input if self.gate_input is None else self.gate_input


_OPPOSITE = {"dark-on-light": "light-on-dark", "light-on-dark": "dark-on-light"}


def preprocess(
    decoded: DecodedImage, keep_stages: bool = False, polarity: str | None = None
) -> Preprocessed:
    """The full look at one upload; raises :class:`NoDigitFoundError` when there is no digit.
    ``polarity`` (``dark-on-light`` or ``light-on-dark``) overrides the detected one."""
    if is_mnist_style(decoded):
        polarity = polarity or ring_polarity(decoded.pixels)
        pixels = decoded.pixels if polarity == "light-on-dark" else 255 - decoded.pixels
        network_input = restore_mnist_style(pixels)
        stages = {"network input": as_uint8(network_input)} if keep_stages else {}
        return Preprocessed(network_input, (0, 0, 28, 28), polarity, stages, resampled=False)
    tight = tight_crop(decoded) if polarity is None else None
    if tight is not None:  # a small, clean picture that the digit fills
        stages = {"network input": as_uint8(tight.network_input)} if keep_stages else {}
        return Preprocessed(
            tight.network_input, tight.box, tight.polarity, stages, gate_input=tight.gate_input
        )
    ink = read_page(decoded, TUNING.looks.full, keep_stages, polarity)
    return _prepared(decoded, ink, find_digit(ink), keep_stages)


def quick_look(decoded: DecodedImage, look: Look = TUNING.looks.quick) -> Preprocessed | None:
    """A first look at a large upload: the stages of :func:`preprocess` on a smaller work image
    (``look``: in uint8 levels, a coarser paper level, no shadow-following envelope). ``None``
    (the full look decides) unless the upload is at least twice the look's work size, its
    polarity clear, no paper lines found and the digit found at least ``look.min_digit`` pixels
    long, so that the 20x20 box loses nothing to the lower resolution. Nothing is raised: what
    this look cannot find, the full look looks for again. The cascade keeps this reading only
    when the screen is sure of it."""
    if max(decoded.original_size) < 2 * look.work_side or is_mnist_style(decoded):
        return None
    try:
        ink = read_page(decoded, look)
        if ink is None:
            return None
        region = find_digit(ink)
    except NoDigitFoundError:
        return None
    if max(region.w, region.h) < look.min_digit:
        return None
    return _prepared(decoded, ink, region)


def _prepared(
    decoded: DecodedImage, ink: InkImage, region: Region, keep_stages: bool = False
) -> Preprocessed:
    """The network input of the digit found in ``region``, its box in the original image, and
    the second looks the cascade may ask for."""
    network_input = mnist_normalise(ink.ink, region)
    if keep_stages:
        ink.stages["network input"] = as_uint8(network_input)
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


def preprocess_many(images: list[DecodedImage]) -> list[Preprocessed | NoDigitFoundError]:
    """:func:`preprocess` for many images, nothing kept for display; an image with no digit
    gives its :class:`NoDigitFoundError` in its place. The clean MNIST-style 28x28 inputs among
    them are recognised as such all at once (the same decisions, without a pass over each)."""
    out: list[Preprocessed | NoDigitFoundError | None] = [None] * len(images)
    small = [i for i, image in enumerate(images) if is_mnist_style(image)]
    if small:
        clean, dark_on_light, values = clean_at_once(np.stack([images[i].pixels for i in small]))
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
