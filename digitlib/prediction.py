"""What the recogniser answers: a :class:`Prediction` per digit, a :class:`NumberReading` per
number."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    # Why the cutting into digits is doubtful, in words (segment.Line.doubts): another cut
    # reads almost as well, a mark was left out, a digit at the edge may be cut off.
    doubts: list[str] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        """The weakest digit's confidence: a number is only as sure as that."""
        return min((d.confidence for d in self.digits), default=0.0)

    @property
    def unsure(self) -> bool:
        """True when any digit is unsure, or the cutting into digits is doubtful."""
        return bool(self.doubts) or any(d.unsure for d in self.digits)

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "text": self.text,
            "confidence": round(self.confidence, 6),
            "unsure": self.unsure,
            "doubts": list(self.doubts),
            "digits": [d.to_dict() for d in self.digits],
        }
