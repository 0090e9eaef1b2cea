"""The "no digit here" decision: a small network that tells digits from everything else.

The digit classifier must answer one of ten digits, so a letter, a scribble or a doodle would get
a confident wrong digit. The gate looks at the same 28x28 network input and answers "is this a
digit at all"; :class:`digitlib.Recognizer` refuses (``NoDigitFoundError``) when it says no.

Training data (never the evaluation data):

* digits: MNIST *training* digits, with the robust augmentation, so that blurred, noisy or
  lined digits still count as digits;
* not digits: letters drawn with OpenCV's Hershey fonts (``TRAIN_FONTS``), random scribbles,
  geometric shapes and ink clutter, each rendered as an image and normalised by the serving
  pipeline itself, exactly as an upload would be; and two MNIST training digits touching or
  overlapping, normalised as one (``pairs``), so that the reader of numbers
  (:mod:`digitlib.segment`) can tell one digit from two it has failed to cut apart.

Evaluation (:func:`evaluation_negatives`) uses *other* fonts (``HELD_OUT_FONTS``), other seeds,
and phone photos of letters and scribbles made by :mod:`digitlib.synth`. Letters that
handwriting makes look like digits (O and 0, l and 1, Z and 2, S and 5, ...) are left out of
both, since refusing them would be wrong: see ``DIGIT_LIKE``.
"""

from __future__ import annotations

import string

import cv2
import numpy as np

from digitlib import imageio, preprocess
from digitlib.errors import NoDigitFoundError

# Letters that handwriting makes hard to tell from a digit: O/o/D/Q 0, l/I/i/j/J 1, Z/z 2, E/e 3,
# A/h 4, S/s 5, b/G 6, T/Y 7, B 8, g/q/a 9.
DIGIT_LIKE = set("OoDQlIijJZzSsbGTYBgqaAhEe")
LETTERS = "".join(ch for ch in string.ascii_letters if ch not in DIGIT_LIKE)
TRAIN_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_PLAIN)
HELD_OUT_FONTS = (
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)
CANVAS = 160


def _blank() -> np.ndarray:
    return np.full((CANVAS, CANVAS), 255, np.uint8)


