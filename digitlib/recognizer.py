"""The serving API: ``Recognizer.load().predict(image)``. ONNX Runtime, never TensorFlow.

``image`` is bytes, a path or a numpy array. Unreadable input raises
:class:`~digitlib.errors.InvalidImageError`; an image without a digit raises
:class:`~digitlib.errors.NoDigitFoundError`. Both carry a sentence meant for the user.
"""

from __future__ import annotations

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from digitlib import config, imageio, preprocess, screen, segment
from digitlib.errors import InvalidImageError, NoDigitFoundError

# Under this top-class probability (calibrated: the sidecar's temperature applied) the answer is
# flagged "unsure". Measured by notebook 04 on the 10,000 MNIST test digits with the committed
# model and recorded in its sidecar ("calibration"): 0.70% of answers fall under it, and they
# hold 18 of the model's 28 errors.
CONFIDENCE_THRESHOLD = 0.80
# A 28x28 input comes with no resampling that would smooth its grain. A soft one (blurred,
# frosted glass, camera shake: under SOFT_INK of its ink at full strength, where MNIST's digits
# have a quarter or more) that the network is unsure of (under LOOK_AGAIN) is looked at again
# smoothed, and the two answers averaged. Chosen on corrupted digits and checked on others (MNIST
# test digits 5000-5999, another corruption seed): frosted glass 93.5% -> 95.7%, camera shake
# 95.8% -> 96.3%, clean MNIST test unchanged. Larger uploads are resampled to 28x28 already (and
# a second, smoothed look cost 2 of 600 photos). An upload the network is unsure of is looked at
# again with the faint ink around its strokes kept (preprocess.with_faint_ink), averaged the same
# way: photos of 2 x 1000 test digits 2 more right, numbers 2 of 1,200 more, none fewer.
SOFT_INK = 0.2
LOOK_AGAIN = 0.9
BATCH = 256  # images per ONNX Runtime call in predict_many
# predict_many restores this many 28x28 inputs at a time, the screen reading each chunk on a
# second thread while the next is restored (ONNX Runtime lets go of Python's lock).
RESTORE_CHUNK = 4 * BATCH
# A line of digits needs more pixels than one digit: it is decoded and localised at up to this
# long side. (Decoded no larger than one digit's 320 px allows, 1.25% fewer numbers were read
# exactly on development seeds: reports/experiments/numbers-and-throughput.md.)
NUMBER_SIDE = 3 * preprocess.WORK_SIDE
# A large JPEG is decoded this large for the first look (preprocess.quick_look): a 1000 px photo
# at an eighth of its size, against a half for the full path.
QUICK_DECODE = preprocess.QUICK_SIDE - 8
# A page whose polarity was a close call (half of it in a shadow) and whose reading the gate
# refused is read with the other polarity; that reading is taken only when the gate is this sure
# of it, far above its own threshold, so that a photo of a letter or scribble gets no easy second
# chance. On development photos of 2 x 1000 test digits: 2 more read right (small photos on
# squared paper half in shadow, whose lit paper had been taken for the ink), none fewer; of
# 2,500 held-out photos of letters and scribbles (evaluation_negatives seeds 44-48), one more
# accepted (at 0.95 it would have been four; with a second reading for every refused page, not
# only close calls, 47 of 500).
OTHER_POLARITY_SCORE = 0.99
GATE_NAME = "digit_gate"  # models/digit_gate.onnx: is this a digit at all?
NOT_A_DIGIT = (
    "This does not look like a digit: it may be a letter, a scribble or a drawing. "
    "Upload an image of a handwritten digit."
)


@dataclass
class Prediction:
    """One recognised digit."""

    digit: int
    confidence: float
    probabilities: np.ndarray  # (10,) float32, sums to 1
    network_input: np.ndarray  # (28, 28) float32, what the model saw
    box: tuple[int, int, int, int]  # x, y, width, height in the original image
    unsure: bool
    polarity: str = ""
    stages: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    digit_score: float = 1.0  # the gate's probability that this is a digit at all
    answered_by: str = "classifier"  # or "screen": the small network that reads clear digits
    quick_look: bool = False  # read from the first, low-resolution look at a large upload

    def top(self, count: int = 3) -> list[tuple[int, float]]:
        """The ``count`` most probable digits with their probabilities."""
        order = np.argsort(-self.probabilities)[:count]
        return [(int(digit), float(self.probabilities[digit])) for digit in order]

    def to_dict(self) -> dict:
        """JSON-ready summary (no images)."""
        return {
            "digit": self.digit,
            "confidence": round(self.confidence, 6),
            "unsure": self.unsure,
            "box": list(self.box),
            "digit_score": round(self.digit_score, 6),
            "answered_by": self.answered_by,
            "quick_look": self.quick_look,
            "probabilities": [round(float(p), 6) for p in self.probabilities],
        }


