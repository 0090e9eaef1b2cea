"""The serving pipeline's own outputs for MNIST *training* digits rendered as uploads: what the
classifier sees behind real photos, drawings, crops and numbers, to fine-tune it on (notebook 03's
stage 3).

Each run of five uploads is two photos (50-900 px: past that the pipeline's 320 px work image looks
the same), a canvas drawing, a white-on-black crop and a photographed number of 3-6 digits, all
made by :mod:`digitlib.synth`. A single upload gives the network input :func:`~digitlib.
preprocess.preprocess` makes of it; a number gives the digit windows ``read_number`` cuts out of
it, kept only when it cuts as many as were written (the labels then match in order). An upload in
which the pipeline finds no digit gives nothing.

Never feed test digits here: the realistic test sets are made from them.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

CYCLE = ("photo", "photo", "canvas", "crop", "number")
PHOTO_SIDES = (50, 900)


def _reader(model_path: Path):
    """A recogniser on ``model_path`` (no sidecar needed) with the committed gate beside it."""
    from digitlib.recognizer import Recognizer, load_gate

    reader = Recognizer.load(model_path, gate=False)
    reader.gate, reader.gate_threshold = load_gate()
    return reader


def _part(
    images: np.ndarray, labels: np.ndarray, count: int, model_path: Path, seed: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uploads (in :data:`CYCLE` order) of digits drawn from ``images``."""
    from digitlib import imageio, preprocess, synth
    from digitlib.errors import NoDigitFoundError

    reader = _reader(model_path)
    rng = np.random.default_rng(seed)
    inputs, targets = [], []
    for index in range(count):
        kind = CYCLE[index % len(CYCLE)]
        if kind == "number":
            picks = rng.choice(len(images), size=int(rng.integers(3, 7)), replace=False)
            sample = synth.number_photo([images[i] for i in picks], list(labels[picks]), rng)
            found = reader.number_windows(sample.data)
            if len(found) == len(picks):
                inputs.extend(item.network_input for item in found)
                targets.extend(labels[picks])
            continue
        pick = int(rng.integers(len(images)))
        side = int(np.exp(rng.uniform(*np.log(PHOTO_SIDES)))) if kind == "photo" else None
        maker = {"photo": synth.photo, "canvas": synth.canvas, "crop": synth.crop}[kind]
        sample = maker(images[pick], int(labels[pick]), rng, side=side)
        try:
            prepared = preprocess.preprocess(imageio.load(sample.data, gray=True))
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
) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs (float32 (N, 28, 28)) and labels from ``count`` uploads of ``images``
    (MNIST training digits, uint8), read by the ONNX classifier at ``model_path`` (numbers are
    cut where it reads them best) and the committed gate. About 1.7 inputs per upload.

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
            )
        )
    x = np.concatenate([inputs for inputs, _ in parts])
    y = np.concatenate([targets for _, targets in parts])
    return x, y
