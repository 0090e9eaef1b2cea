"""The dashboard's example images, rendered by :mod:`digitlib.synth` from MNIST *test* digits.

``python -m digitlib.samples`` (``make samples``) writes them to ``data/samples/``; they are
committed so that the dashboard needs neither MNIST nor the generator at run time. Each file is
named ``<kind>-<true text>.<ext>`` so a test can check what the recognizer reads from it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib import config

SAMPLES_DIR = config.DATA_DIR / "samples"


@dataclass(frozen=True)
class Recipe:
    """How one example is made: which generator, which test digits, which seed and size."""

    kind: str  # photo | canvas | crop | number
    indices: tuple[int, ...]  # MNIST test indices, left to right
    seed: int
    side: int


# MNIST test indices and seeds chosen for variety of digit, paper, light and pen. The number's
# seed was moved from 7 (digits touching under a shadow, read "0122") to one whose digits stand
# apart: an example should show the dashboard working; the benchmark measures how often it does.
RECIPES = (
    Recipe("photo", (0,), 1, 900),
    Recipe("photo", (18,), 2, 640),
    Recipe("photo", (61,), 5, 1200),
    Recipe("canvas", (4,), 3, 400),
    Recipe("crop", (8,), 4, 120),
    Recipe("number", (3, 2, 1, 18, 4), 12, 1000),
)
TITLES = {"photo": "Photo", "canvas": "Drawing", "crop": "Crop", "number": "Number"}


def file_name(recipe: Recipe, labels: np.ndarray, extension: str) -> str:
    text = "".join(str(int(labels[i])) for i in recipe.indices)
    return f"{recipe.kind}-{text}{extension}"


def render(recipe: Recipe, images: np.ndarray, labels: np.ndarray):
    """The :class:`digitlib.synth.Sample` for one recipe."""
    from digitlib import synth

    rng = np.random.default_rng(recipe.seed)
    digits = [images[i] for i in recipe.indices]
    truths = [int(labels[i]) for i in recipe.indices]
    if recipe.kind == "number":
        return synth.number_photo(digits, truths, rng, side=recipe.side)
    maker = {"photo": synth.photo, "canvas": synth.canvas, "crop": synth.crop}[recipe.kind]
    return maker(digits[0], truths[0], rng, side=recipe.side)


def extension(data: bytes) -> str:
    return ".png" if data.startswith(b"\x89PNG") else ".jpg"


def write_samples(folder: Path = SAMPLES_DIR) -> list[Path]:
    """Render every recipe into ``folder`` (replacing what was there) and return the paths."""
    from digitlib.data import load_mnist

    mnist = load_mnist()
    images, labels = mnist.x_test, mnist.y_test
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*-*.*"):
        old.unlink()
    paths = []
    for recipe in RECIPES:
        sample = render(recipe, images, labels)
        path = folder / file_name(recipe, labels, extension(sample.data))
        path.write_bytes(sample.data)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLES_DIR, help="folder to write into")
    arguments = parser.parse_args(argv)
    for path in write_samples(arguments.out):
        print(path.relative_to(config.ROOT) if path.is_relative_to(config.ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
