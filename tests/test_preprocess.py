"""From real-looking images to MNIST-style 28x28 inputs: the digit survives, the rest does not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitlib import imageio, preprocess, synth
from digitlib.errors import NoDigitFoundError
from digitlib.recognizer import Recognizer
from digitlib.stages import find, levels, repair, repair_lines


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 28x28 images, blurred a little to forgive sub-pixel shifts."""
    a = cv2.GaussianBlur(a.astype(np.float32), (5, 5), 1.0).ravel()
    b = cv2.GaussianBlur(b.astype(np.float32), (5, 5), 1.0).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def _paper_with_digit(
    digit: np.ndarray, size=(400, 300), at=(150, 60), height=180, ink=(30, 30, 30)
):
    """A clean photo-like image: a digit drawn dark on light paper at a known place."""
    paper = np.full((size[1], size[0], 3), 235, np.float32)
    big = cv2.resize(
        digit.astype(np.float32) / 255, (height, height), interpolation=cv2.INTER_CUBIC
    )
    big = np.clip(big, 0, 1)[..., None]
    x, y = at
    paper[y : y + height, x : x + height] = (
        paper[y : y + height, x : x + height] * (1 - big) + np.array(ink) * big
    )
    return paper.astype(np.uint8)


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.x_test[:40], mnist.y_test[:40]


def test_mnist_digit_passes_through_unharmed(digits):
    for digit in digits[0][:10]:
        result = preprocess.preprocess(imageio.load(digit))
        np.testing.assert_array_equal(result.network_input, digit.astype(np.float32) / 255)


def test_output_follows_mnist_normalisation(digits):
    for digit in digits[0][:10]:
        image = _paper_with_digit(digit)
        result = preprocess.preprocess(imageio.load(image))
        out = result.network_input
        assert out.dtype == np.float32 and out.shape == (28, 28)
        assert out.min() >= 0 and out.max() <= 1 and out.max() > 0.9
        rows, cols = np.indices(out.shape)
        centre = ((rows * out).sum() / out.sum(), (cols * out).sum() / out.sum())
        assert abs(centre[0] - 14.0) < 0.6 and abs(centre[1] - 14.0) < 0.6  # where MNIST puts it
        ys, xs = np.nonzero(out > 0.05)
        assert max(np.ptp(ys), np.ptp(xs)) + 1 <= 22  # fitted in 20x20 (plus anti-aliasing)
        assert _similarity(out, digit) > 0.8


def test_box_is_where_the_digit_is(digits):
    image = _paper_with_digit(digits[0][0], at=(150, 60), height=180)
    x, y, w, h = preprocess.preprocess(imageio.load(image)).box
    ys, xs = np.nonzero(cv2.resize(digits[0][0], (180, 180)) > 60)
    assert abs(x - (150 + xs.min())) <= 6 and abs(y - (60 + ys.min())) <= 6
    assert abs(w - np.ptp(xs)) <= 12 and abs(h - np.ptp(ys)) <= 12


def test_a_shadow_edge_beside_the_digit_stays_out_of_its_box(digits):
    # A phone's shadow leaves a soft grey streak where its edge crosses the paper; near the digit
    # it once joined the digit's box and the network read the pair as another digit.
    for digit in digits[0][:10]:
        page = _paper_with_digit(digit).astype(np.float32)
        streak = np.ones(page.shape[:2], np.float32)
        cv2.line(streak, (318, 90), (345, 230), 0.5, 7)  # about half a stroke's darkness
        page *= cv2.GaussianBlur(streak, (0, 0), 1.2)[..., None]
        photo = cv2.imencode(".jpg", np.clip(page, 0, 255).astype(np.uint8))[1].tobytes()
        x, y, w, h = preprocess.preprocess(imageio.load(photo)).box
        right = 150 + np.nonzero(cv2.resize(digit, (180, 180)).max(axis=0) > 60)[0].max()
        assert x + w <= right + 6, f"the box {x, y, w, h} reaches the shadow's edge"


