"""Every path the project uses, derived from the package location."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
MNIST_DIR = Path(os.environ.get("DIGITLIB_MNIST_DIR", DATA_DIR / "mnist"))
MODELS_DIR = ROOT / "models"
REPORTS_DIR = ROOT / "reports"
FIGURES_DIR = REPORTS_DIR / "figures"
NOTEBOOKS_DIR = ROOT / "notebooks"
RUNS_DIR = ROOT / "runs"

DEFAULT_MODEL = MODELS_DIR / "digit_cnn.keras"
DEFAULT_ONNX = MODELS_DIR / "digit_cnn.onnx"
SEED_MODEL = MODELS_DIR / "seed_cnn.keras"

IMAGE_SIZE = 28
NUM_CLASSES = 10
