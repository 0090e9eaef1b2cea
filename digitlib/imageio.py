"""Stage 1, decode: safe image decoding: bytes, a path or a numpy array in; a clean 8-bit image out.

The size is read from the file's header before anything is decoded, so a small file that would
decode to gigabytes (a decompression bomb) is refused without being decoded. Alpha is
composited onto white (and kept aside: for a drawing on a transparent background the alpha
channel *is* the ink). JPEG EXIF orientation is applied; large JPEGs are decoded at reduced size.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlib.errors import InvalidImageError
from digitlib.tuning import TUNING

MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 50_000_000
# Photos are decoded at 1/2, 1/4 or 1/8 size as long as the long side stays at least this big
# (callers that need more pixels, such as reading a whole number, ask for more: ``min_side``).
JPEG_TARGET_SIDE = TUNING.looks.full.jpeg_side  # the full look's work size: no need for more
SUPPORTED = "PNG, JPEG, WebP, BMP, GIF or TIFF"

# OpenCV reads this once, at its first import: a second line of defence behind the header check.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
import cv2  # noqa: E402


@dataclass
class DecodedImage:
    """A decoded image: ``pixels`` is uint8 gray (H, W) or BGR (H, W, 3) with alpha on white."""

    pixels: np.ndarray
    format: str  # "PNG", "JPEG", ... or "array"
    original_size: tuple[int, int]  # (width, height) as stored in the file
    alpha: np.ndarray | None = None  # uint8 (H, W) when the image had a meaningful alpha channel

    @property
    def scale(self) -> float:
        """Decoded width over stored width (below 1 when a large JPEG was decoded reduced)."""
        return self.pixels.shape[1] / self.original_size[0]


def _mebibytes(size: int) -> str:
    """A file size as the limit is set: in MiB (2**20 bytes), which is what the figure is."""
    return f"{size / 1024 / 1024:.1f} MiB"


def size_sentence(size: int) -> str:
    """What a user is told about a file over :data:`MAX_BYTES`."""
    return f"The file is {_mebibytes(size)}; the limit is {_mebibytes(MAX_BYTES)}."


def _check_bytes(size: int) -> None:
    if size > MAX_BYTES:
        raise InvalidImageError(size_sentence(size))


def _png_size(data: bytes):
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _gif_size(data: bytes):
    return struct.unpack("<HH", data[6:10]) if len(data) >= 10 else None


def _bmp_size(data: bytes):
    if len(data) < 26:
        return None
    header = struct.unpack("<I", data[14:18])[0]
    if header == 12:
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)


def _webp_size(data: bytes):
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = struct.unpack("<I", data[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _jpeg_size(data: bytes):
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD9)):  # markers without a length
            index += 2
            continue
        length = struct.unpack(">H", data[index + 2 : index + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return width, height
        index += 2 + length
    return None


def _tiff_size(data: bytes):
    endian = "<" if data[:2] == b"II" else ">"
    try:
        offset = struct.unpack(endian + "I", data[4:8])[0]
        count = struct.unpack(endian + "H", data[offset : offset + 2])[0]
        found = {}
        for entry in range(count):
            start = offset + 2 + 12 * entry
            tag, kind = struct.unpack(endian + "HH", data[start : start + 4])
            if tag in (256, 257):
                code = "H" if kind == 3 else "I"
                found[tag] = struct.unpack(
                    endian + code, data[start + 8 : start + 8 + struct.calcsize(code)]
                )[0]
        return found[256], found[257]
    except (struct.error, KeyError):
        return None


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG", _png_size),
    (b"\xff\xd8\xff", "JPEG", _jpeg_size),
    (b"GIF87a", "GIF", _gif_size),
    (b"GIF89a", "GIF", _gif_size),
    (b"BM", "BMP", _bmp_size),
    (b"II*\x00", "TIFF", _tiff_size),
    (b"MM\x00*", "TIFF", _tiff_size),
)


def _other_kind(data: bytes) -> str:
    """Name a non-image file for the error message."""
    head = data[:1024].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "a PDF document"
    if b"<svg" in head:
        return "an SVG drawing (vector graphics)"
    if head.startswith((b"<!doctype html", b"<html")):
        return "a web page (HTML)"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIC/AVIF photo"
    if data[:4] == b"PK\x03\x04":
        return "a ZIP archive (or an Office document)"
    try:
        data[:4096].decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "of a kind we do not recognise"


def sniff(data: bytes) -> tuple[str, tuple[int, int] | None]:
    """Return the format and (width, height) read from the header, without decoding."""
    for signature, name, size in _SIGNATURES:
        if data.startswith(signature):
            return name, size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP", _webp_size(data)
    raise InvalidImageError(
        f"This file is {_other_kind(data)}, not an image we can read. Upload a {SUPPORTED} image."
    )


def _check_size(width: int, height: int, kind: str) -> None:
    if width <= 0 or height <= 0:
        raise InvalidImageError(
            f"This {kind} image says it is {width} x {height} pixels, which is broken."
        )
    if width * height > MAX_PIXELS:
        raise InvalidImageError(
            f"This {kind} image is {width:,} x {height:,} pixels "
            f"({width * height / 1e6:.1f} megapixels); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels. Please upload a smaller image."
        )


def _looks_truncated(data: bytes, kind: str) -> bool:
    if kind == "PNG":
        return b"IEND" not in data[-64:]
    if kind == "JPEG":
        return b"\xff\xd9" not in data[-4096:]
    return False


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    if pixels.dtype == bool:
        return pixels.astype(np.uint8) * 255
    values = pixels.astype(np.float64)
    if np.issubdtype(pixels.dtype, np.floating):
        if not np.all(np.isfinite(values)):
            raise InvalidImageError("This image holds NaN or infinite values.")
        if values.max(initial=0) <= 1.0:
            values = values * 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _flatten_alpha(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Composite BGRA onto white; return the result and the alpha if it carries anything."""
    if pixels.ndim == 2 or pixels.shape[2] < 4:
        return pixels, None
    alpha = pixels[:, :, 3]
    colour = pixels[:, :, :3]
    if alpha.min() == 255:
        return np.ascontiguousarray(colour), None
    weight = alpha.astype(np.float32)[:, :, None] / 255.0
    flat = colour.astype(np.float32) * weight + 255.0 * (1.0 - weight)
    return np.rint(flat).astype(np.uint8), np.ascontiguousarray(alpha)


