"""Safe decoding: every format users upload, and every broken or hostile file refused clearly."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from digitlib import imageio
from digitlib.errors import InvalidImageError


def _digit_rgb(height=60, width=80):
    image = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(
        image,
        "7",
        (width // 4, int(height * 0.8)),
        cv2.FONT_HERSHEY_SIMPLEX,
        height / 40,
        (20, 20, 20),
        3,
    )
    return image


def _pil_bytes(array, fmt, **options):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_with_header(width, height, body=b""):
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_common_formats_decode_to_the_same_picture(fmt):
    rgb = _digit_rgb()
    decoded = imageio.load(_pil_bytes(rgb, fmt))
    assert decoded.format.upper() == fmt.replace("WEBP", "WEBP")
    assert decoded.original_size == (80, 60)
    gray = (
        cv2.cvtColor(decoded.pixels, cv2.COLOR_BGR2GRAY)
        if decoded.pixels.ndim == 3
        else decoded.pixels
    )
    expected = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert np.abs(gray.astype(int) - expected).mean() < 8  # lossy formats differ a little


def test_png_bit_depths_palette_and_gray_alpha():
    gray16 = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    ok, buffer = cv2.imencode(".png", gray16)
    assert ok
    decoded = imageio.load(buffer.tobytes())
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.max() == 255

    palette = Image.fromarray(_digit_rgb()).convert("P", palette=Image.ADAPTIVE, colors=4)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    assert imageio.load(buffer.getvalue()).pixels.shape[:2] == (60, 80)

    gray_alpha = np.zeros((30, 40, 2), np.uint8)
    gray_alpha[10:20, 10:30] = (0, 255)  # a black bar drawn on a transparent background
    decoded = imageio.load(_pil_bytes(gray_alpha, "PNG"))
    flat = decoded.pixels if decoded.pixels.ndim == 2 else decoded.pixels[:, :, 0]
    assert flat[0, 0] == 255 and flat[15, 20] == 0  # composited onto white
    assert decoded.alpha is not None and decoded.alpha[15, 20] == 255


def test_black_drawing_on_transparent_background_is_not_all_black():
    rgba = np.zeros((50, 50, 4), np.uint8)  # fully transparent *black* pixels
    rgba[10:40, 22:28] = (0, 0, 0, 255)
    decoded = imageio.load(_pil_bytes(rgba, "PNG"))
    assert decoded.pixels[0, 0].min() == 255, "transparent must become white, not black"
    assert decoded.pixels[25, 25].max() == 0


def test_jpeg_exif_orientation_is_applied():
    tall = np.full((100, 40, 3), 255, np.uint8)
    tall[:20] = 0  # a black band at the top
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: the viewer must turn it 90 degrees clockwise
    stored = Image.fromarray(tall).transpose(Image.Transpose.ROTATE_90)
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif, quality=95)
    decoded = imageio.load(buffer.getvalue())
    assert decoded.pixels.shape[:2] == (100, 40)
    assert decoded.pixels[:20].mean() < 40 and decoded.pixels[40:].mean() > 200
    assert decoded.original_size == (40, 100)


@pytest.mark.parametrize("gray", [False, True], ids=["colour", "gray"])
def test_jpeg_exif_orientation_is_applied_in_colour_and_gray(gray):
    tall = np.full((100, 40, 3), 255, np.uint8)
    tall[:20] = (200, 0, 0)  # a dark blue band at the top (RGB)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = Image.fromarray(tall).transpose(Image.Transpose.ROTATE_90)
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif, quality=95)
    decoded = imageio.load(buffer.getvalue(), gray=gray)
    assert decoded.pixels.ndim == (2 if gray else 3)
    assert decoded.pixels.shape[:2] == (100, 40)
    luminance = decoded.pixels if gray else cv2.cvtColor(decoded.pixels, cv2.COLOR_BGR2GRAY)
    assert luminance[:20].mean() < 100 and luminance[40:].mean() > 240


def test_gray_decoding_of_a_large_jpeg_is_the_colour_decoding_luminance():
    photo = cv2.resize(_digit_rgb(), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    photo[..., 0] = 180  # tinted paper, so that luminance differs from any one channel
    data = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    colour, gray = imageio.load(data), imageio.load(data, gray=True)
    assert gray.pixels.shape == colour.pixels.shape[:2] == (375, 500)  # both 1/8
    assert gray.original_size == colour.original_size == (4000, 3000)
    difference = np.abs(
        gray.pixels.astype(int) - cv2.cvtColor(colour.pixels, cv2.COLOR_BGR2GRAY).astype(int)
    )
    assert difference.max() <= 3  # rounding only: the same picture


def test_gray_leaves_other_formats_and_their_alpha_alone():
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[10:40, 22:28] = (0, 0, 255, 255)  # a blue stroke on transparent
    decoded = imageio.load(_pil_bytes(rgba, "PNG"), gray=True)
    assert decoded.alpha is not None and decoded.alpha[25, 25] == 255 and decoded.alpha[0, 0] == 0


def test_large_jpeg_is_decoded_reduced_with_its_true_size_kept():
    photo = cv2.resize(_digit_rgb(), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    ok, buffer = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 80])
    decoded = imageio.load(buffer.tobytes())
    assert decoded.original_size == (4000, 3000)
    assert max(decoded.pixels.shape[:2]) == 500  # 1/8: the largest reduction keeping 320 px
    assert decoded.scale == pytest.approx(decoded.pixels.shape[1] / 4000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (
            bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)),
            "of a kind we do not recognise",
        ),
        (b"Dear user,\nthis is a letter, not a digit.\n", "a text file"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><text>7</text></svg>',
            "SVG",
        ),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj", "a PDF document"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
        (b"<!DOCTYPE html><html><body>7</body></html>", "a web page"),
    ],
    ids=["empty", "random", "text", "svg", "pdf", "heic", "html"],
)
def test_non_images_are_named(data, message):
    with pytest.raises(InvalidImageError, match=message) as caught:
        imageio.load(data)
    assert isinstance(caught.value, ValueError)
    assert "PNG, JPEG, WebP, BMP, GIF or TIFF" in str(caught.value) or "empty" in str(caught.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_are_refused(fmt):
    data = _pil_bytes(_digit_rgb(200, 200), fmt)
    with pytest.raises(InvalidImageError, match=f"This {fmt} file is truncated"):
        imageio.load(data[: len(data) // 2])


def test_damaged_png_body_is_refused():
    data = _png_with_header(64, 64, body=b"this is not zlib data at all")
    with pytest.raises(InvalidImageError, match="damaged"):
        imageio.load(data)


def test_decompression_bomb_is_refused_before_decoding():
    # A real bomb: 100 megapixels of black compress to a few hundred kilobytes.
    rows = zlib.compress(b"\x00" * (10001) * 2000, 9)  # 2000 rows of 10000 gray pixels
    bomb = _png_with_header(10000, 10000, rows)
    assert len(bomb) < 1_000_000
    with pytest.raises(
        InvalidImageError, match="10,000 x 10,000 pixels \\(100.0 megapixels\\); the limit is 50"
    ):
        imageio.load(bomb)


def test_oversized_file_is_refused_by_size(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_with_header(100, 100) + b"\x00" * (26 * 1024 * 1024))
    with pytest.raises(InvalidImageError, match="The file is 26.0 MiB; the limit is 25.0 MiB"):
        imageio.load(path)
    with pytest.raises(InvalidImageError, match="limit is 25.0 MiB"):
        imageio.load(path.read_bytes())


@pytest.mark.parametrize(
    ("array", "pixel"),
    [
        (np.full((30, 30), 0.5, np.float32), 128),  # float in [0, 1]
        (np.full((30, 30), 200.0), 200),  # float in [0, 255]
        (np.full((30, 30), 40000, np.uint16), 156),
        (np.ones((30, 30), bool), 255),
        (np.full((30, 30, 1), 77, np.uint8), 77),
    ],
)
def test_arrays_of_every_common_kind(array, pixel):
    decoded = imageio.load(array)
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.ndim == 2
    assert int(decoded.pixels[5, 5]) == pixel


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(10), "must be \\(height, width\\)"),
        (np.zeros((10, 10, 5)), "must be \\(height, width\\)"),
        (np.zeros((0, 10)), "empty"),
        (np.full((5, 5), np.nan), "NaN"),
    ],
)
def test_bad_arrays_are_refused(array, message):
    with pytest.raises(InvalidImageError, match=message):
        imageio.load(array)


def test_missing_path_and_wrong_type(tmp_path):
    with pytest.raises(InvalidImageError, match="There is no file at"):
        imageio.load(tmp_path / "nope.png")
    with pytest.raises(InvalidImageError, match="not int"):
        imageio.load(42)
