"""The decision cascade: every way an answer can be reached, in one place.

An upload (:meth:`Cascade.read_upload`), or prepared inputs one or many (:meth:`Cascade.decide`),
meets these steps in order; the first that answers ends it:

0. **First look** (a large upload only): the stages at a small work size
   (:func:`digitlib.preprocess.quick_look`); the screen's answer is kept when it is sure.
   Otherwise the full look prepares the upload, and:
1. **Screen**: sure of the digit and that it is one (its card's thresholds): its answer.
2. **Gate** on the rest: the probability that this is a digit at all, judged on the input it
   learnt from (``Preprocessed.gate_view``: for the tight stage's grey-level crop, the same
   crop as the page stage normalises it, on which the screen's digit score is read too).
3. **Other polarity**: a page whose polarity was a close call and which the gate refused is
   prepared again with the other polarity, and that reading taken when the gate is at least
   ``other_polarity_score`` sure of it.
4. **Refusal**: still under the gate's threshold: :data:`NOT_A_DIGIT`.
5. **Classifier**, and a **second look** at what it is unsure of (under ``look_again``): an upload
   with the faint ink around its strokes kept, a soft 28x28 input smoothed; the two looks'
   probabilities averaged.
6. **Unsure**: the answer is flagged when its probability is under the confidence threshold.

A number's digits (:meth:`Cascade.read_digits`) were cut where the classifier and the gate read
them best (:mod:`digitlib.segment`): each is read by steps 5 and 6, step 6 with the numbers' own,
stricter threshold. Every number the steps
compare with is in :mod:`digitlib.tuning`.
"""

from __future__ import annotations

import cv2
import numpy as np

from digitlib import imageio, preprocess
from digitlib.errors import NoDigitFoundError
from digitlib.networks import Networks
from digitlib.prediction import Prediction
from digitlib.preprocess import Preprocessed
from digitlib.tuning import TUNING, Tuning

NOT_A_DIGIT = (
    "This does not look like a digit: it may be a letter, a scribble or a drawing. "
    "Upload an image of a handwritten digit."
)


