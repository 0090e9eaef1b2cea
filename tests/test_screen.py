"""The screen: a small network that answers for the clear digits in place of the classifier and
the gate. It must give their answers, never accept what the gate refuses, and say when it
answered."""

from __future__ import annotations

import json

import keras
import numpy as np
import onnxruntime as ort
import pytest

from digitlib import Recognizer, augment, config, export, gate, screen, synth
from digitlib.errors import NoDigitFoundError

CARD = config.MODELS_DIR / "digit_screen.json"


@pytest.fixture(scope="module")
def readers():
    return Recognizer.load(), Recognizer.load(screen=False)


def _digits(answers) -> np.ndarray:
    return np.array([-1 if isinstance(a, ValueError) else a.digit for a in answers])


def test_the_committed_screen_onnx_matches_its_keras_weights(mnist):
    network = keras.models.load_model(config.MODELS_DIR / "digit_screen.keras")
    session = ort.InferenceSession(
        str(config.MODELS_DIR / "digit_screen.onnx"), providers=["CPUExecutionProvider"]
    )
    digits = augment.to_float(mnist.x_test[:500])
    probabilities, scores = session.run(None, {session.get_inputs()[0].name: digits})
    expected_probabilities, expected_scores = network(digits, training=False)
    assert probabilities.shape == (500, 10) and scores.shape == (500, 1)
    np.testing.assert_allclose(probabilities, np.asarray(expected_probabilities), atol=1e-5)
    np.testing.assert_allclose(scores, np.asarray(expected_scores), atol=1e-5)