def test_a_digit_broken_in_the_middle_is_found_whole(mnist):
    # A pen that skipped across the middle of a digit leaves two large pieces a few pixels
    # apart (11 px between a 3's halves in a 320 px photo); only the top one was found, and a 3
    # was read as a 9. Three rows are taken out of each test digit whose ink they cut in two.
    whole = tried = 0
    for digit in mnist.x_test[:60]:
        rows = np.nonzero(digit.max(axis=1) > 60)[0]
        middle = (rows.min() + rows.max()) // 2
        broken = digit.copy()
        broken[middle - 1 : middle + 2] = 0
        if cv2.connectedComponents((broken > 60).astype(np.uint8))[0] != 3:
            continue  # not two pieces (a 1 cut short, a 0 cut into more)
        tried += 1
        page = _paper_with_digit(broken)
        photo = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        _, _, _, height = preprocess.preprocess(imageio.load(photo)).box
        whole += height >= 0.9 * (np.ptp(rows) + 1) * 180 / 28
    assert tried >= 40 and whole == tried, f"{whole} of {tried} found whole"


def test_a_second_look_keeps_faint_ink_beside_the_strokes_only():
    # A 0 with faint dots along the inside of its stroke, as a pen running dry leaves them,
    # under the binarisation level; and a faint smudge in the middle of the 0.
    ring = np.zeros((200, 200), np.float32)
    cv2.ellipse(ring, (100, 100), (40, 60), 0, 0, 360, 1.0, 6)
    dots = np.zeros_like(ring)
    cv2.ellipse(dots, (100, 100), (35, 55), 0, 100, 260, 0.35, 2)
    dots[::5] = 0
    smudge = np.zeros_like(ring)
    smudge[90:110, 92:108] = 0.35
    mask = (ring > 0.5).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask)

    def looks(ink):
        image = preprocess.InkImage(ink, mask, labels, stats, "dark-on-light", 1.0)
        region = preprocess.find_digit(image)
        return preprocess.mnist_normalise(ink, region), preprocess.with_faint_ink(ink, region)

    first, second = looks(ring)
    first_dots, second_dots = looks(ring + dots)
    _, second_smudge = looks(ring + smudge)
    seen_first = np.abs(first_dots - first).sum()  # the first look barely sees the dots ...
    seen_second = np.abs(second_dots - second).sum()  # ... the second keeps them
    assert seen_second > 3 * seen_first and seen_second > 5, (seen_first, seen_second)
    np.testing.assert_array_equal(second_smudge, second)  # but nothing away from the strokes


@pytest.mark.parametrize(
    ("kind", "expected_polarity"),
    [("photo", "dark-on-light"), ("canvas", "alpha"), ("crop", "light-on-dark")],
)
def test_realistic_uploads_keep_the_digit(digits, kind, expected_polarity):
    images, labels = digits
    samples = synth.make_set(kind, images, labels, 24, seed=5)
    similar = []
    for sample in samples:
        result = preprocess.preprocess(imageio.load(sample.data))
        assert result.polarity == expected_polarity
        similar.append(_similarity(result.network_input, images[sample.indices[0]]))
    assert np.median(similar) > 0.75, similar


@pytest.mark.parametrize("polarity", ["dark-on-light", "light-on-dark"])
def test_a_small_digit_on_a_large_clean_page_keeps_its_polarity(digits, polarity):
    # A scan or an exported drawing: no noise, and the ink on under 1% of the pixels, so that
    # the 1st and 99th percentiles are both the paper's level. Read as light ink on dark paper,
    # a dark digit vanished ("no visible ink").
    for digit in digits[0][:5]:
        page = _paper_with_digit(digit, size=(600, 600), at=(300, 200), height=48)
        if polarity == "light-on-dark":
            page = 255 - page  # a chalk-like digit on a dark page
        result = preprocess.preprocess(imageio.load(page))
        assert result.polarity == polarity
        assert _similarity(result.network_input, digit) > 0.8


@pytest.mark.parametrize(
    "ink", [(40, 40, 200), (200, 60, 20), (60, 150, 60)], ids=["red", "blue", "green"]
)
def test_coloured_ink(digits, ink):
    digit = digits[0][3]
    result = preprocess.preprocess(imageio.load(_paper_with_digit(digit, ink=ink)))
    assert _similarity(result.network_input, digit) > 0.8


