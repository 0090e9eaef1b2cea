"""The serving pipeline's own outputs for MNIST *training* digits rendered as uploads: what the
classifier sees behind real photos, drawings, crops and numbers, to fine-tune it on (notebook 03's
stage 3).

Each run of five uploads is two photos (50-900 px: past that the pipeline's 320 px work image looks
the same), a canvas drawing, a white-on-black crop and a photographed number of 3-6 digits, all
made by :mod:`digitlib.synth`. With ``restyle``, that share of the digits is first written as
another writer would (:func:`digitlib.writers.restyle`: slant, pen width, European 1s, crossed 7s,
open and closed 4s), and each run gets a sixth upload: a blocky picture, the digit at 8x8 levels
enlarged as a dataset or a thumbnail does (:func:`blocky`). A single upload gives the network
input :func:`~digitlib.preprocess.preprocess` makes of it; a number gives the digit windows
``read_number`` cuts out of it, kept only when it cuts as many as were written (the labels then
match in order). An upload in which the pipeline finds no digit gives nothing.

Never feed test digits here: the realistic test sets are made from them.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

CYCLE = ("photo", "photo", "canvas", "crop", "number")
WRITERS_CYCLE = (*CYCLE, "blocky")  # with ``restyle``
PHOTO_SIDES = (50, 900)
BLOCKY_SIDES = (16, 256)
BLOCKY_INTERPOLATIONS = ("NEAREST", "LINEAR", "CUBIC", "AREA", "LANCZOS4")


def blocky(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A PNG of ``digit`` (28x28 MNIST) at 8x8 levels (:func:`digitlib.writers.to_8x8`), enlarged
    to 16-256 pixels with one of OpenCV's interpolations and 0-2 pixels of margin, light on dark
    or dark on white."""
    import cv2

    from digitlib import synth, writers

    side = int(np.exp(rng.uniform(*np.log(BLOCKY_SIDES))))
    interpolation = getattr(
        cv2, "INTER_" + BLOCKY_INTERPOLATIONS[rng.integers(len(BLOCKY_INTERPOLATIONS))]
    )
    image = synth.upscaled_8x8(
        writers.to_8x8(digit), side, interpolation, int(rng.integers(3)), bool(rng.random() < 0.5)
    )
    return cv2.imencode(".png", image)[1].tobytes()


def _reader(model_path: Path):
    """A recogniser on ``model_path`` (no sidecar needed) with the committed gate beside it."""
    from digitlib.recognizer import Recognizer, load_gate

    reader = Recognizer.load(model_path, gate=False)
    reader.gate, reader.gate_threshold = load_gate()
    return reader


def _part(
    images: np.ndarray,
    labels: np.ndarray,
    count: int,
    model_path: Path,
    seed: list[int],
    restyle: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uploads (in :data:`CYCLE` order, :data:`WRITERS_CYCLE` with ``restyle``) of
    digits drawn from ``images``, ``restyle`` of them written another writer's way."""
    from digitlib import imageio, preprocess, synth, writers
    from digitlib.errors import NoDigitFoundError

    reader = _reader(model_path)
    rng = np.random.default_rng(seed)
    cycle = WRITERS_CYCLE if restyle else CYCLE

    def digit(index: int) -> np.ndarray:
        if restyle and rng.random() < restyle:
            return writers.restyle(images[index], int(labels[index]), rng)
        return images[index]

    inputs, targets = [], []
    for index in range(count):
        kind = cycle[index % len(cycle)]
        if kind == "number":
            picks = rng.choice(len(images), size=int(rng.integers(3, 7)), replace=False)
            sample = synth.number_photo([digit(i) for i in picks], list(labels[picks]), rng)
            found = reader.number_windows(sample.data)
            if len(found) == len(picks):
                inputs.extend(item.network_input for item in found)
                targets.extend(labels[picks])
            continue
        pick = int(rng.integers(len(images)))
        if kind == "blocky":
            upload = blocky(digit(pick), rng)
        else:
            side = int(np.exp(rng.uniform(*np.log(PHOTO_SIDES)))) if kind == "photo" else None
            maker = {"photo": synth.photo, "canvas": synth.canvas, "crop": synth.crop}[kind]
            upload = maker(digit(pick), int(labels[pick]), rng, side=side).data
        try:
            prepared = preprocess.preprocess(imageio.load(upload, gray=True))
        except NoDigitFoundError:
            continue
        inputs.append(prepared.network_input)
        targets.append(labels[pick])
    return (
        np.asarray(inputs, np.float32).reshape(-1, 28, 28),
        np.asarray(targets, np.int64),
    )


def training_inputs(
    images: np.ndarray,
    labels: np.ndarray,
    count: int,
    model_path: str | Path,
    seed: int = 0,
    workers: int | None = None,
    restyle: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs (float32 (N, 28, 28)) and labels from ``count`` uploads of ``images``
    (MNIST training digits, uint8), read by the ONNX classifier at ``model_path`` (numbers are
    cut where it reads them best) and the committed gate. About 1.7 inputs per upload.
    ``restyle`` (0-1): that share of the digits written as other writers do, and blocky uploads
    added to the cycle (the module's docstring).

    Runs in ``workers`` processes (default: one per CPU core); the result depends on ``seed``
    and ``workers`` only, not on timing.
    """
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}")
    workers = max(1, workers or os.cpu_count() or 1)
    shares = [count // workers + (part < count % workers) for part in range(workers)]
    # "spawn": the caller may hold TensorFlow's threads, which a forked child must not inherit.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        parts = list(
            pool.map(
                _part,
                [images] * workers,
                [labels] * workers,
                shares,
                [Path(model_path)] * workers,
                [[seed, part] for part in range(workers)],
                [restyle] * workers,
            )
        )
    x = np.concatenate([inputs for inputs, _ in parts])
    y = np.concatenate([targets for _, targets in parts])
    return x, y
