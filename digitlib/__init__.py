"""digitlib: handwritten digit recognition trained on MNIST.

Training lives in :mod:`digitlib.train` (Keras); nothing imported here pulls in TensorFlow,
so the serving path stays light.
"""

__version__ = "0.1.0"