def _normalise_channels(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return pixels[:, :, 0]
    if pixels.ndim == 3 and pixels.shape[2] == 2:  # gray + alpha
        gray, alpha = pixels[:, :, 0], pixels[:, :, 1]
        return np.dstack([gray, gray, gray, alpha])
    return pixels


def _rotated_quarter_turn(shape: tuple[int, ...], width: int, height: int) -> bool:
    decoded_aspect = shape[1] / shape[0]
    return width != height and abs(decoded_aspect - height / width) < abs(
        decoded_aspect - width / height
    )


_REDUCED = {  # JPEG decoding at 1/factor of the size, in colour (False) or luminance only
    False: {
        8: cv2.IMREAD_REDUCED_COLOR_8,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        2: cv2.IMREAD_REDUCED_COLOR_2,
    },
    True: {
        8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
        4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
        2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    },
}


def reduction(width: int, height: int, min_side: int = JPEG_TARGET_SIDE) -> int:
    """The factor (1, 2, 4 or 8) by which a JPEG of this size is decoded reduced: the largest
    that keeps its long side at least ``min_side``."""
    for factor in (8, 4, 2):
        if max(width, height) // factor >= min_side:
            return factor
    return 1


def decode_bytes(data: bytes, gray: bool = False, min_side: int = JPEG_TARGET_SIDE) -> DecodedImage:
    """Decode an encoded image after checking its size; raise :class:`InvalidImageError`.

    ``gray`` decodes a JPEG's luminance only (what recognition uses), skipping the colour
    conversion: a large photo decodes faster. Other formats keep their channels and alpha.
    A JPEG is decoded at 1/2, 1/4 or 1/8 size when its long side stays at least ``min_side``."""
    if len(data) == 0:
        raise InvalidImageError("The file is empty.")
    _check_bytes(len(data))
    kind, size = sniff(data)
    if size is None:
        raise InvalidImageError(
            f"This {kind} file is truncated or damaged: its header cannot be read."
        )
    width, height = size
    _check_size(width, height, kind)
    if _looks_truncated(data, kind):
        raise InvalidImageError(f"This {kind} file is truncated: it ends before the image does.")

    buffer = np.frombuffer(data, dtype=np.uint8)
    if kind == "JPEG":
        # Both apply EXIF orientation.
        factor = reduction(width, height, min_side)
        flags = (
            _REDUCED[gray][factor]
            if factor > 1
            else (cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
        )
    else:
        flags = cv2.IMREAD_UNCHANGED  # keeps alpha and 16-bit depth
    try:
        pixels = cv2.imdecode(buffer, flags)
    except cv2.error:
        pixels = None
    if pixels is None or pixels.size == 0:
        raise InvalidImageError(f"This {kind} file is damaged and cannot be decoded.")
    pixels = _normalise_channels(_to_uint8(pixels))
    pixels, alpha = _flatten_alpha(pixels)
    if kind == "JPEG" and _rotated_quarter_turn(pixels.shape, width, height):
        width, height = height, width  # EXIF orientation turned the picture on its side
    return DecodedImage(pixels=pixels, format=kind, original_size=(width, height), alpha=alpha)


def decode_array(array: np.ndarray) -> DecodedImage:
    """Accept a gray (H, W), (H, W, 1), colour (H, W, 3, BGR or RGB) or BGRA/RGBA array."""
    array = np.asarray(array)
    if (
        array.dtype == object
        or array.ndim not in (2, 3)
        or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4))
    ):
        raise InvalidImageError(
            "An image array must be (height, width) or (height, width, 1-4 channels); "
            f"got shape {array.shape}."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidImageError("The image array is empty.")
    _check_size(array.shape[1], array.shape[0], "array")
    pixels = _normalise_channels(_to_uint8(array))
    pixels, alpha = _flatten_alpha(pixels)
    return DecodedImage(
        pixels=np.ascontiguousarray(pixels),
        format="array",
        original_size=(array.shape[1], array.shape[0]),
        alpha=alpha,
    )


def read_file(path: str | os.PathLike) -> bytes:
    """A file's bytes, its size checked before a byte of it is read."""
    path = Path(path)
    if not path.is_file():
        raise InvalidImageError(f"There is no file at {path}.")
    _check_bytes(path.stat().st_size)
    return path.read_bytes()


def load(
    image: bytes | bytearray | memoryview | str | os.PathLike | np.ndarray | DecodedImage,
    gray: bool = False,
    min_side: int = JPEG_TARGET_SIDE,
) -> DecodedImage:
    """Decode bytes, a file path or a numpy array into a :class:`DecodedImage` (one already
    decoded is returned as it is, so a caller that needs the pixels decodes only once).
    ``gray`` and ``min_side``: see :func:`decode_bytes`."""
    if isinstance(image, DecodedImage):
        return image
    if isinstance(image, np.ndarray):
        return decode_array(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_bytes(bytes(image), gray, min_side)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return decode_bytes(read_file(path), gray, min_side)
    raise InvalidImageError(
        f"Expected image bytes, a file path or a numpy array, not {type(image).__name__}."
    )