def test_uneven_light_and_ruled_lines_do_not_become_ink(digits):
    digit = digits[0][7]
    image = _paper_with_digit(digit).astype(np.float32)
    for y in range(10, image.shape[0], 28):
        cv2.line(image, (0, y), (image.shape[1], y), (200, 160, 120), 2)  # blue rules
    ramp = np.linspace(0.45, 1.0, image.shape[1], dtype=np.float32)[None, :, None]
    image = np.clip(image * ramp, 0, 255).astype(np.uint8)  # the left side is in deep shadow
    result = preprocess.preprocess(imageio.load(image), keep_stages=True)
    assert _similarity(result.network_input, digit) > 0.75
    assert {"grayscale", "flattened ink", "binary", "cleaned", "network input"} <= set(
        result.stages
    )


def _blank(kind: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    image = np.full((300, 400, 3), 230, np.float32)
    if kind == "ruled":
        for y in range(12, 300, 25):
            cv2.line(image, (0, y), (400, y), (200, 160, 120), 2)
    if kind in ("shaded", "ruled"):
        image *= np.linspace(0.6, 1.0, 400, dtype=np.float32)[None, :, None]
    image += rng.normal(0, 3, image.shape)
    if kind == "black":
        image[:] = 0
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["white", "shaded", "ruled", "black"])
def test_pages_without_a_digit_are_refused(kind):
    with pytest.raises(NoDigitFoundError, match="no digit"):
        preprocess.preprocess(imageio.load(_blank(kind)))


def test_clean_mnist_digits_pass_through_exactly(mnist):
    from digitlib.preprocess import restore_mnist_style

    for image in mnist.x_test[:500]:
        np.testing.assert_array_equal(restore_mnist_style(image), image.astype(np.float32) / 255)


def test_lifted_background_faint_ink_and_off_centre_digits_are_restored(mnist):
    from digitlib import corruptions
    from digitlib.preprocess import restore_mnist_style

    originals = mnist.x_test[:200].astype(np.float32) / 255

    def error(name):
        corrupted = corruptions.corrupt(mnist.x_test[:200], name, 4, seed=3)
        restored = np.stack([restore_mnist_style(image) for image in corrupted])
        before = np.abs(corrupted.astype(np.float32) / 255 - originals).mean()
        return before, np.abs(restored - originals).mean()

    for name in ("brightness", "low_contrast", "translate", "scale", "impulse_noise"):
        before, after = error(name)
        assert after < 0.6 * before, (name, before, after)


def test_streaks_background_noise_and_bold_strokes_are_repaired(mnist):
    # A 28x28 input keeps its digit but loses what MNIST never has: a line lit from edge to
    # edge, lit background noise, strokes wider than any MNIST stroke.
    from digitlib import corruptions
    from digitlib.preprocess import restore_mnist_style

    originals = mnist.x_test[:200].astype(np.float32) / 255
    for name, severity in (("stripe", 2), ("gaussian_noise", 2), ("thick", 5)):
        corrupted = corruptions.corrupt(mnist.x_test[:200], name, severity, seed=3)
        restored = np.stack([restore_mnist_style(image) for image in corrupted])
        before = np.abs(corrupted.astype(np.float32) / 255 - originals).mean()
        after = np.abs(restored - originals).mean()
        assert after < 0.6 * before, (name, before, after)


def test_a_bold_28x28_digit_keeps_its_polarity(mnist):
    # Ink covering most of the square: the frame, not the typical pixel, tells the background.
    from digitlib import corruptions

    bold = corruptions.corrupt(mnist.x_test[:50], "thick", 5, seed=3)
    assert np.mean([np.median(image) > 127 for image in bold]) > 0.2  # mostly ink
    for image in bold:
        assert preprocess.preprocess(imageio.load(image)).polarity == "light-on-dark"
        inverted = preprocess.preprocess(imageio.load(255 - image))
        assert inverted.polarity == "dark-on-light"


