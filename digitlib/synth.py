"""Realistic test images made from held-out MNIST test digits: what users actually upload.

* :func:`photo` — a phone photo of ink on white, tinted, ruled or squared paper: perspective,
  uneven light and shadow, blur, sensor noise, JPEG compression, 50 to 3000 pixels.
* :func:`canvas` — a drawing with a uniform pen on a transparent background, in several colours.
* :func:`crop` — a white-on-black crop, MNIST's own polarity at another size.
* :func:`number_photo` — several digits written on one line, photographed.
* :func:`flag_one` — an MNIST 1 written the European way, with a long flag (the style the
  committed model reads as a 7 most of the time; reports/corrections.md).

Everything is deterministic given the ``numpy.random.Generator``. Only ever feed MNIST *test*
digits here when the result is used to evaluate a model trained on MNIST's training split.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAPERS = ("white", "tinted", "ruled", "squared")
INKS_BGR = {
    "black": (25, 25, 30),
    "blue": (140, 50, 20),
    "dark blue": (90, 30, 10),
    "graphite": (70, 70, 70),
}
PEN_COLOURS_BGR = {
    "black": (0, 0, 0),
    "blue": (230, 80, 20),
    "red": (30, 30, 220),
    "green": (40, 160, 40),
    "white": (255, 255, 255),
    "orange": (0, 140, 255),
}


@dataclass
class Sample:
    """One synthetic upload: the encoded file, its true text, and how it was made."""

    data: bytes
    label: str
    kind: str
    size: tuple[int, int]  # width, height
    notes: str = ""
    indices: tuple[int, ...] = ()  # which of the given digits it shows, left to right


def flag_one(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 MNIST 1 with a European flag added: a stroke of the pen's width from the top of
    the 1 down to the left, 30-45% of its height long and 20-45 degrees below horizontal, as
    many writers outside the US make their 1s (without a base)."""
    digit = np.asarray(digit, np.uint8)
    ys, xs = np.nonzero(digit > 60)
    if len(ys) == 0:
        return digit.copy()
    top, bottom = ys.min(), ys.max()
    height = bottom - top
    x_top = np.nonzero(digit[top] > 60)[0].mean()
    length = rng.uniform(0.3, 0.45) * height
    angle = np.deg2rad(rng.uniform(20, 45))
    end = (x_top - length * np.cos(angle), top + length * np.sin(angle))
    scale = 10  # drawn at 280x280 with anti-aliasing, then brought back to 28x28
    big = cv2.resize(digit, (28 * scale, 28 * scale), interpolation=cv2.INTER_LINEAR)
    pen = int(rng.uniform(14, 24))  # about MNIST's stroke width
    start = (int(x_top * scale), int(top * scale + scale // 2))
    cv2.line(big, start, (int(end[0] * scale), int(end[1] * scale)), 255, pen, cv2.LINE_AA)
    return cv2.resize(big, (28, 28), interpolation=cv2.INTER_AREA)


def _ink_layer(
    digits: list[np.ndarray],
    height: int,
    rng: np.random.Generator,
    touching: bool = False,
    gaps: tuple[float, float] | None = None,
):
    """Upscale MNIST digits into one ink map (0..1) of the given height, laid left to right,
    apart or ``touching``; ``gaps`` (the range of gaps between digits, x the height, negative
    for digits pressed into each other) overrides both."""
    pieces = []
    for digit in digits:
        big = cv2.resize(
            digit.astype(np.float32) / 255.0, (height, height), interpolation=cv2.INTER_CUBIC
        )
        big = np.clip(big * 1.25, 0, 1)
        columns = np.flatnonzero(big.max(axis=0) > 0.1)
        big = big[:, columns.min() : columns.max() + 1] if len(columns) else big
        pieces.append(big)
    if len(pieces) == 1:
        return pieces[0]
    low, high = gaps or ((-0.06, 0.02) if touching else (0.08, 0.3))
    gap = lambda: int(height * rng.uniform(low, high))  # noqa: E731
    width = sum(piece.shape[1] for piece in pieces) + sum(max(gap(), -5) for _ in pieces) + height
    layer = np.zeros((height, width), np.float32)
    cursor = 0
    for piece in pieces:
        end = min(cursor + piece.shape[1], width)
        layer[:, cursor:end] = np.maximum(layer[:, cursor:end], piece[:, : end - cursor])
        cursor = max(0, end + gap())
    columns = np.flatnonzero(layer.max(axis=0) > 0.05)
    return layer[:, : columns.max() + 1]


def _paper(
    width: int, height: int, rng: np.random.Generator, digit_height: int
) -> tuple[np.ndarray, str]:
    """Paper of one of four kinds; rules and squares are spaced as on real paper, relative to
    the handwriting (5 mm squares, 7-9 mm rules for digits 5-10 mm tall)."""
    kind = PAPERS[rng.integers(len(PAPERS))]
    base = rng.uniform(215, 250)
    colour = np.array([base, base, base])
    if kind == "tinted" or rng.random() < 0.2:
        colour = colour - rng.uniform(0, 35, size=3)  # yellowish, bluish or grey paper
    paper = np.empty((height, width, 3), np.float32)
    paper[:] = colour
    spacing = max(
        6,
        int(digit_height * (rng.uniform(0.6, 1.1) if kind == "squared" else rng.uniform(0.9, 1.4))),
    )
    line_colour = np.array([200, 160, 120]) if rng.random() < 0.7 else np.array([150, 150, 150])
    thickness = max(1, int(round(min(width, height) / 400)))
    if kind in ("ruled", "squared"):
        for y in range(int(rng.integers(spacing)), height, spacing):
            cv2.line(paper, (0, y), (width, y), line_colour.tolist(), thickness)
    if kind == "squared":
        for x in range(int(rng.integers(spacing)), width, spacing):
            cv2.line(paper, (x, 0), (x, height), line_colour.tolist(), thickness)
    return paper, kind


def _lighting(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative light: a gradient, a vignette and sometimes a soft shadow."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height) / 1.5
    light = 1.0 - rng.uniform(0.0, 0.35) * (ramp - ramp.min())
    radius = ((xs / width - 0.5) ** 2 + (ys / height - 0.5) ** 2) * 2
    light *= 1.0 - rng.uniform(0.0, 0.3) * radius
    if rng.random() < 0.4:
        shadow = np.zeros((height, width), np.float32)
        corners = rng.uniform([0, 0], [width, height], size=(3, 2)).astype(np.int32)
        edge = rng.integers(4)
        anchor = np.array([[0, 0], [width, 0], [width, height], [0, height]])[
            [edge, (edge + 1) % 4]
        ]
        cv2.fillPoly(shadow, [np.vstack([anchor, corners[:2]]).astype(np.int32)], 1.0)
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(2.0, min(width, height) * 0.04))
        light *= 1.0 - rng.uniform(0.2, 0.45) * shadow
    return light


def _perspective(image: np.ndarray, rng: np.random.Generator, strength: float = 0.07) -> np.ndarray:
    height, width = image.shape[:2]
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    jitter = rng.uniform(-strength, strength, size=(4, 2)) * [width, height]
    target = (source + jitter).astype(np.float32)
    matrix = cv2.getPerspectiveTransform(source, target)
    return cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def _encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return buffer.tobytes()


def _photograph(
    ink: np.ndarray, side: int, rng: np.random.Generator, fill: float, cropped: bool = False
) -> tuple[bytes, str, tuple]:
    """Put an ink map on paper in a photo whose long side is ``side`` and shoot it; ``cropped``:
    the photo is then cropped by hand at its first or last digit, the cut up to 6% of the digit
    height inside the ink (a number whose digit touches the picture's edge), and sometimes at
    the line's top and bottom too."""
    aspect = (
        rng.uniform(0.75, 1.33)
        if ink.shape[1] <= ink.shape[0] * 1.5
        else ink.shape[1] / ink.shape[0] * rng.uniform(1.1, 1.4)
    )
    width, height = (
        (side, max(8, int(side / aspect))) if aspect >= 1 else (max(8, int(side * aspect)), side)
    )
    scale = min(fill * height / ink.shape[0], 0.92 * width / ink.shape[1])
    layer = cv2.resize(
        ink,
        (max(1, int(ink.shape[1] * scale)), max(1, int(ink.shape[0] * scale))),
        interpolation=cv2.INTER_LINEAR,
    )
    paper, kind = _paper(width, height, rng, layer.shape[0])
    canvas = np.zeros((height, width), np.float32)
    top = int((height - layer.shape[0]) * rng.uniform(0.3, 0.7))
    left = int((width - layer.shape[1]) * rng.uniform(0.3, 0.7))
    canvas[top : top + layer.shape[0], left : left + layer.shape[1]] = layer[
        : height - top, : width - left
    ]
    ink_name = list(INKS_BGR)[rng.integers(len(INKS_BGR))]
    strength = rng.uniform(0.75, 0.97) * canvas[..., None]
    image = paper * (1 - strength) + np.array(INKS_BGR[ink_name], np.float32) * strength
    if cropped:  # the ink's place after the perspective: a fourth channel through the warp
        warped = _perspective(np.dstack([image, canvas]), rng)
        image, canvas = np.ascontiguousarray(warped[..., :3]), warped[..., 3]
    else:
        image = _perspective(image, rng)
    image *= _lighting(width, height, rng)[..., None]
    sigma = rng.uniform(0.0, 1.2) * max(1.0, side / 600)
    if sigma > 0.3:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    image += rng.normal(0, rng.uniform(1.5, 7.0), size=image.shape).astype(np.float32)
    quality = int(rng.integers(50, 96))
    notes = f"{kind} paper, {ink_name} ink, blur {sigma:.1f}, JPEG q{quality}"
    if cropped:
        columns = np.flatnonzero(canvas.max(axis=0) > 0.3)
        cut = int(rng.uniform(0.0, 0.06) * layer.shape[0])
        right = rng.random() < 0.7
        image = image[:, : columns.max() + 1 - cut] if right else image[:, columns.min() + cut :]
        notes += f", cropped at the {'right' if right else 'left'} edge"
        if rng.random() < 0.4:  # and at the top and bottom of the line: every digit touches
            rows = np.flatnonzero(canvas.max(axis=1) > 0.3)
            image = image[rows.min() : rows.max() + 1]
            notes += " and its top and bottom"
        height, width = image.shape[:2]
    data = _encode_jpeg(np.clip(image, 0, 255).astype(np.uint8), quality)
    return data, notes, (width, height)


def photo(
    digit: np.ndarray, label: int, rng: np.random.Generator, side: int | None = None
) -> Sample:
    """A phone photo of one MNIST digit written on paper (JPEG)."""
    side = int(side or np.exp(rng.uniform(np.log(50), np.log(3000))))
    ink = _ink_layer([digit], max(28, int(side * 0.6)), rng)
    data, notes, size = _photograph(ink, side, rng, fill=rng.uniform(0.35, 0.7))
    return Sample(data, str(label), "photo", size, notes)


def number_photo(
    digits: list[np.ndarray],
    labels: list[int],
    rng: np.random.Generator,
    side: int | None = None,
    cropped: bool = False,
) -> Sample:
    """A photo of several digits written on one line (a ZIP code, an amount); ``cropped``: cut
    by hand at its first or last digit, which touches the picture's edge."""
    side = int(side or rng.integers(400, 1600))
    touching = rng.random() < 0.25
    ink = _ink_layer(digits, max(28, int(side / len(digits))), rng, touching=touching)
    data, notes, size = _photograph(ink, side, rng, fill=rng.uniform(0.3, 0.5), cropped=cropped)
    return Sample(
        data, "".join(map(str, labels)), "number", size, notes + (", touching" if touching else "")
    )


def canvas(
    digit: np.ndarray, label: int, rng: np.random.Generator, side: int | None = None
) -> Sample:
    """A drawing with a uniform pen on a transparent background (RGBA PNG)."""
    side = int(side or rng.integers(150, 700))
    height = int(side * rng.uniform(0.5, 0.8))
    ink = _ink_layer([digit], height, rng)
    stroke = (ink > 0.5).astype(np.uint8) * 255
    pen = int(max(1, side / rng.uniform(40, 120)))
    stroke = (
        cv2.dilate(stroke, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (pen, pen)))
        if pen > 2
        else stroke
    )
    stroke = cv2.GaussianBlur(stroke, (3, 3), 0)  # anti-aliased edge, as a canvas draws it
    image = np.zeros((side, side, 4), np.uint8)
    top, left = (side - stroke.shape[0]) // 2, max(0, (side - stroke.shape[1]) // 2)
    stroke = stroke[: side - top, : side - left]
    colour_name = list(PEN_COLOURS_BGR)[rng.integers(len(PEN_COLOURS_BGR))]
    image[top : top + stroke.shape[0], left : left + stroke.shape[1], :3] = PEN_COLOURS_BGR[
        colour_name
    ]
    image[top : top + stroke.shape[0], left : left + stroke.shape[1], 3] = stroke
    ok, buffer = cv2.imencode(".png", image)
    assert ok
    return Sample(
        buffer.tobytes(), str(label), "canvas", (side, side), f"{colour_name} pen on transparent"
    )


def upscaled_8x8(
    levels: np.ndarray, side: int, interpolation: int, margin: int = 0, dark: bool = False
) -> np.ndarray:
    """A low-resolution digit such as scikit-learn's 8x8 UCI digits (levels 0-16) enlarged to
    ``side`` pixels the way a dataset, a thumbnail or a screenshot does: ``margin`` of its own
    pixels of paper round it, an OpenCV ``interpolation``, light on black or (``dark``) dark
    on white. uint8 gray."""
    image = np.pad((levels / 16.0 * 255).astype(np.uint8), margin)
    image = cv2.resize(image, (side, side), interpolation=interpolation)
    return 255 - image if dark else image


def crop(
    digit: np.ndarray, label: int, rng: np.random.Generator, side: int | None = None
) -> Sample:
    """A white-on-black crop of a digit at another size, PNG or JPEG."""
    side = int(side or rng.integers(28, 400))
    ink = _ink_layer([digit], max(8, int(side * rng.uniform(0.6, 0.85))), rng)
    image = np.zeros((side, side), np.float32)
    top = (side - ink.shape[0]) // 2
    left = max(0, (side - ink.shape[1]) // 2 + int(rng.integers(-side // 10, side // 10 + 1)))
    ink = ink[:, : side - left]
    image[top : top + ink.shape[0], left : left + ink.shape[1]] = ink * 255
    image = np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        return Sample(
            _encode_jpeg(image, int(rng.integers(60, 95))), str(label), "crop", (side, side), "JPEG"
        )
    ok, buffer = cv2.imencode(".png", image)
    assert ok
    return Sample(buffer.tobytes(), str(label), "crop", (side, side), "PNG")


def make_set(
    kind: str, images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> list[Sample]:
    """``count`` samples of one kind from the given (test) digits, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    makers = {"photo": photo, "canvas": canvas, "crop": crop}
    numbers = ("number", "cropped-number")
    if kind not in (*makers, *numbers):
        raise ValueError(f"kind must be one of {[*makers, *numbers]}, got {kind!r}")
    needed = count * (6 if kind in numbers else 1)
    picks = rng.choice(len(images), size=needed, replace=needed > len(images))
    samples = []
    for index in range(count):
        if kind in numbers:
            chosen = picks[index * 6 : index * 6 + int(rng.integers(3, 7))]
            sample = number_photo(
                [images[i] for i in chosen],
                [int(labels[i]) for i in chosen],
                rng,
                cropped=kind == "cropped-number",
            )
        else:
            chosen = picks[index : index + 1]
            sample = makers[kind](images[chosen[0]], int(labels[chosen[0]]), rng)
        sample.indices = tuple(int(i) for i in chosen)
        samples.append(sample)
    return samples