class Cascade(Networks):
    """The networks, and the decisions made on their readings."""

    def __init__(
        self,
        session,
        threshold: float | None = None,
        metadata: dict | None = None,
        gate=None,
        gate_threshold: float = 0.5,
        screen=None,
        screen_card: dict | None = None,
        quick: bool = True,
        tuning: Tuning = TUNING,
    ):
        super().__init__(session, metadata, gate, gate_threshold, screen, screen_card)
        self.tuning = tuning
        # An answer under this probability is flagged unsure (step 6).
        self.threshold = tuning.cascade.confidence_threshold if threshold is None else threshold
        self.quick = quick  # a large upload gets a first look at low resolution (step 0)

    @property
    def first_looks(self) -> bool:
        """Whether a large upload gets a first look: asked for, and a screen to answer it."""
        return self.quick and self.screen is not None

    def read_upload(self, image, decoded: imageio.DecodedImage) -> Prediction:
        """One upload (``image``: its bytes or array), ``decoded`` for the first look (a large
        JPEG at an eighth or a quarter of its size), through every step."""
        first = preprocess.quick_look(decoded, self.tuning.looks.quick)  # step 0
        if first is not None:
            probabilities, scores = self.screen_outputs(first.network_input[None])
            if self.screen_sure(probabilities, scores)[0]:
                return self._prediction(first, probabilities[0], scores[0], "screen", True)
        width, height = decoded.original_size
        if decoded.format == "JPEG" and imageio.reduction(
            width, height, self.tuning.looks.quick.jpeg_side
        ) != imageio.reduction(width, height, self.tuning.looks.full.jpeg_side):
            decoded = imageio.load(image, gray=True)  # decoded again at the full look's size
        return self.decide_one(preprocess.preprocess(decoded))

    def decide_one(self, prepared: Preprocessed) -> Prediction:
        """:meth:`decide` for one prepared input; raises the refusal."""
        answer = self.decide([prepared])[0]
        if isinstance(answer, NoDigitFoundError):
            raise answer
        return answer

    def decide(
        self,
        items: list[Preprocessed],
        screen_outputs: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[Prediction | NoDigitFoundError]:
        """Steps 1 to 6 for prepared inputs, in order; each item's answer, or its refusal.
        ``screen_outputs``: the screen's reading of the items, when it was made already."""
        steps = self.tuning.cascade
        inputs = _stacked(items)
        probabilities, scores = screen_outputs or self.screen_outputs(inputs)  # 1. screen
        # An item the gate judges on another input (the tight stage's): the screen's digit
        # score on that input too, since the screen learnt the gate's answers on the gate's.
        apart = [index for index, item in enumerate(items) if item.gate_input is not None]
        views = inputs  # what the gate judges (Preprocessed.gate_view)
        if apart:
            views = inputs.copy()
            views[apart] = np.stack([items[i].gate_input for i in apart])
            if self.screen is not None:
                scores = scores.copy()
                scores[apart] = self.screen_outputs(views[apart])[1]
        answered_by = np.where(self.screen_sure(probabilities, scores), "screen", "classifier")
        scores = scores.astype(np.float64)  # compared with the thresholds as they are written
        rest = np.flatnonzero(answered_by == "classifier")
        items = list(items)
        if len(rest):
            scores[rest] = self.digit_scores(views[rest])  # 2. gate
            for index in rest:  # 3. other polarity
                if scores[index] < self.gate_threshold and items[index].other_polarity:
                    other = _other_polarity(items[index])
                    if other is not None:
                        other_score = float(self.digit_scores(other.network_input[None])[0])
                        if other_score >= steps.other_polarity_score:
                            items[index], scores[index] = other, other_score
                            inputs[index] = other.network_input
            accepted = rest[scores[rest] >= self.gate_threshold]  # 4. refusal for the others
            if len(accepted):  # 5. classifier, and a second look at what it is unsure of
                probabilities[accepted] = self._look_again(
                    self.probabilities(inputs[accepted]), [items[i] for i in accepted]
                )
        return [
            self._prediction(item, row, score, by)  # 6. unsure flag
            if score >= self.gate_threshold or by == "screen"
            else NoDigitFoundError(NOT_A_DIGIT)
            for item, row, score, by in zip(items, probabilities, scores, answered_by, strict=True)
        ]

    def read_digits(self, windows: list[Preprocessed]) -> list[Prediction]:
        """A number's digits, cut already: steps 5 and 6 for each, a digit flagged unsure under
        the numbers' own confidence threshold (``TUNING.numbers.digit_confidence``): a cut
        digit's window is less clean than an upload of one digit, and one misread digit makes
        the whole number wrong."""
        probabilities = self._look_again(self.probabilities(_stacked(windows)), windows)
        threshold = max(self.threshold, self.tuning.numbers.digit_confidence)
        return [
            self._prediction(item, row, threshold=threshold)
            for item, row in zip(windows, probabilities, strict=True)
        ]

    def _look_again(self, probabilities: np.ndarray, items: list[Preprocessed]) -> np.ndarray:
        """Step 5's second look at the inputs the classifier is unsure of (under
        ``look_again``): a soft 28x28 input restored in place smoothed (a 1-pixel Gaussian), an
        upload with the faint ink around its strokes (``Preprocessed.second_look``). Each one's
        probabilities become the mean of the two looks."""
        rows, again = [], []
        for index in np.flatnonzero(probabilities.max(axis=1) < self.tuning.cascade.look_again):
            item = items[index]
            if item.resampled and item.second_look is not None:
                rows.append(index)
                again.append(item.second_look())
            elif not item.resampled and self._soft(item.network_input):
                rows.append(index)
                smoothed = cv2.GaussianBlur(item.network_input, (0, 0), 1.0)
                again.append(smoothed / max(float(smoothed.max()), 1e-6))
        if not rows:
            return probabilities
        out = probabilities.copy()
        out[rows] = (probabilities[rows] + self.probabilities(np.stack(again))) / 2
        return out

    def _soft(self, network_input: np.ndarray) -> bool:
        """Little of the ink at full strength: a blurred or frosted digit, not a sharp one."""
        inked = np.count_nonzero(network_input > 0.1)
        soft_ink = self.tuning.cascade.soft_ink
        return inked > 0 and np.count_nonzero(network_input > 0.9) < soft_ink * inked

    def _prediction(
        self,
        prepared: Preprocessed,
        probabilities: np.ndarray,
        score: float = 1.0,
        answered_by: str = "classifier",
        quick_look: bool = False,
        threshold: float | None = None,
    ) -> Prediction:
        digit = int(np.argmax(probabilities))
        confidence = float(probabilities[digit])
        return Prediction(
            digit=digit,
            confidence=confidence,
            probabilities=probabilities.astype(np.float32),
            network_input=prepared.network_input,
            box=prepared.box,
            unsure=confidence < (self.threshold if threshold is None else threshold),
            polarity=prepared.polarity,
            stages=prepared.stages,
            digit_score=float(score),
            answered_by=str(answered_by),
            quick_look=quick_look,
        )


def _stacked(items: list[Preprocessed]) -> np.ndarray:
    """The items' network inputs as one float32 (N, 28, 28) batch."""
    if not items:
        return np.zeros((0, 28, 28), np.float32)
    return np.stack([item.network_input for item in items]).astype(np.float32)


def _other_polarity(item: Preprocessed) -> Preprocessed | None:
    """The item prepared with the other polarity, or ``None`` when that finds no digit."""
    try:
        return item.other_polarity()
    except NoDigitFoundError:
        return None
