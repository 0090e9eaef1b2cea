"""The two exceptions a user of the serving API can meet. Each carries a plain sentence."""

from __future__ import annotations


class InvalidImageError(ValueError):
    """The input is not an image we can read (empty, broken, too large, or another kind of file)."""


class NoDigitFoundError(ValueError):
    """The image decoded fine but holds nothing that looks like a digit (blank or featureless)."""
