"""The serving API: ``Recognizer.load().predict(image)``. ONNX Runtime, never TensorFlow.

``image`` is bytes, a path or a numpy array. Unreadable input raises
:class:`~digitlib.errors.InvalidImageError`; an image without a digit raises
:class:`~digitlib.errors.NoDigitFoundError`. Both carry a sentence meant for the user.

The recogniser decodes (:mod:`digitlib.imageio`), prepares (:mod:`digitlib.preprocess`) and
hands what it prepared to the decision cascade it is built on (:mod:`digitlib.cascade`), which
runs the networks (:mod:`digitlib.networks`).
"""

from __future__ import annotations

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from digitlib import config, imageio, preprocess, segment
from digitlib.cascade import NOT_A_DIGIT, Cascade
from digitlib.errors import InvalidImageError, NoDigitFoundError
from digitlib.networks import BATCH, load_gate, load_screen, session
from digitlib.prediction import NumberReading, Prediction
from digitlib.tuning import TUNING, Tuning

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "NOT_A_DIGIT",
    "NUMBER_SIDE",
    "SEVERAL_DIGITS",
    "NumberReading",
    "Prediction",
    "Recognizer",
    "load_gate",
    "load_screen",
]

# Said instead of "not a digit" when the refused image reads surely as a number (see
# Recognizer.several_digits). Photos of 4-digit numbers refused as one digit: 30 of 32 got it
# with the right number; held-out photos of letters and scribbles refused: 9-16 of 100 got it
# too, hence "may be" and the number shown for the user to judge.
SEVERAL_DIGITS = (
    "This is not one digit; it may be a number of several ({text}?). Read it as a whole "
    "number: Whole number on the page, `digitlib read-number` on the command line."
)
CONFIDENCE_THRESHOLD = TUNING.cascade.confidence_threshold  # under it an answer is "unsure"
NUMBER_SIDE = TUNING.looks.number.jpeg_side  # a number is decoded at least this large
# predict_many restores this many 28x28 inputs at a time, the screen reading each chunk on a
# second thread while the next is restored (ONNX Runtime lets go of Python's lock).
RESTORE_CHUNK = 4 * BATCH