def letter(rng: np.random.Generator, fonts=TRAIN_FONTS) -> np.ndarray:
    """A letter (not one written like a digit), dark on light, slightly rotated or sheared."""
    image = _blank()
    font = fonts[int(rng.integers(len(fonts)))]
    if rng.random() < 0.25:
        font |= cv2.FONT_ITALIC
    count = 1 if rng.random() < 0.8 else 2  # sometimes a pair, as in a word
    text = "".join(LETTERS[int(rng.integers(len(LETTERS)))] for _ in range(count))
    scale = rng.uniform(2.5, 4.0) * (2.0 if font & 0xF == cv2.FONT_HERSHEY_PLAIN else 1.0)
    thickness = int(rng.integers(3, 12))
    (width, height), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = ((CANVAS - width) // 2, (CANVAS + height) // 2)
    cv2.putText(image, text, origin, font, scale, 0, thickness, cv2.LINE_AA)
    if width > CANVAS - 10:
        image = cv2.resize(image[:, max(0, origin[0]) :], (CANVAS, CANVAS))
    angle, shear = rng.uniform(-15, 15), rng.uniform(-0.25, 0.25)
    matrix = cv2.getRotationMatrix2D((CANVAS / 2, CANVAS / 2), angle, 1.0)
    matrix[0, 1] += shear
    image = cv2.warpAffine(image, matrix, (CANVAS, CANVAS), borderValue=255)
    return wobble(image, rng) if rng.random() < 0.6 else image


def wobble(image: np.ndarray, rng: np.random.Generator, strength: float = 4.0) -> np.ndarray:
    """A smooth random displacement, so a font's letter looks written by hand."""
    field = [
        cv2.resize(rng.normal(0, strength, (5, 5)).astype(np.float32), image.shape[::-1])
        for _ in range(2)
    ]
    rows, cols = np.indices(image.shape, dtype=np.float32)
    return cv2.remap(image, cols + field[0], rows + field[1], cv2.INTER_LINEAR, borderValue=255)


def _smooth_path(rng: np.random.Generator, points: int, spread: float) -> np.ndarray:
    anchors = rng.uniform(CANVAS * (0.5 - spread), CANVAS * (0.5 + spread), (points, 2))
    t = np.linspace(0, 1, points)
    fine = np.linspace(0, 1, points * 12)
    path = np.stack([np.interp(fine, t, anchors[:, k]) for k in (0, 1)], axis=1)
    kernel = np.ones(7) / 7
    path = np.stack([np.convolve(path[:, k], kernel, mode="valid") for k in (0, 1)], axis=1)
    return np.rint(path).astype(np.int32)


def scribble(rng: np.random.Generator, strokes: tuple[int, int] = (1, 4)) -> np.ndarray:
    """Random pen strokes: a doodle, a crossing-out, a tangle."""
    image = _blank()
    for _ in range(int(rng.integers(*strokes))):
        path = _smooth_path(rng, int(rng.integers(5, 14)), rng.uniform(0.25, 0.42))
        cv2.polylines(image, [path], False, 0, int(rng.integers(3, 10)), cv2.LINE_AA)
    return image


def shape(rng: np.random.Generator) -> np.ndarray:
    """A drawn shape that is not a digit: a triangle, a square, a star, a cross, an arrow."""
    image = _blank()
    centre, radius = np.array([CANVAS / 2, CANVAS / 2]), rng.uniform(35, 65)
    thickness = int(rng.integers(3, 10))
    kind = int(rng.integers(5))
    start = rng.uniform(0, 2 * np.pi)
    if kind in (0, 1, 2):  # triangle, square, star
        corners = (3, 4, 5)[kind]
        step = 2 if kind == 2 else 1
        angles = start + 2 * np.pi * np.arange(corners) * step / corners
        points = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
        cv2.polylines(image, [np.rint(points).astype(np.int32)], True, 0, thickness, cv2.LINE_AA)
    elif kind == 3:  # a cross (x), or a plus
        for angle in (start, start + np.pi / 2):
            offset = radius * np.array([np.cos(angle), np.sin(angle)])
            a, b = np.rint(centre - offset).astype(int), np.rint(centre + offset).astype(int)
            cv2.line(image, tuple(int(v) for v in a), tuple(int(v) for v in b), 0, thickness)
    else:  # an arrow
        tail = np.rint(centre - [radius, 0]).astype(int)
        head = np.rint(centre + [radius, 0]).astype(int)
        cv2.arrowedLine(
            image,
            tuple(int(v) for v in tail),
            tuple(int(v) for v in head),
            0,
            thickness,
            cv2.LINE_AA,
            tipLength=0.35,
        )
        matrix = cv2.getRotationMatrix2D((CANVAS / 2, CANVAS / 2), np.degrees(start), 1.0)
        image = cv2.warpAffine(image, matrix, (CANVAS, CANVAS), borderValue=255)
    return image


def clutter(rng: np.random.Generator) -> np.ndarray:
    """Ink that is not writing: blots, a smudge, a patch of hatching."""
    image = _blank()
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(3, 9))):
            centre = tuple(int(v) for v in rng.integers(30, CANVAS - 30, 2))
            axes = tuple(int(v) for v in rng.integers(4, 22, 2))
            cv2.ellipse(image, centre, axes, rng.uniform(0, 180), 0, 360, 0, -1, cv2.LINE_AA)
    else:
        spacing, angle = int(rng.integers(6, 14)), rng.uniform(0, 180)
        for offset in range(-CANVAS, CANVAS, spacing):
            cv2.line(image, (offset, 0), (offset + CANVAS, CANVAS), 0, int(rng.integers(2, 5)))
        matrix = cv2.getRotationMatrix2D((CANVAS / 2, CANVAS / 2), angle, 0.6)
        image = cv2.warpAffine(image, matrix, (CANVAS, CANVAS), borderValue=255)
    return image


