"""The quick look: a large upload is read first on a small work image (preprocess.quick_look) and
that reading kept only when the screen is sure of it; otherwise the full path reads it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitlib import gate, imageio, preprocess, synth
from digitlib.errors import InvalidImageError, NoDigitFoundError
from digitlib.recognizer import Recognizer
from digitlib.tuning import TUNING


@pytest.fixture(scope="module")
def readers() -> tuple[Recognizer, Recognizer]:
    return Recognizer.load(), Recognizer.load(quick=False)


def _read(reader: Recognizer, image):
    try:
        return reader.predict(image)
    except NoDigitFoundError:
        return None


def _overlap(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, width) * max(0, height)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def _digit_on_paper(digit: np.ndarray, side: int, height: int) -> bytes:
    """A photo-like JPEG: dark ink on light paper, a gentle light falloff and sensor noise."""
    rng = np.random.default_rng(height)
    paper = np.full((side * 3 // 4, side), 228, np.float32)
    paper *= np.linspace(1.0, 0.85, side, dtype=np.float32)[None, :]
    ink = cv2.resize(
        digit.astype(np.float32) / 255, (height, height), interpolation=cv2.INTER_CUBIC
    )
    top, left = (paper.shape[0] - height) // 2, (side - height) // 2
    window = paper[top : top + height, left : left + height]
    window[:] = window * (1 - 0.85 * np.clip(ink, 0, 1))
    paper += rng.normal(0, 3, paper.shape).astype(np.float32)
    return _jpeg(np.clip(paper, 0, 255).astype(np.uint8))


def test_large_uploads_read_the_same_with_and_without_the_quick_look(readers, mnist):
    # Phone photos, drawings on transparent backgrounds and white-on-black crops of test digits,
    # the large ones (256 px and more): every answer and every refusal the same; most of them
    # answered by the quick look, their boxes where the full path puts the digit.
    quick, full = readers
    large = kept = 0
    for kind in ("photo", "canvas", "crop"):
        for sample in synth.make_set(kind, mnist.x_test, mnist.y_test, 70, seed=91):
            if max(sample.size) < 2 * TUNING.looks.quick.work_side:
                continue
            large += 1
            first, second = _read(quick, sample.data), _read(full, sample.data)
            assert (first and first.digit) == (second and second.digit), sample.notes
            assert second is None or not second.quick_look
            if first is not None and first.quick_look:
                kept += 1
                assert first.answered_by == "screen" and first.to_dict()["quick_look"] is True
                assert first.confidence >= quick.screen_thresholds[0]
                assert _overlap(first.box, second.box) > 0.6, (first.box, second.box)
    assert large >= 100
    assert kept >= 0.6 * large, f"{kept} of {large} large uploads answered by the quick look"


def test_non_digits_are_refused_alike(readers):
    # Letters in other fonts, scribbles, shapes and phone photos of letters and scribbles.
    quick, full = readers
    looked = 0
    for kind, items in gate.evaluation_negatives(40, seed=46).items():
        for item in items:
            first, second = _read(quick, item), _read(full, item)
            assert (first and first.digit) == (second and second.digit), kind
            looked += first is not None and first.quick_look
    assert looked <= 2  # a non-digit the screen is sure of is rare at any size


def test_a_small_digit_in_a_large_photo_is_read_at_full_size(readers, mnist):
    # A 40 px digit in a 1200 px photo is 4 px on the quick look's work image: it declines, and
    # the full path finds and reads the digit.
    quick, _ = readers
    digits = [i for i in range(40) if mnist.y_test[i] in (0, 2, 3, 7)][:4]
    for index in digits:
        answer = quick.predict(_digit_on_paper(mnist.x_test[index], 1200, 60))
        assert not answer.quick_look
        assert answer.digit == int(mnist.y_test[index])
        x, y, w, h = answer.box
        assert 540 <= x + w / 2 <= 660 and 400 <= y + h / 2 <= 500


def test_a_large_clear_digit_is_read_by_the_quick_look_from_a_path_or_bytes(
    readers, mnist, tmp_path
):
    quick, full = readers
    data = _digit_on_paper(mnist.x_test[0], 1000, 420)
    path = tmp_path / "seven.jpg"
    path.write_bytes(data)
    from_bytes, from_path, reference = quick.predict(data), quick.predict(path), full.predict(data)
    assert from_bytes.quick_look and from_path.quick_look
    assert from_bytes.digit == from_path.digit == reference.digit == int(mnist.y_test[0])
    assert from_bytes.box == from_path.box
    assert _overlap(from_bytes.box, reference.box) > 0.7
    # Stages asked for (the dashboard shows them): the full path, every stage at full size.
    staged = quick.predict(data, keep_stages=True)
    assert not staged.quick_look and staged.digit == reference.digit
    assert max(staged.stages["grayscale"].shape) == TUNING.looks.full.work_side
    # And the same file through predict_many, beside 28x28 inputs and a missing file.
    many = quick.predict_many([data, mnist.x_test[1], path, tmp_path / "gone.png"], "return")
    assert [getattr(answer, "digit", None) for answer in many[:3]] == [
        reference.digit,
        int(mnist.y_test[1]),
        reference.digit,
    ]
    assert many[0].quick_look and many[2].quick_look and not many[1].quick_look
    assert isinstance(many[3], InvalidImageError)


def test_a_large_blank_page_is_refused_with_the_full_paths_message(readers):
    quick, full = readers
    rng = np.random.default_rng(3)
    page = np.clip(rng.normal(225, 2, (900, 1200)), 0, 255).astype(np.uint8)
    messages = []
    for reader in (quick, full):
        with pytest.raises(NoDigitFoundError) as caught:
            reader.predict(_jpeg(page))
        messages.append(str(caught.value))
    assert messages[0] == messages[1] and "no digit" in messages[0]


def test_without_the_screen_or_when_turned_off_nothing_takes_the_quick_look(mnist):
    data = _digit_on_paper(mnist.x_test[0], 1000, 420)
    for reader in (Recognizer.load(quick=False), Recognizer.load(screen=False)):
        answer = reader.predict(data)
        assert not answer.quick_look and answer.digit == int(mnist.y_test[0])


def test_a_photo_on_dark_ruled_lines_is_left_to_the_full_path(readers, mnist):
    # Rules as dark and as wide as the pen (a form's lines; a hairline rule is lighter than the
    # ink at an eighth of the size, and rightly not ink there) reach the quick look's mask: it
    # declines, and the full path erases them and reads the digit.
    quick, _ = readers
    for index in range(3):
        paper = np.full((750, 1000), 225, np.uint8)
        paper[96:112] = paper[640:656] = 30  # above and below the digit, across the page
        ink = cv2.resize(mnist.x_test[index], (360, 360), interpolation=cv2.INTER_CUBIC)
        window = paper[200:560, 320:680]
        window[:] = np.minimum(window, 255 - ink)
        data = _jpeg(paper)
        assert preprocess.quick_look(imageio.load(data, gray=True, min_side=120)) is None
        answer = quick.predict(data)
        assert not answer.quick_look and answer.digit == int(mnist.y_test[index])


def test_a_jpeg_is_decoded_as_small_as_the_look_needs():
    assert imageio.reduction(1000, 787, 120) == 8
    assert imageio.reduction(1000, 787) == 2  # the full path's work image: 320 px
    assert imageio.reduction(4000, 3000, 120) == imageio.reduction(4000, 3000) == 8
    assert imageio.reduction(300, 200, 120) == 2 and imageio.reduction(300, 200) == 1
    page = np.full((787, 1000), 230, np.uint8)
    small = imageio.load(_jpeg(page), gray=True, min_side=120)
    assert small.pixels.shape == (99, 125) and small.original_size == (1000, 787)