class Recognizer(Cascade):
    """Digit recognition on an exported ONNX model."""

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        threshold: float | None = None,
        gate: bool = True,
        screen: bool = True,
        quick: bool = True,
        tuning: Tuning = TUNING,
        arena: bool = True,
    ) -> Recognizer:
        """Load the committed default model, or another ``.onnx`` export (its ``.json`` sidecar
        is read when present). With ``gate``, the "is this a digit" network beside it
        (``digit_gate.onnx``, trained by notebook 04) refuses what is not a digit. With
        ``screen`` (and the gate), the small network beside them (``digit_screen.onnx``, notebook
        04, :mod:`digitlib.screen`) answers for the clear digits it is sure of, and the two
        networks read the rest; ``screen=False`` has them read every input. With ``quick`` (and
        the screen), a large upload is first looked at on a small work image
        (:func:`preprocess.quick_look`) and that reading kept when the screen is sure of it;
        ``quick=False`` prepares every upload at full work size. ``threshold``: the confidence
        under which an answer is flagged unsure (default: ``tuning``'s). ``arena=False``: each
        run's memory is given back (:func:`networks.session`), for a long-lived, mostly idle
        process such as a dashboard kernel."""
        path = Path(path) if path is not None else config.DEFAULT_ONNX
        if path.suffix != ".onnx":
            path = path.with_suffix(".onnx")
        if not path.is_file():
            raise FileNotFoundError(
                f"No exported model at {path}; run `make pipeline` to train one."
            )
        sidecar = path.with_suffix(".json")
        metadata = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
        gate_session, gate_threshold = load_gate(path.parent, arena) if gate else (None, 0.5)
        screen_session, screen_card = (
            load_screen(path.parent, path.stem, arena) if gate and screen else (None, None)
        )
        recognizer = cls(
            session(path, arena=arena),
            threshold,
            metadata,
            gate_session,
            gate_threshold,
            screen_session,
            screen_card,
            quick,
            tuning,
        )
        recognizer.model_path = path  # the file that answers (a correction names its SHA-256)
        return recognizer

    def predict(self, image, keep_stages: bool = False) -> Prediction:
        """Recognise the single digit in ``image`` (bytes, path or numpy array)."""
        if keep_stages or not self.first_looks:
            decoded = imageio.load(image, gray=True)
            return self.decide_one(preprocess.preprocess(decoded, keep_stages))
        if isinstance(image, (str, os.PathLike)):
            image = imageio.read_file(image)  # read once, though it may be decoded twice
        side = self.tuning.looks.quick.jpeg_side
        return self.read_upload(image, imageio.load(image, gray=True, min_side=side))

    def predict_many(self, images, errors: str = "raise") -> list[Prediction | ValueError]:
        """Recognise many images: 28x28 inputs restored and read together, in batches of
        ``BATCH``; larger uploads each read as it is prepared, as :meth:`predict` reads it.

        ``errors="raise"`` raises on the first unreadable or blank image; ``errors="return"``
        puts the :class:`InvalidImageError` or :class:`NoDigitFoundError` in that image's place.
        """
        if errors not in ("raise", "return"):
            raise ValueError("errors must be 'raise' or 'return'")
        prepared: list = []
        waiting: list[int] = []  # 28x28 inputs, restored together when all are read
        looks = self.tuning.looks
        side = looks.quick.jpeg_side if self.first_looks else looks.full.jpeg_side
        for image in images:
            try:
                if isinstance(image, (str, os.PathLike)):
                    image = imageio.read_file(image)
                decoded = imageio.load(image, gray=True, min_side=side)
                if preprocess.is_mnist_style(decoded):
                    waiting.append(len(prepared))
                    prepared.append(decoded)
                elif self.first_looks:  # read at once, its decoded and work images not kept
                    prepared.append(self.read_upload(image, decoded))
                else:
                    prepared.append(self.decide_one(preprocess.preprocess(decoded)))
            except (InvalidImageError, NoDigitFoundError) as error:
                if errors == "raise":
                    _settle(prepared, waiting, errors)  # an earlier image's error comes first
                    raise
                prepared.append(error)
        early = self._settle_screened(prepared, waiting, errors)
        places = [i for i, item in enumerate(prepared) if isinstance(item, preprocess.Preprocessed)]
        for place, answer in zip(
            places, self.decide([prepared[i] for i in places], early), strict=True
        ):
            if errors == "raise" and isinstance(answer, NoDigitFoundError):
                raise answer
            prepared[place] = answer
        return prepared

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
        return self._number_line(image)[0]

    def _number_line(self, image) -> tuple[list[preprocess.Preprocessed], segment.Line]:
        """:meth:`number_windows`, and the line as :func:`segment.read_line` cut it."""
        look = self.tuning.looks.number
        decoded = imageio.load(image, gray=True, min_side=look.jpeg_side)
        ink = preprocess.read_page(decoded, look)
        back = 1.0 / (ink.work_scale * decoded.scale)
        line = segment.read_line(ink, self.probabilities, self.digit_scores)
        windows = [
            preprocess.Preprocessed(
                network_input,
                region.scaled(back),
                ink.polarity,
                {},
                second_look=functools.partial(preprocess.with_faint_ink, ink.ink, region),
            )
            for region, network_input in line.digits
        ]
        return windows, line

    def several_digits(self, image) -> str | None:
        """For an image refused as one digit: the number it holds, when it reads surely as one
        (two digits or more, none unsure), else ``None``. (``image``: bytes, a path or an
        array, not decoded yet: a number is decoded at more pixels.)"""
        try:
            reading = self.read_number(image)
        except (InvalidImageError, NoDigitFoundError):
            return None
        if len(reading.digits) < 2 or reading.unsure:
            return None
        # Each piece a digit by the gate too: a word or a scribble cut into pieces is not.
        scores = self.digit_scores(np.stack([digit.network_input for digit in reading.digits]))
        return reading.text if bool(np.all(scores >= self.gate_threshold)) else None

    def single_digit_refusal(self, image, error: NoDigitFoundError) -> NoDigitFoundError:
        """What to tell a user whose ``image`` was refused as one digit: the several-digits
        sentence, with the number, when the refusal was "not a digit" and the image reads surely
        as a number (:meth:`several_digits`); else the refusal itself."""
        text = self.several_digits(image) if str(error) == NOT_A_DIGIT else None
        return NoDigitFoundError(SEVERAL_DIGITS.format(text=text)) if text else error

    def read_number(self, image) -> NumberReading:
        """Read a written number (several digits on one line) left to right. (An image passed
        already decoded should be decoded with ``min_side=NUMBER_SIDE``.)"""
        windows, line = self._number_line(image)
        digits = self.read_digits(windows)
        return NumberReading(
            text="".join(str(d.digit) for d in digits),
            digits=digits,
            doubts=line.doubts([d.confidence for d in digits]),
        )


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
