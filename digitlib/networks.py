"""The three networks the serving path runs, on ONNX Runtime (never TensorFlow).

- the classifier (``models/digit_cnn.onnx``, notebook 03): ten calibrated probabilities;
- the gate (``digit_gate.onnx``, notebook 04, :mod:`digitlib.gate`): is this a digit at all?
- the screen (``digit_screen.onnx``, notebook 04, :mod:`digitlib.screen`): a small network
  distilled from both, which answers for the clear digits it is sure of.

:class:`Networks` runs them on batches of network inputs; what their readings mean is decided
in :mod:`digitlib.cascade`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from digitlib import config, screen

BATCH = 256  # images per ONNX Runtime call: chunks that fit in cache run twice as fast
GATE_NAME = "digit_gate"  # models/digit_gate.onnx: is this a digit at all?


class Networks:
    """The classifier, and the gate and screen beside it when there are any."""

    def __init__(
        self,
        session: ort.InferenceSession,
        metadata: dict | None = None,
        gate: ort.InferenceSession | None = None,
        gate_threshold: float = 0.5,
        screen: ort.InferenceSession | None = None,
        screen_card: dict | None = None,
    ):
        self.session = session
        self.metadata = metadata or {}
        self.gate = gate
        self.gate_threshold = gate_threshold
        self.screen = screen if gate is not None else None  # it stands in for both networks
        self._screen_input = self.screen.get_inputs()[0].name if self.screen is not None else ""
        card = screen_card or {}
        self.screen_thresholds = (
            float(card.get("accept_probability", 1.1)),
            float(card.get("accept_digit_score", 1.1)),
        )
        self._input = session.get_inputs()[0].name
        # Temperature scaling fitted on a validation split (notebook 04, in the sidecar).
        self.temperature = float(self.metadata.get("calibration", {}).get("temperature", 1.0))

    def probabilities(self, network_inputs: np.ndarray) -> np.ndarray:
        """Run the classifier on (N, 28, 28) or (N, 28, 28, 1) float32 inputs in [0, 1];
        calibrated probabilities when the sidecar carries a temperature."""
        batch = np.asarray(network_inputs, dtype=np.float32).reshape(-1, 28, 28, 1)
        chunks = [
            self.session.run(None, {self._input: batch[start : start + BATCH]})[0]
            for start in range(0, len(batch), BATCH)
        ]
        if not chunks:
            return np.zeros((0, 10), np.float32)
        probabilities = np.concatenate(chunks)
        if self.temperature != 1.0:
            logs = np.log(np.maximum(probabilities, 1e-12)) / self.temperature
            scaled = np.exp(logs - logs.max(axis=1, keepdims=True))
            probabilities = (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)
        return probabilities

    def digit_scores(self, network_inputs: np.ndarray) -> np.ndarray:
        """The gate's probability that each input is a digit (all ones without a gate)."""
        batch = np.asarray(network_inputs, dtype=np.float32).reshape(-1, 28, 28, 1)
        if self.gate is None or not len(batch):
            return np.ones(len(batch), np.float32)
        name = self.gate.get_inputs()[0].name
        return np.concatenate(
            [
                self.gate.run(None, {name: batch[start : start + BATCH]})[0][:, 0]
                for start in range(0, len(batch), BATCH)
            ]
        )

    def screen_outputs(self, network_inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The screen's digit probabilities (N, 10) and digit scores (N,), and nothing
        answered (scores of -1) without a screen."""
        batch = np.asarray(network_inputs, dtype=np.float32).reshape(-1, 28, 28, 1)
        if self.screen is None or not len(batch):
            return np.zeros((len(batch), 10), np.float32), -np.ones(len(batch), np.float32)
        name = self._screen_input
        if len(batch) <= BATCH:  # one call (one upload): nothing to join
            probabilities, scores = self.screen.run(None, {name: batch})
            return probabilities, scores[:, 0]
        chunks = [
            self.screen.run(None, {name: batch[start : start + BATCH]})
            for start in range(0, len(batch), BATCH)
        ]
        return (
            np.concatenate([chunk[0] for chunk in chunks]),
            np.concatenate([chunk[1][:, 0] for chunk in chunks]),
        )

    def screen_sure(self, probabilities: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Which of the screen's readings it answers for (its card's thresholds)."""
        return screen.answered(probabilities, scores, *self.screen_thresholds)


def session(path: Path, threads: int = 0, arena: bool = True) -> ort.InferenceSession:
    """An ONNX Runtime session on the CPU (``threads`` 0: one per core).

    ``arena=False`` gives the memory of each run back instead of keeping it in ONNX Runtime's
    arena for the next: the dashboard's kernels, one per visitor, each mostly idle, use it
    (measured: 117 MB kept after one batch of 2,000 inputs, 61 MB without the arena; the
    answers bit-identical). Batch reading keeps the arena: it is 30% faster with it (4,096
    inputs in batches of 256, 711 ms against 923)."""
    options = ort.SessionOptions()
    options.inter_op_num_threads = 1  # a chain of layers: nothing to run side by side
    options.intra_op_num_threads = threads
    options.enable_cpu_mem_arena = arena
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_gate(
    directory: str | Path = config.DEFAULT_ONNX.parent, arena: bool = True
) -> tuple[ort.InferenceSession | None, float]:
    """The "is this a digit" network in ``directory`` (``digit_gate.onnx``) and its threshold
    (from its card, else 0.5); ``(None, 0.5)`` when there is none."""
    gate_path = Path(directory) / (GATE_NAME + ".onnx")
    if not gate_path.is_file():
        return None, 0.5
    card = gate_path.with_suffix(".json")
    threshold = float(json.loads(card.read_text())["threshold"]) if card.is_file() else 0.5
    return session(gate_path, arena=arena), threshold


def load_screen(
    directory: str | Path = config.DEFAULT_ONNX.parent,
    classifier: str = config.DEFAULT_ONNX.stem,
    arena: bool = True,
) -> tuple[ort.InferenceSession | None, dict | None]:
    """The screen in ``directory`` (``digit_screen.onnx``) and its card (its thresholds), when
    it was distilled from ``classifier`` (the model's file stem: it stands in for that model
    only, never for the seed's or another); ``(None, None)`` otherwise, or when either file is
    missing, since a screen without thresholds answers nothing."""
    path = Path(directory) / (screen.SCREEN_NAME + ".onnx")
    card_path = path.with_suffix(".json")
    if not (path.is_file() and card_path.is_file()):
        return None, None
    card = json.loads(card_path.read_text())
    if card.get("classifier") != classifier:
        return None, None
    # Distilled from that very file: a model fine-tuned since (notebook 06, on corrections) has
    # another SHA-256 in its sidecar, and this screen would answer with the old model's habits.
    sidecar = Path(directory) / (classifier + ".json")
    if "classifier_sha256" in card and sidecar.is_file():
        files = json.loads(sidecar.read_text()).get("files", {})
        if files.get("onnx", {}).get("sha256") != card["classifier_sha256"]:
            return None, None
    # One thread: a network this small gains little from two (one image: 85 us against 125),
    # and predict_many restores the next chunk on the other core while it reads.
    return session(path, threads=1, arena=arena), card
