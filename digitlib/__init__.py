"""digitlib: handwritten digit recognition trained on MNIST.

``from digitlib import Recognizer`` is the serving API (ONNX Runtime and OpenCV, no TensorFlow).
Training lives in :mod:`digitlib.train`. Names are imported lazily, so ``import digitlib`` is
cheap and pulls in neither TensorFlow nor ONNX Runtime.
"""

from digitlib.errors import InvalidImageError, NoDigitFoundError

__version__ = "0.1.0"
__all__ = ["InvalidImageError", "NoDigitFoundError", "NumberReading", "Prediction", "Recognizer"]

_LAZY = {"Recognizer", "Prediction", "NumberReading", "CONFIDENCE_THRESHOLD"}


def __getattr__(name: str):
    if name in _LAZY:
        from digitlib import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module 'digitlib' has no attribute {name!r}")