def network_inputs(images: list[np.ndarray]) -> np.ndarray:
    """Each image through the serving pipeline's normalisation, as the gate judges it
    (``Preprocessed.gate_view``; those the pipeline refuses are skipped)."""
    out = []
    for image in images:
        try:
            out.append(preprocess.preprocess(imageio.load(image)).gate_view)
        except (NoDigitFoundError, ValueError):
            continue
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 28, 28), np.float32)


def _ink_columns(digit: np.ndarray) -> tuple[int, int]:
    columns = np.nonzero(digit.max(axis=0) > 0.3)[0]
    return (int(columns[0]), int(columns[-1]) + 1) if len(columns) else (0, digit.shape[1])


def pairs(images: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` network inputs that each hold two digits touching or overlapping, normalised
    as one: what a reader of numbers sees when it fails to cut two digits apart. Built from
    the MNIST ``images`` given (training digits for training, test digits for measuring)."""
    rng = np.random.default_rng([seed, 11])
    out = np.zeros((count, 28, 28), np.float32)
    for n in range(count):
        first, second = (
            images[int(i)].astype(np.float32) / 255.0 for i in rng.integers(len(images), size=2)
        )
        _, first_right = _ink_columns(first)
        second_left, _ = _ink_columns(second)
        gap = int(rng.integers(-8, 3))  # from a third of a digit overlapping to barely apart
        shift = first_right + gap - second_left
        rise = int(rng.integers(-3, 4))
        canvas = np.zeros((40, 28 + max(shift, 0) + 12), np.float32)
        canvas[6:34, 6 : 6 + 28] = first
        top, left = 6 + rise, 6 + max(shift, 0)
        canvas[top : top + 28, left : left + 28] = np.maximum(
            canvas[top : top + 28, left : left + 28], second
        )
        canvas = cv2.resize(canvas, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_LINEAR)
        mask = (canvas > 0.3).astype(np.uint8)
        ys, xs = np.nonzero(mask)
        region = preprocess.Region(
            int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1, mask
        )
        out[n] = preprocess.mnist_normalise(canvas, region)
    return out


def training_negatives(count: int, seed: int = 0) -> np.ndarray:
    """``count`` non-digit network inputs for training: letters in ``TRAIN_FONTS``, scribbles,
    shapes and clutter in equal parts."""
    rng = np.random.default_rng([seed, 7])
    makers = (letter, scribble, shape, clutter)
    images = [makers[i % len(makers)](rng) for i in range(count)]
    return network_inputs(images)


def evaluation_negatives(count: int, seed: int = 1) -> dict[str, list]:
    """Held-out non-digits by kind, as encoded images or arrays: letters in other fonts,
    scribbles and shapes from other seeds, and phone photos of letters and scribbles."""
    from digitlib import synth

    rng = np.random.default_rng([seed, 99])
    held_out = {
        "letters (other fonts)": [letter(rng, HELD_OUT_FONTS) for _ in range(count)],
        "scribbles": [scribble(rng) for _ in range(count)],
        "shapes": [shape(rng) for _ in range(count)],
    }
    photos = []
    for i in range(count):
        drawing = letter(rng, HELD_OUT_FONTS) if i % 2 else scribble(rng)
        ink = 1.0 - drawing.astype(np.float32) / 255.0
        data, _, _ = synth._photograph(ink, int(rng.integers(300, 1500)), rng, fill=0.5)
        photos.append(data)
    held_out["photos of letters and scribbles"] = photos
    return held_out


def build_gate():
    """A small CNN: 28x28 network input -> probability that it is a digit."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(inputs)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="is_digit")(x)
    return keras.Model(inputs, outputs, name="digit_gate")


def _as_uploads(images: np.ndarray, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digits rendered as uploads (photos, drawings, crops in turn) at the sizes users send them
    (photos 50-600 px, past which the pipeline's 320 px work image looks the same; drawings and
    crops at :mod:`digitlib.synth`'s own sizes), then normalised by the serving pipeline."""
    from digitlib import synth

    makers = (synth.photo, synth.canvas, synth.crop)
    uploads = []
    for i, index in enumerate(indices):
        side = int(np.exp(rng.uniform(np.log(50), np.log(600)))) if i % 3 == 0 else None
        uploads.append(makers[i % 3](images[index], 0, rng, side=side).data)
    return network_inputs(uploads)


def positives(images: np.ndarray, count: int, seed: int = 0, augmented: bool = True) -> np.ndarray:
    """``count`` digit network inputs from MNIST *training* digits: a quarter as they are, a
    quarter with a wide robust augmentation, half rendered as uploads (photos, drawings, crops)
    by :mod:`digitlib.synth` and normalised by the serving pipeline. Without ``augmented``, half
    as they are and half as uploads: the digits a user actually sends, for measuring.

    Half are uploads because the pipeline's resampling is what the gate must not mistake for
    "not a digit": with a third of them rendered at 60-400 px, the gate refused about 1% of
    realistic uploads of test digits; fine-tuned on 15,000 more, it refused a third as many at
    the same refusal of held-out non-digits (reports/experiments/upload-refusals.md).
    """
    from digitlib import augment

    rng = np.random.default_rng([seed, 3])
    picks = rng.choice(len(images), size=count, replace=False)
    half = count // 2
    if not augmented:
        uploads = _as_uploads(images, picks[half:], rng)
        plain = images[picks[:half]].astype(np.float32) / 255.0
        return np.concatenate([plain, uploads]).astype(np.float32)
    quarter = count // 4
    plain = images[picks[:quarter]].astype(np.float32) / 255.0
    config = augment.AugmentConfig(  # wider than training's: rotated and sheared digits too
        rotation=25,
        zoom=0.15,
        shift=0.12,
        shear=0.3,
        thickness=0.3,
        blur=0.3,
        noise=0.12,
        impulse=0.15,
        lines=0.25,
        lighting=0.25,
    )
    varied = np.concatenate(
        [
            augment.augment_images(images[picks[i : min(i + 1000, half)]], config, seed=seed + i)[
                ..., 0
            ]
            for i in range(quarter, half, 1000)
        ]
    )[: half - quarter]
    uploads = _as_uploads(images, picks[half:], rng)
    return np.concatenate([plain, varied, uploads]).astype(np.float32)


def train_gate(
    digit_images: np.ndarray, count: int = 30000, epochs: int = 4, seed: int = 0, log=print
):
    """Train the gate on ``count`` digits (MNIST training images only) and as many non-digits."""
    import keras

    keras.utils.set_random_seed(seed)
    yes = positives(digit_images, count, seed)
    no = np.concatenate([training_negatives(count, seed), pairs(digit_images, count // 4, seed)])
    log(f"gate: {len(yes):,} digits, {len(no):,} non-digits")
    x = np.concatenate([yes, no])[..., None]
    y = np.concatenate([np.ones(len(yes)), np.zeros(len(no))]).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(x))
    model = build_gate()
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3), loss="binary_crossentropy", metrics=["accuracy"]
    )
    model.fit(
        x[order],
        y[order],
        batch_size=128,
        epochs=epochs,
        verbose=0,
        callbacks=[epoch_logger("gate", epochs, log, ("loss", "accuracy"))],
    )
    return model


def epoch_logger(name: str, epochs: int, log, metrics: tuple[str, ...] = ("loss",)):
    """A Keras callback that logs ``metrics`` after each epoch: "gate epoch 3/8: loss ..."."""
    import keras

    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: log(
            f"{name} epoch {epoch + 1}/{epochs}: "
            + " ".join(f"{metric} {logs[metric]:.4f}" for metric in metrics)
        )
    )


def threshold_for(non_digit_scores: np.ndarray, refused: float) -> float:
    """The score under which a fraction ``refused`` of non-digits fall: the gate's threshold is
    set on validation non-digits, so that a gate that tells digits apart better refuses fewer
    real digits at the same refusal of non-digits, rather than more non-digits."""
    return float(np.quantile(non_digit_scores, refused))
