"""Writer-style variation of training digits (digitlib.writers) and the uploads made with it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from digitlib import config, imageio, uploads, writers
from digitlib.recognizer import Recognizer


def _first(mnist, label: int, count: int = 1) -> list[np.ndarray]:
    return [mnist.x_train[i] for i in np.flatnonzero(mnist.y_train == label)[:count]]


def _ink(digit: np.ndarray) -> np.ndarray:
    return digit > writers.INK


def _added(styled: np.ndarray, digit: np.ndarray) -> np.ndarray:
    """Where the styled digit has ink that the digit had not (redrawing at 10x and back moves
    the strokes' edges by a grey level or two, not by 100)."""
    return (styled.astype(int) - digit > 100) & _ink(styled)


def _mean_x(digit: np.ndarray, rows: slice) -> float:
    ys, xs = np.nonzero(_ink(digit)[rows])
    return float(xs.mean())


def test_a_slant_leans_the_top_of_the_digit_and_keeps_it_in_the_frame(mnist):
    (one,) = _first(mnist, 1)
    ys = np.flatnonzero(_ink(one).any(axis=1))
    top, bottom = slice(ys.min(), ys.min() + 5), slice(ys.max() - 4, ys.max() + 1)
    upright = _mean_x(one, top) - _mean_x(one, bottom)
    right = writers.slant(one, 20)
    left = writers.slant(one, -15)
    # A 1 about 20 pixels tall leans tan(20 deg) * 15 = 5 pixels further between its ends.
    assert _mean_x(right, top) - _mean_x(right, bottom) > upright + 3
    assert _mean_x(left, top) - _mean_x(left, bottom) < upright - 2
    for leaning in (right, left):  # no ink lost off the edges
        assert leaning[:, [0, -1]].max() <= writers.INK
        assert abs(int(_ink(leaning).sum()) - int(_ink(one).sum())) < 0.25 * _ink(one).sum()


def test_a_marker_widens_the_strokes_and_a_fine_pen_narrows_them_without_rubbing_out(mnist):
    for digit in _first(mnist, 3, 5):
        area = _ink(digit).sum()
        assert _ink(writers.stroke_width(digit, 2.5)).sum() > 1.5 * area
        fine = writers.stroke_width(digit, -1.0)
        assert 0.35 * area <= _ink(fine).sum() < area
        # Still one connected digit, not a scatter of dots.
        count, _, stats, _ = cv2.connectedComponentsWithStats(_ink(fine).astype(np.uint8))
        assert stats[1:, cv2.CC_STAT_AREA].max() > 0.6 * _ink(fine).sum()
    assert np.array_equal(writers.stroke_width(digit, 0.05), digit)  # under a pen's step


def test_a_crossed_seven_has_a_bar_across_its_stem(mnist):
    rng = np.random.default_rng(0)
    for seven in _first(mnist, 7, 8):
        crossed = writers.crossed_seven(seven, rng)
        added = _added(crossed, seven)
        ys, xs = np.nonzero(added)
        rows = np.flatnonzero(_ink(seven).any(axis=1))
        # New ink, wider than tall, in the middle third of the 7's height.
        # (Some MNIST 7s are crossed already: the new bar then adds little.)
        assert len(ys) >= 4 and np.ptp(xs) > 2 * np.ptp(ys)
        middle = rows.min() + (rows.max() - rows.min()) * np.array([0.3, 0.75])
        assert middle[0] <= ys.mean() <= middle[1]


def test_a_european_one_has_a_flag_and_sometimes_a_base(mnist):
    rng = np.random.default_rng(1)
    ones = _first(mnist, 1, 20)
    styled = [writers.european_one(one, rng) for one in ones]
    based = 0
    for one, european in zip(ones, styled, strict=True):
        rows = np.flatnonzero(_ink(one).any(axis=1))
        added = _added(european, one)
        ys, xs = np.nonzero(added)
        upper = ys < rows.min() + (rows.max() - rows.min()) / 2
        # The flag: new ink in the top half, left of the 1's top.
        assert upper.sum() >= 4 and xs[upper].mean() < _mean_x(
            one, slice(rows.min(), rows.min() + 3)
        )
        based += (ys >= rows.max() - 1).sum() >= 4  # the base: new ink along the bottom
    assert 3 <= based <= 15  # two in five have one


def test_an_open_four_is_open_at_the_top_and_a_closed_one_is_not():
    rng = np.random.default_rng(2)
    for open_top in (True, False):
        for _ in range(10):
            four = writers.drawn_four(rng, open_top)
            rows = np.flatnonzero(_ink(four).any(axis=1))
            # Two strokes apart along the rows just under the top for an open 4; the closed 4's
            # slanted stroke meets the stem there.
            band = _ink(four)[rows.min() + 1 : rows.min() + 3].any(axis=0).astype(np.uint8)
            runs = np.count_nonzero(np.diff(np.concatenate([[0], band, [0]])) == 1)
            assert runs == (2 if open_top else 1)
            assert (four > writers.INK).sum() > 40


def test_restyle_changes_the_writing_and_keeps_every_digit_readable_by_class(mnist):
    rng = np.random.default_rng(3)
    digits, labels = mnist.x_train[:200], mnist.y_train[:200]
    styled = np.stack(
        [writers.restyle(d, int(y), rng) for d, y in zip(digits, labels, strict=True)]
    )
    assert styled.shape == digits.shape and styled.dtype == np.uint8
    changed = np.mean([not np.array_equal(a, b) for a, b in zip(styled, digits, strict=True)])
    assert 0.6 < changed < 0.95  # some digits are left as written
    # The committed model, trained on MNIST's writers, still reads most of them: the styles are
    # digits, not noise (it reads MNIST's own validation digits 99.6% right).
    read = Recognizer.load().probabilities(styled.astype(np.float32) / 255).argmax(axis=1)
    assert np.mean(read == labels) > 0.8


def test_to_8x8_counts_ink_in_4x4_blocks_of_a_32x32_fit(mnist):
    (one,) = _first(mnist, 1)
    (zero,) = _first(mnist, 0)
    for digit in (one, zero):
        levels = writers.to_8x8(digit)
        assert levels.shape == (8, 8) and 0 <= levels.min() and levels.max() <= 16
        assert levels.max() == 16  # a stroke covers a whole block somewhere
    # A 1 is tall and narrow, a 0 round: the 32x32 fit keeps the aspect.
    assert (writers.to_8x8(one).max(axis=0) > 4).sum() < (writers.to_8x8(one).max(axis=1) > 4).sum()
    assert (writers.to_8x8(zero).sum(axis=0) > 0).sum() >= 6
    assert not writers.to_8x8(np.zeros((28, 28), np.uint8)).any()


def test_a_blocky_upload_is_an_enlarged_8x8_picture_of_the_digit(mnist):
    rng = np.random.default_rng(4)
    (two,) = _first(mnist, 2)
    papers = []
    for _ in range(20):
        image = imageio.load(uploads.blocky(two, rng), gray=True).pixels
        side = image.shape[0]
        assert image.shape == (side, side) and uploads.BLOCKY_SIDES[0] <= side <= 256
        assert image.min() < 40 and image.max() > 215  # full-contrast ink on paper
        papers.append(np.median(image))  # the paper covers most of the picture
    assert min(papers) < 40 and max(papers) > 215  # light on dark and dark on white both


@pytest.fixture(scope="module")
def restyled(mnist):
    images, labels = mnist.x_train[:3000], mnist.y_train[:3000]
    return uploads.training_inputs(
        images, labels, 36, config.DEFAULT_ONNX, seed=3, workers=2, restyle=0.5
    )


def test_restyled_uploads_become_labelled_network_inputs_with_blocky_ones(mnist, restyled):
    x, y = restyled
    # 36 uploads in runs of six (a blocky picture added to each run): 30 single and 6 numbers.
    assert x.shape[1:] == (28, 28) and len(x) == len(y) and 30 <= len(x) <= 30 + 6 * 6
    plain = uploads.training_inputs(
        mnist.x_train[:3000], mnist.y_train[:3000], 36, config.DEFAULT_ONNX, seed=3, workers=2
    )
    assert not np.array_equal(plain[0][:10], x[:10])
    # The labels still follow the inputs: the committed model agrees with most of them.
    read = Recognizer.load().probabilities(x).argmax(axis=1)
    assert np.mean(read == y) >= 0.8