def test_a_freshly_built_screen_exports_both_heads(tmp_path, mnist):
    network = screen.build_screen()
    path = export.export_onnx(network, tmp_path / "screen.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    digits = augment.to_float(mnist.x_test[:64])
    outputs = session.run(None, {"image": digits})
    for got, expected in zip(outputs, network(digits, training=False), strict=True):
        np.testing.assert_allclose(got, np.asarray(expected), atol=1e-5)


def test_the_screen_answers_most_test_digits_and_changes_almost_none(readers, mnist):
    with_screen, alone = readers
    card = json.loads(CARD.read_text())
    assert with_screen.screen is not None and alone.screen is None
    assert with_screen.screen_thresholds == (card["accept_probability"], card["accept_digit_score"])
    images = list(mnist.x_test[:3000])
    answers = with_screen.predict_many(images, errors="return")
    by_screen = np.array([getattr(a, "answered_by", "") == "screen" for a in answers])
    assert by_screen.mean() >= 0.9, "the screen is what makes predict_many fast"
    assert {getattr(a, "answered_by", "") for a in answers} <= {"screen", "classifier", ""}
    screened, plain = _digits(answers), _digits(alone.predict_many(images, errors="return"))
    # These 3,000 are among MNIST's harder test digits: the two networks alone read 99.5%.
    right, right_alone = (np.sum(d == mnist.y_test[:3000]) for d in (screened, plain))
    assert right >= right_alone - 1 and right >= 0.994 * 3000
    assert np.sum(screened != plain) <= 3  # of 3,000: each one a digit both find hard


def test_the_recorded_screen_figures_match_a_fresh_reading(readers, mnist):
    measured = json.loads(CARD.read_text())["measured"]
    with_screen, _ = readers
    answers = with_screen.predict_many(list(mnist.x_test), errors="return")
    by_screen = np.mean([getattr(a, "answered_by", "") == "screen" for a in answers])
    assert by_screen == pytest.approx(measured["MNIST test digits answered by the screen"])
    assert np.mean(_digits(answers) == mnist.y_test) == pytest.approx(
        measured["MNIST test accuracy with the screen"]
    )


def test_the_screen_accepts_no_non_digit_the_networks_refuse(readers):
    with_screen, alone = readers
    for kind, images in gate.evaluation_negatives(80, seed=321).items():
        screened = with_screen.predict_many(images, errors="return")
        plain = alone.predict_many(images, errors="return")
        for index, (a, b) in enumerate(zip(screened, plain, strict=True)):
            if isinstance(b, NoDigitFoundError):
                assert isinstance(a, NoDigitFoundError), f"{kind} {index}: the screen took it"


def test_photographed_and_drawn_digits_read_the_same_with_the_screen(readers, mnist):
    # Phone photos (perspective, uneven light, blur, noise, JPEG), drawings on transparent
    # backgrounds and white-on-black crops of test digits: the same answers, image for image,
    # except where the two networks were unsure.
    with_screen, alone = readers
    changed, answered = 0, 0
    for kind in ("photo", "canvas", "crop"):
        for sample in synth.make_set(kind, mnist.x_test, mnist.y_test, 60, seed=77):
            try:
                first = with_screen.predict(sample.data)
            except NoDigitFoundError:
                first = None
            try:
                second = alone.predict(sample.data)
            except NoDigitFoundError:
                second = None
            answered += first is not None and first.answered_by == "screen"
            if (first and first.digit) != (second and second.digit):
                changed += 1
                assert second is None or second.confidence < 0.99, sample.notes
    assert answered >= 150, "most uploads of clear digits are answered by the screen"
    assert changed <= 2


def test_an_answer_says_which_network_gave_it(readers, mnist):
    with_screen, alone = readers
    clear = augment.to_float(mnist.x_test[:1])[0, ..., 0]
    first, second = with_screen.predict(clear), alone.predict(clear)
    assert first.digit == second.digit == int(mnist.y_test[0])
    assert first.answered_by == "screen" and second.answered_by == "classifier"
    assert first.to_dict()["answered_by"] == "screen"
    assert first.digit_score >= with_screen.screen_thresholds[1]


def test_thresholds_never_let_the_screen_take_what_the_gate_refuses():
    rng = np.random.default_rng(0)
    count = 2000
    labels = rng.integers(0, 10, count)
    teacher = np.full((count, 10), 0.001, np.float32)
    teacher[np.arange(count), labels] = 0.991
    student = teacher.copy()
    is_digit = np.arange(count) < 1500
    gate_scores = np.where(is_digit, 0.99, 0.001).astype(np.float32)
    student_scores = gate_scores.copy()
    # Ten non-digits the student is wrongly sure are digits, at 0.92; ten digits it reads as
    # another digit at 0.96.
    student_scores[1500:1510] = 0.92
    wrong = np.arange(10)
    student[wrong] = np.roll(teacher[wrong], 1, axis=1) * 0.96 / 0.991
    chosen = screen.choose_thresholds(student, student_scores, teacher, gate_scores, 0.5, is_digit)
    sure = screen.answered(
        student, student_scores, chosen["accept_probability"], chosen["accept_digit_score"]
    )
    assert not sure[1500:1510].any(), "the non-digits the gate refuses are left to it"
    assert not sure[wrong].any(), "so are the digits the screen reads otherwise"
    assert chosen["disagreements"] == 0 and chosen["digits_answered"] >= screen.ANSWER_AT_LEAST
    weak = screen.choose_thresholds(
        np.full((count, 10), 0.1, np.float32), student_scores, teacher, gate_scores, 0.5, is_digit
    )
    assert weak["accept_probability"] > 1.0, "a screen that is never sure answers nothing"


def test_the_readme_quotes_the_screen_card():
    measured = json.loads(CARD.read_text())["measured"]
    readme = (config.ROOT / "README.md").read_text()
    assert f"{measured['MNIST test digits answered by the screen']:.0%} of MNIST test" in readme
    assert f"MNIST test accuracy is {measured['MNIST test accuracy with the screen']:.2%}" in readme
    assert f"({measured['MNIST test accuracy, the two networks alone']:.2%} without;" in readme
    assert f"answers that differ: {measured['MNIST test answers that differ']} of" in readme


def test_the_screen_stands_in_only_for_the_model_it_learned_from(mnist):
    # Distilled from the default classifier, it must not answer for the seed's model (notebook 05
    # reads uploads through the pipeline with both) or any other.
    assert json.loads(CARD.read_text())["classifier"] == config.DEFAULT_ONNX.stem
    seed = Recognizer.load(config.MODELS_DIR / "seed_cnn.onnx")
    assert seed.gate is not None and seed.screen is None
    clear = augment.to_float(mnist.x_test[:1])[0, ..., 0]
    assert seed.predict(clear).answered_by == "classifier"