@dataclass
class NumberReading:
    """A number read left to right: its text and one :class:`Prediction` per digit."""

    text: str
    digits: list[Prediction]

    @property
    def confidence(self) -> float:
        """The weakest digit's confidence: a number is only as sure as that."""
        return min((d.confidence for d in self.digits), default=0.0)

    @property
    def unsure(self) -> bool:
        """True when any digit is unsure."""
        return any(d.unsure for d in self.digits)

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "text": self.text,
            "confidence": round(self.confidence, 6),
            "unsure": self.unsure,
            "digits": [d.to_dict() for d in self.digits],
        }


class Recognizer:
    """Digit recognition on an exported ONNX model."""

    def __init__(
        self,
        session: ort.InferenceSession,
        threshold: float = CONFIDENCE_THRESHOLD,
        metadata: dict | None = None,
        gate: ort.InferenceSession | None = None,
        gate_threshold: float = 0.5,
        screen: ort.InferenceSession | None = None,
        screen_card: dict | None = None,
        quick: bool = True,
    ):
        self.session = session
        self.quick = quick  # a large upload gets a first look at low resolution (_quick)
        self.gate = gate
        self.gate_threshold = gate_threshold
        self.screen = screen if gate is not None else None  # it stands in for both networks
        self._screen_input = self.screen.get_inputs()[0].name if self.screen is not None else ""
        card = screen_card or {}
        self.screen_thresholds = (
            float(card.get("accept_probability", 1.1)),
            float(card.get("accept_digit_score", 1.1)),
        )
        self.threshold = threshold
        self.metadata = metadata or {}
        self._input = session.get_inputs()[0].name
        # Temperature scaling fitted on a validation split (notebook 04, in the sidecar).
        self.temperature = float(self.metadata.get("calibration", {}).get("temperature", 1.0))

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        threshold: float = CONFIDENCE_THRESHOLD,
        gate: bool = True,
        screen: bool = True,
        quick: bool = True,
    ) -> Recognizer:
        """Load the committed default model, or another ``.onnx`` export (its ``.json`` sidecar
        is read when present). With ``gate``, the "is this a digit" network beside it
        (``digit_gate.onnx``, trained by notebook 04) refuses what is not a digit. With
        ``screen`` (and the gate), the small network beside them (``digit_screen.onnx``, notebook
        04, :mod:`digitlib.screen`) answers for the clear digits it is sure of, and the two
        networks read the rest; ``screen=False`` has them read every input. With ``quick`` (and
        the screen), a large upload is first looked at on a small work image
        (:func:`preprocess.quick_look`) and that reading kept when the screen is sure of it;
        ``quick=False`` prepares every upload at full work size."""
        path = Path(path) if path is not None else config.DEFAULT_ONNX
        if path.suffix != ".onnx":
            path = path.with_suffix(".onnx")
        if not path.is_file():
            raise FileNotFoundError(
                f"No exported model at {path}; run `make pipeline` to train one."
            )
        session = _session(path)
        sidecar = path.with_suffix(".json")
        metadata = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        gate_session, gate_threshold = load_gate(path.parent) if gate else (None, 0.5)
        screen_session, screen_card = (
            load_screen(path.parent, path.stem) if gate and screen else (None, None)
        )
        return cls(
            session,
            threshold,
            metadata,
            gate_session,
            gate_threshold,
            screen_session,
            screen_card,
            quick,
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

    def _screened(
        self,
        inputs: np.ndarray,
        items: list[preprocess.Preprocessed],
        screen_outputs: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Probabilities, digit scores and which of them the screen gave: the screen's where it
        is sure (``digitlib.screen.answered``), the two networks' (looked at again when the
        classifier is unsure) everywhere else. ``screen_outputs``: the screen's reading of
        ``inputs``, when it was made already."""
        screen_probabilities, screen_scores = screen_outputs or self.screen_outputs(inputs)
        sure = screen.answered(screen_probabilities, screen_scores, *self.screen_thresholds)
        probabilities, scores = screen_probabilities, screen_scores
        rest = np.flatnonzero(~sure)
        if len(rest):
            probabilities[rest] = self._look_again(
                self.probabilities(inputs[rest]), [items[index] for index in rest]
            )
            scores[rest] = self.digit_scores(inputs[rest])
        return probabilities, scores, sure

    def probabilities(self, network_inputs: np.ndarray) -> np.ndarray:
        """Run the model on (N, 28, 28) or (N, 28, 28, 1) float32 inputs in [0, 1]; calibrated
        probabilities when the sidecar carries a temperature."""
        batch = np.asarray(network_inputs, dtype=np.float32).reshape(-1, 28, 28, 1)
        # Chunks that fit in cache run about twice as fast per image as one huge batch.
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

    def _look_again(
        self, probabilities: np.ndarray, items: list[preprocess.Preprocessed]
    ) -> np.ndarray:
        """A second look at the inputs the network is unsure of (under ``LOOK_AGAIN``): a soft
        28x28 input restored in place smoothed (a 1-pixel Gaussian), an upload with the faint ink
        around its strokes (``Preprocessed.second_look``). Each one's probabilities become the
        mean of the two looks."""
        rows, again = [], []
        for index in np.flatnonzero(probabilities.max(axis=1) < LOOK_AGAIN):
            item = items[index]
            if item.resampled and item.second_look is not None:
                rows.append(index)
                again.append(item.second_look())
            elif not item.resampled and _soft(item.network_input):
                rows.append(index)
                smoothed = cv2.GaussianBlur(item.network_input, (0, 0), 1.0)
                again.append(smoothed / max(float(smoothed.max()), 1e-6))
        if not rows:
            return probabilities
        out = probabilities.copy()
        out[rows] = (probabilities[rows] + self.probabilities(np.stack(again))) / 2
        return out

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

    def _prediction(
        self,
        prepared: preprocess.Preprocessed,
        probabilities: np.ndarray,
        score: float = 1.0,
        by_screen: bool = False,
        quick_look: bool = False,
    ) -> Prediction:
        digit = int(np.argmax(probabilities))
        confidence = float(probabilities[digit])
        return Prediction(
            digit=digit,
            confidence=confidence,
            probabilities=probabilities.astype(np.float32),
            network_input=prepared.network_input,
            box=prepared.box,
            unsure=confidence < self.threshold,
            polarity=prepared.polarity,
            stages=prepared.stages,
            digit_score=float(score),
            answered_by="screen" if by_screen else "classifier",
            quick_look=quick_look,
        )

    def predict(self, image, keep_stages: bool = False) -> Prediction:
        """Recognise the single digit in ``image`` (bytes, path or numpy array)."""
        if keep_stages or not self._quick_ready:
            decoded = imageio.load(image, gray=True)
            return self._recognise(preprocess.preprocess(decoded, keep_stages))
        if isinstance(image, (str, os.PathLike)):
            image = imageio.read_file(image)  # read once, though it may be decoded twice
        return self._read_upload(image, imageio.load(image, gray=True, min_side=QUICK_DECODE))

    @property
    def _quick_ready(self) -> bool:
        return self.quick and self.screen is not None

    def _read_upload(self, image, small: imageio.DecodedImage) -> Prediction:
        """Read one upload decoded for the first look (``small``: a large JPEG decoded at an
        eighth or a quarter of its size); decoded again at full work size when that look is not
        kept."""
        answer = self._quick(small)
        if answer is not None:
            return answer
        width, height = small.original_size
        if small.format == "JPEG" and imageio.reduction(
            width, height, QUICK_DECODE
        ) != imageio.reduction(width, height):
            small = imageio.load(image, gray=True)
        return self._recognise(preprocess.preprocess(small))

    def _quick(self, decoded: imageio.DecodedImage) -> Prediction | None:
        """The screen's answer on a first, low-resolution look at a large upload
        (:func:`preprocess.quick_look`), when there is one and the screen is sure of it; else
        ``None``, and the upload is prepared at full size. (Development uploads of test digits
        of 256 px or more: 891 of 1,000 photos, 632 of 700 drawings and 629 of 700 crops answered
        here, every answer the same as the full path's; 600 held-out non-digits refused alike.)"""
        if not self._quick_ready:
            return None
        prepared = preprocess.quick_look(decoded)
        if prepared is None:
            return None
        probabilities, scores = self.screen_outputs(prepared.network_input[None])
        if not screen.answered(probabilities, scores, *self.screen_thresholds)[0]:
            return None
        return self._prediction(prepared, probabilities[0], float(scores[0]), True, True)

    def _recognise(self, prepared: preprocess.Preprocessed) -> Prediction:
        """The gate's verdict and the classifier's reading of one prepared digit, looked at
        again when the network is unsure (see ``LOOK_AGAIN``). A page whose polarity was a
        close call is read with the other polarity when the gate refuses the first reading.
        The screen answers first, when it is sure."""
        inputs = prepared.network_input[None].astype(np.float32)
        if self.screen is not None:
            probabilities, scores = self.screen_outputs(inputs)
            if screen.answered(probabilities, scores, *self.screen_thresholds)[0]:
                return self._prediction(prepared, probabilities[0], float(scores[0]), True)
        score = float(self.digit_scores(inputs)[0])
        if score < self.gate_threshold and prepared.other_polarity is not None:
            try:
                other = prepared.other_polarity()
            except NoDigitFoundError:
                other = None
            if other is not None:
                other_inputs = other.network_input[None].astype(np.float32)
                other_score = float(self.digit_scores(other_inputs)[0])
                if other_score >= OTHER_POLARITY_SCORE:
                    prepared, inputs, score = other, other_inputs, other_score
        if score < self.gate_threshold:
            raise NoDigitFoundError(NOT_A_DIGIT)
        row = self._look_again(self.probabilities(inputs), [prepared])[0]
        return self._prediction(prepared, row, score)

    def predict_many(self, images, errors: str = "raise") -> list[Prediction | ValueError]:
        """Recognise many images: 28x28 inputs classified together, in batches of ``BATCH``;
        larger uploads each read as it is prepared, as :meth:`predict` reads it.

        ``errors="raise"`` raises on the first unreadable or blank image; ``errors="return"``
        puts the :class:`InvalidImageError` or :class:`NoDigitFoundError` in that image's place.
        """
        if errors not in ("raise", "return"):
            raise ValueError("errors must be 'raise' or 'return'")
        prepared: list = []
        waiting: list[int] = []  # 28x28 inputs, restored together when all are read
        side = QUICK_DECODE if self._quick_ready else imageio.JPEG_TARGET_SIDE
        for image in images:
            try:
                if isinstance(image, (str, os.PathLike)):
                    image = imageio.read_file(image)
                decoded = imageio.load(image, gray=True, min_side=side)
                if preprocess.is_mnist_style(decoded):
                    waiting.append(len(prepared))
                    prepared.append(decoded)
                elif self._quick_ready:  # read at once, its decoded and work images not kept
                    prepared.append(self._read_upload(image, decoded))
                else:
                    prepared.append(self._recognise(preprocess.preprocess(decoded)))
            except (InvalidImageError, NoDigitFoundError) as error:
                if errors == "raise":
                    _settle(prepared, waiting, errors)  # an earlier image's error comes first
                    raise
                prepared.append(error)
        early = self._settle_screened(prepared, waiting, errors)
        good = [item for item in prepared if isinstance(item, preprocess.Preprocessed)]
        inputs = (
            np.stack([item.network_input for item in good]).astype(np.float32)
            if good
            else np.zeros((0, 28, 28), np.float32)
        )
        probabilities, scores, sure = self._screened(inputs, good, early)
        readings = iter(zip(probabilities, scores, sure, strict=True))
        results: list[Prediction | ValueError] = []
        for item in prepared:
            if not isinstance(item, preprocess.Preprocessed):  # an error, or an upload read
                results.append(item)
                continue
            row, score, by_screen = next(readings)
            if score < self.gate_threshold:
                if errors == "raise":
                    raise NoDigitFoundError(NOT_A_DIGIT)
                results.append(NoDigitFoundError(NOT_A_DIGIT))
            else:
                results.append(self._prediction(item, row, score, by_screen))
        return results

    def _settle_screened(
        self, prepared: list, waiting: list[int], errors: str
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """``_settle`` a chunk (``RESTORE_CHUNK``) at a time, the screen reading each restored
        chunk on a second thread while the next is restored; the screen's outputs for the
        restored inputs, in order (``None`` without a screen: nothing to overlap)."""
        if self.screen is None:
            _settle(prepared, waiting, errors)
            return None
        readings = []
        with ThreadPoolExecutor(1) as pool:
            for start in range(0, len(waiting), RESTORE_CHUNK):
                chunk = waiting[start : start + RESTORE_CHUNK]
                _settle(prepared, list(chunk), errors)  # it empties the list it is given
                inputs = [
                    prepared[index].network_input
                    for index in chunk
                    if isinstance(prepared[index], preprocess.Preprocessed)
                ]
                if inputs:
                    readings.append(
                        pool.submit(self.screen_outputs, np.stack(inputs).astype(np.float32))
                    )
        waiting.clear()
        outputs = [reading.result() for reading in readings]
        if not outputs:
            return np.zeros((0, 10), np.float32), np.zeros(0, np.float32)
        return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])

    def number_windows(self, image) -> list[preprocess.Preprocessed]:
        """The digits of a written number, left to right, each as the network sees it (its box
        in the original image), cut where this model and the gate read them best, before their
        final reading. (An image passed already decoded should be decoded with
        ``min_side=NUMBER_SIDE``.)"""
        decoded = imageio.load(image, gray=True, min_side=NUMBER_SIDE)
        ink = preprocess.ink_image(decoded, work_side=NUMBER_SIDE)
        back = 1.0 / (ink.work_scale * decoded.scale)
        return [
            preprocess.Preprocessed(
                network_input,
                region.scaled(back),
                ink.polarity,
                {},
                second_look=functools.partial(preprocess.with_faint_ink, ink.ink, region),
            )
            for region, network_input in segment.find_digits(
                ink, self.probabilities, self.digit_scores
            )
        ]

    def read_number(self, image) -> NumberReading:
        """Read a written number (several digits on one line) left to right. (An image passed
        already decoded should be decoded with ``min_side=NUMBER_SIDE``.)"""
        prepared = self.number_windows(image)
        inputs = np.stack([item.network_input for item in prepared])
        probabilities = self._look_again(self.probabilities(inputs), prepared)
        digits = [
            self._prediction(item, row) for item, row in zip(prepared, probabilities, strict=True)
        ]
        return NumberReading(text="".join(str(d.digit) for d in digits), digits=digits)


def _session(path: Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.inter_op_num_threads = 1  # a chain of layers: nothing to run side by side
    options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, one per core
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_gate(
    directory: str | Path = config.DEFAULT_ONNX.parent,
) -> tuple[ort.InferenceSession | None, float]:
    """The "is this a digit" network in ``directory`` (``digit_gate.onnx``) and its threshold
    (from its card, else 0.5); ``(None, 0.5)`` when there is none."""
    gate_path = Path(directory) / (GATE_NAME + ".onnx")
    if not gate_path.is_file():
        return None, 0.5
    card = gate_path.with_suffix(".json")
    threshold = float(json.loads(card.read_text())["threshold"]) if card.is_file() else 0.5
    return _session(gate_path), threshold


def load_screen(
    directory: str | Path = config.DEFAULT_ONNX.parent,
    classifier: str = config.DEFAULT_ONNX.stem,
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
    # One thread: a network this small gains little from two (one image: 85 us against 125),
    # and predict_many restores the next chunk on the other core while it reads.
    return _session(path, threads=1), card


def _settle(prepared: list, waiting: list[int], errors: str) -> None:
    """Restore the 28x28 inputs waiting in ``prepared`` (decoded images at the ``waiting``
    places) all at once, in place; with ``errors="raise"``, raise the first one's error."""
    restored = preprocess.preprocess_many([prepared[index] for index in waiting])
    for index, item in zip(waiting, restored, strict=True):
        prepared[index] = item
    waiting.clear()
    if errors == "raise":
        failed = next((item for item in restored if isinstance(item, ValueError)), None)
        if failed is not None:
            raise failed


def _soft(network_input: np.ndarray) -> bool:
    """Little of the ink at full strength: a blurred or frosted digit, not a sharp one."""
    inked = np.count_nonzero(network_input > 0.1)
    return inked > 0 and np.count_nonzero(network_input > 0.9) < SOFT_INK * inked