def _pencil_line(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hard 1-pixel line bent at two points, from one edge to the opposite one: a paint
    program's pencil scribbled across a 28x28 drawing."""
    out = image.copy()
    along, across = np.linspace(0, 27, 4), rng.uniform(0, 27, 4)
    points = np.stack([along, across] if rng.random() < 0.5 else [across, along], axis=1)
    cv2.polylines(out, [np.rint(points).astype(np.int32)], False, 255, 1)
    return out


def _marker_line(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 3-pixel marker stroke, straight from one edge to the opposite one."""
    out = image.copy()
    start, end = (0, int(rng.integers(0, 28))), (27, int(rng.integers(0, 28)))
    if rng.random() < 0.5:
        start, end = start[::-1], end[::-1]
    cv2.line(out, start, end, 255, 3)
    return out


@pytest.mark.parametrize("draw, left", [(_pencil_line, 0.1), (_marker_line, 0.25)])
def test_lines_across_a_28x28_digit_are_erased(mnist, draw, left):
    from digitlib.preprocess import restore_mnist_style

    rng = np.random.default_rng(5)
    originals = mnist.x_test[1000:1200]
    lined = np.stack([draw(image, rng) for image in originals])
    restored = np.stack([restore_mnist_style(image) for image in lined])
    truth = originals.astype(np.float32) / 255
    before = np.abs(lined.astype(np.float32) / 255 - truth).mean()
    assert np.abs(restored - truth).mean() < 0.7 * before
    # Far from the digit, the line is gone: pixels 4+ away from any stroke are dark again (a
    # marker's wide stroke lying along the digit's own is partly kept, or takes some digit).
    away = cv2.dilate((originals > 0).astype(np.uint8), np.ones((7, 7), np.uint8)) == 0
    drawn = (lined > 127) & away
    assert restored[drawn].mean() < left, restored[drawn].mean()


def test_line_erasing_leaves_real_digits_noise_and_outlines_alone(mnist):
    # Never on MNIST's own digits (thin strokes near the edge included), nor on salt noise or
    # outline-only strokes, which look thin but are not lines across the image.
    def erased(image):
        return repair_lines.erase_lines(image.astype(np.float32) / 255)[1]

    assert not any(erased(image) for image in mnist.x_train[:5000])
    rng = np.random.default_rng(2)
    salted = mnist.x_test[:200].copy()
    salted[rng.random(salted.shape) < 0.04] = 255
    assert np.mean([erased(image) for image in salted]) < 0.02
    outlines = [cv2.Canny(image, 50, 150) for image in mnist.x_test[:200]]
    assert not any(erased(image) for image in outlines)


def test_many_28x28_inputs_restored_at_once_as_one_by_one(mnist):
    # preprocess_many recognises the clean ones all at once: every input, clean or corrupted,
    # light or dark, blank or not, must come out exactly as preprocess gives it alone.
    from digitlib import corruptions

    digits = mnist.x_test[:300]
    arrays = [*digits, *(255 - digits[:100])]
    for name in corruptions.CORRUPTIONS:
        arrays += list(corruptions.corrupt(digits[:20], name, 3, seed=9))
    arrays += [np.zeros((28, 28), np.uint8), np.full((28, 28), 255, np.uint8)]
    decoded = [imageio.load(array) for array in arrays]
    together = preprocess.preprocess_many(decoded)
    assert len(together) == len(arrays)
    for image, result in zip(decoded, together, strict=True):
        try:
            alone = preprocess.preprocess(image)
        except NoDigitFoundError as error:
            assert isinstance(result, NoDigitFoundError) and str(result) == str(error)
            continue
        np.testing.assert_array_equal(result.network_input, alone.network_input)
        assert (result.polarity, result.box, result.resampled) == (
            alone.polarity,
            alone.box,
            alone.resampled,
        )
    # Most clean digits, in either polarity, take the batch path; corrupted ones mostly not.
    clean, _, _ = repair.clean_at_once(np.stack(arrays))
    assert clean[:400].mean() >= 0.8
    assert clean[400:].mean() <= 0.6


def test_the_bold_stroke_bound_never_skips_a_digit_that_gets_thinned(mnist):
    # _may_be_bold spares tracing outlines: it may only say "not bold" where _thin_bold would
    # leave the digit as it is. Digits from hairline to marker-bold, and ragged noisy masks.
    rng = np.random.default_rng(5)
    stacks = [mnist.x_test[:400]]
    for size in (2, 3, 4, 5, 6):
        stacks.append(np.stack([cv2.dilate(d, np.ones((size, size), np.uint8)) for d in stacks[0]]))
    stacks.append(np.stack([cv2.erode(d, np.ones((2, 2), np.uint8)) for d in stacks[0]]))
    blobs = (rng.random((400, 28, 28)) < rng.uniform(0.2, 0.95, (400, 1, 1))) * 255
    stacks.append(blobs.astype(np.uint8))
    values = np.concatenate(stacks).astype(np.float32) / 255.0
    maybe = repair.may_be_bold(values > 0.35)
    thinned = np.array([repair.thin_bold(v) is not v for v in values])
    assert thinned.sum() > 300  # bold digits are among them
    assert not (thinned & ~maybe).any()
    assert maybe[:400].mean() < 0.1  # and most ordinary digits are spared the tracing


def test_a_line_remnant_running_into_the_edge_stays_out_of_the_digits_box(digits):
    # A small photo on squared paper: what is left of a grid line beside the digit (as dark as
    # the ink, a little wider than a hair) runs from near the digit into the picture's bottom
    # edge. A digit clear of the edges takes no piece that runs into one.
    for digit in digits[0][:10]:
        page = _paper_with_digit(digit, size=(64, 81), at=(14, 16), height=40)
        right = 14 + np.nonzero(cv2.resize(digit, (40, 40)).max(axis=0) > 60)[0].max()
        column = min(right + 4, 62)
        page[60:, column : column + 3] = 30  # the remnant, 3 px wide, to the bottom edge
        page = cv2.GaussianBlur(page, (0, 0), 0.5)
        photo = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()
        x, y, w, h = preprocess.preprocess(imageio.load(photo)).box
        assert y + h < 81 and x + w <= column, f"the box {x, y, w, h} takes the line's remnant"


def _small_photo_on_a_line(digit, rng, line, grey):
    """A small photo (64x56) of a digit 24 px tall on paper with one ruled line: ``line(rng,
    ink)`` gives its two ends' rows, ``grey`` its grey range. Returns the JPEG and the digit's
    ink (24x24, placed at rows 16-40)."""
    page = np.full((56, 64), rng.uniform(215, 245), np.float32)
    ink = cv2.resize(digit.astype(np.float32) / 255, (24, 24), interpolation=cv2.INTER_AREA)
    page[16:40, 20:44] *= 1 - 0.85 * ink
    row, end = line(rng, ink)
    cv2.line(page, (0, row), (63, end), float(rng.uniform(*grey)), 1, cv2.LINE_AA)
    page = cv2.GaussianBlur(page, (0, 0), 0.5) + rng.normal(0, 3, page.shape)
    photo = cv2.imencode(
        ".jpg", np.clip(page, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )[1].tobytes()
    return photo, ink


def _through_the_middle(rng, ink):
    row = 28 + int(rng.integers(-3, 4))
    return row, row + int(round(63 * rng.uniform(-0.03, 0.03)))


def _along_the_most_inked_row(rng, ink):
    row = 16 + int(np.argmax(ink.sum(axis=1)))
    return row, row


def test_a_small_digit_crossed_by_a_ruled_line_is_found_whole(mnist):
    # A small photo (64x56) of a digit 24 px tall on ruled paper, a line through its middle.
    # Erasing the line takes a band 5 px wide (more where a stroke runs along it) out of the
    # digit, leaving pieces further apart than a quarter of the first piece's side: a 4 was
    # found as its top right stroke and read as a 1. When lines were erased, pieces as far
    # apart as the band is wide (x TUNING.find.line_gap) join.
    rng = np.random.default_rng(3)
    whole = 0
    for digit in mnist.x_test[:60]:
        photo, ink = _small_photo_on_a_line(digit, rng, _through_the_middle, (110, 160))
        rows = np.nonzero(ink.max(axis=1) > 0.25)[0]
        try:
            _, _, _, height = preprocess.preprocess(imageio.load(photo)).box
        except NoDigitFoundError:  # only specks left
            continue
        whole += height >= 0.9 * (np.ptp(rows) + 1)
    # Measured 59 (56 with the whole band erased: TUNING.page.line_strokes 0); no line_gap, 32.
    assert whole >= 54, f"{whole} of 60 found whole"


def test_a_stroke_lying_on_a_ruled_line_is_kept(mnist):
    # The same small photos, the line now running along the digit's most inked row (a 2's foot,
    # a 7's bar, the top of a 5), in grey from pale to nearly as dark as the ink. Erasing the
    # line's whole band took the stroke with it; the band's pixels darker than midway between
    # the line's ink and the pen's are kept (TUNING.page.line_strokes).
    recognizer = Recognizer.load()
    rng = np.random.default_rng(8)
    right = 0
    for digit, label in zip(mnist.x_test[:100], mnist.y_test[:100], strict=True):
        photo, _ = _small_photo_on_a_line(digit, rng, _along_the_most_inked_row, (60, 160))
        try:
            right += recognizer.predict(photo).digit == label
        except NoDigitFoundError:
            pass
    assert right >= 90, f"{right} of 100 read right"  # measured 96; the band erased whole, 73


def test_fast_percentiles_and_medians_match_numpy_exactly():
    # The hot path reads percentiles from a histogram (uint8) or a partition (floats); they must
    # be numpy's to the last bit, or a threshold could move.
    rng = np.random.default_rng(5)
    for trial in range(600):
        size = int(rng.integers(1, 2500))
        values = rng.random(size).astype(np.float32)
        if trial % 3 == 0:
            values = rng.integers(0, 5, size).astype(np.float32) / 3  # many ties
        if trial % 5 == 0:
            values = values.astype(np.float64).reshape(1, -1)
        for percent in (0, 1, 10, 50, 75, 90, 95, 99, 100):
            assert levels.percentile(values, percent) == float(np.percentile(values, percent))
        assert levels.median(values) == float(np.median(values))
        gray = rng.integers(0, 256, (size, 3), dtype=np.uint8)[:, ::2]  # strided, as sampled
        expected = np.percentile(gray, (1, 50, 99))
        assert levels.percentiles(gray, (1, 50, 99)) == [float(v) for v in expected]


def test_components_in_the_inks_box_match_opencvs_on_the_whole_image():
    # Labelling only the box around the ink must give OpenCV's labels, numbered alike, and its
    # stats for every component: specks, strokes, rings and noise, wherever they sit (the box's
    # corner on odd or even pixels), and no crash on an image without ink.
    rng = np.random.default_rng(11)
    boxed = 0
    for trial in range(3000):
        height, width = (int(v) for v in rng.integers(1, 160, 2))
        mask = np.zeros((height, width), np.uint8)
        for _ in range(int(rng.integers(0, 10))):
            y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
            if trial % 3 == 0:
                part = mask[y : y + int(rng.integers(1, 20)), x : x + int(rng.integers(1, 20))]
                part[:] = rng.random(part.shape) < 0.6  # a ragged, noisy blob
            elif trial % 3 == 1:
                end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
                cv2.line(mask, (x, y), end, 1, int(rng.integers(1, 3)))
            else:
                cv2.circle(mask, (x, y), int(rng.integers(1, 12)), 1, 1)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        mine = find.components(mask)
        x, y, w, h = cv2.boundingRect(mask)
        boxed += 0 < (x + w) * (y + h) < 0.5 * mask.size
        assert mine[0] == count and np.array_equal(mine[1], labels)
        assert np.array_equal(mine[2][1:], stats[1:])
        assert mine[2][0, cv2.CC_STAT_AREA] == stats[0, cv2.CC_STAT_AREA]
    assert boxed > 300  # many were labelled in a box smaller than the image
