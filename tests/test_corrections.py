"""The corrections store (digitlib.corrections), its command line, and the "Save correction"
control on the dashboard's cards and drawing pad (digitlib.feedback), without a browser."""

from __future__ import annotations

import csv
import hashlib
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from digitlib import cli, corrections, dashboard, synth
from digitlib.corrections import Correction, CorrectionNotSaved
from digitlib.recognizer import Recognizer


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer.load()


@pytest.fixture
def db(tmp_path):
    return tmp_path / "store" / "corrections.sqlite"


@pytest.fixture(scope="module")
def photos(mnist):
    rng = np.random.default_rng(28)
    return [synth.photo(mnist.x_test[i], int(mnist.y_test[i]), rng, side=600) for i in range(6)]


def _correction(index: int, label: str = "7") -> Correction:
    rng = np.random.default_rng(index)
    inputs = rng.random((1, 28, 28)).astype(np.float32)
    return Correction(
        source="upload",
        file_name=f"photo-{index}.jpg",
        mode="digit",
        original=f"not really a jpeg {index}".encode() + rng.bytes(64),
        network_input=inputs,
        answer="1",
        probabilities=[[0.0, 0.9] + [0.0125] * 8],
        label=label,
        model_sha256="ab" * 32,
    )


def test_a_saved_correction_comes_back_whole(db):
    made = _correction(1)
    row = corrections.save(made, db)
    (back,) = corrections.load(db)
    assert back.id == row == 1
    assert back.original == made.original and back.original_sha256 == made.original_sha256
    assert back.label == "7" and back.answer == "1" and back.wrong
    assert back.probabilities == made.probabilities and back.model_sha256 == "ab" * 32
    # The input is stored as 8-bit pixels: within half a grey level of what the network saw.
    assert back.network_input.shape == (1, 28, 28) and back.network_input.dtype == np.uint8
    assert np.abs(back.network_input / 255.0 - made.network_input).max() <= 0.5 / 255 + 1e-6
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_database_path_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLIB_CORRECTIONS_DB", str(tmp_path / "elsewhere.sqlite"))
    corrections.save(_correction(2))
    assert len(corrections.load(tmp_path / "elsewhere.sqlite")) == 1
    monkeypatch.delenv("DIGITLIB_CORRECTIONS_DB")
    assert corrections.database_path() == corrections.DEFAULT_DB


def test_fifty_concurrent_saves_lose_nothing(db):
    start = threading.Barrier(50)

    def one(index: int) -> int:
        start.wait()  # all fifty at the same moment
        return corrections.save(_correction(index, label=str(index % 10)), db)

    with ThreadPoolExecutor(50) as pool:
        ids = list(pool.map(one, range(50)))
    stored = corrections.load(db)
    assert sorted(ids) == list(range(1, 51))
    assert len(stored) == 50
    assert {item.file_name for item in stored} == {f"photo-{i}.jpg" for i in range(50)}
    for item in stored:
        index = int(item.file_name.split("-")[1].split(".")[0])
        assert item.original == _correction(index).original and item.label == str(index % 10)


def test_a_save_waits_for_another_writer_then_goes_in(db):
    corrections.save(_correction(1), db)
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another visitor's save, still in its transaction
    timer = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    timer.start()
    try:
        corrections.save(_correction(2), db)
    finally:
        timer.join()
        holder.close()
    assert len(corrections.load(db)) == 2


def test_a_database_locked_too_long_gives_a_sentence_and_keeps_its_rows(db, monkeypatch):
    corrections.save(_correction(1), db)
    monkeypatch.setattr(corrections, "BUSY_SECONDS", 0.2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(CorrectionNotSaved, match="database is busy. Please press Save again"):
            corrections.save(_correction(2), db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [item.file_name for item in corrections.load(db)] == ["photo-1.jpg"]


def test_a_damaged_database_is_never_overwritten(db):
    for index in range(3):
        corrections.save(_correction(index), db)
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    raw[:100] = b"\x00garbage" * 12 + b"\x00" * 4  # the header gone: "not a database"
    db.write_bytes(bytes(raw))
    with pytest.raises(CorrectionNotSaved) as caught:
        corrections.save(_correction(9), db)
    assert "damaged" in str(caught.value) and "already in it are kept" in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert db.read_bytes() == bytes(raw)  # left exactly as it was, for its owner to recover


def test_export_and_import_round_trip(db, tmp_path, capsys, photos):
    made = []
    for index, photo in enumerate(photos[:3]):
        item = _correction(index, label=photo.label)
        item.original = photo.data  # a real JPEG: exported as .jpg
        made.append(item)
        corrections.save(item, db)
    number = _correction(7, label="305")
    number.mode, number.network_input = "number", np.random.default_rng(3).random((3, 28, 28))
    number.probabilities = [[0.1] * 10] * 3
    corrections.save(number, db)

    out = tmp_path / "export"
    assert cli.main(["corrections", "--db", str(db), "export", str(out)]) == 0
    assert "exported 4 correction(s)" in capsys.readouterr().out
    with (out / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["label"] for row in rows] == [p.label for p in photos[:3]] + ["305"]
    assert rows[0]["original"].endswith(".jpg") and (out / rows[0]["original"]).read_bytes() == (
        photos[0].data
    )

    other = tmp_path / "other.sqlite"
    assert cli.main(["corrections", "--db", str(other), "import", str(out)]) == 0
    assert "imported 4 correction(s)" in capsys.readouterr().out
    again = cli.main(["corrections", "--db", str(other), "import", str(out)])
    assert again == 0 and "imported 0 correction(s)" in capsys.readouterr().out
    first, second = corrections.load(db), corrections.load(other)
    assert len(second) == 4
    for a, b in zip(first, second, strict=True):
        assert (a.original, a.label, a.answer, a.saved_at) == (
            b.original,
            b.label,
            b.answer,
            b.saved_at,
        )
        assert np.array_equal(a.network_input, b.network_input)

    assert cli.main(["corrections", "--db", str(other), "list"]) == 0
    listing = capsys.readouterr().out
    assert "4 correction(s)" in listing and "right 305" in listing


def test_an_import_that_does_not_match_its_files_adds_nothing(db, tmp_path, capsys):
    corrections.save(_correction(1), db)
    out = tmp_path / "export"
    corrections.export(out, db)
    original = next((out / "originals").iterdir())
    original.write_bytes(b"swapped for another file")
    target = tmp_path / "target.sqlite"
    assert cli.main(["corrections", "--db", str(target), "import", str(out)]) == 1
    error = capsys.readouterr().err
    assert "labels.csv line 2" in error and "is not the file that was exported" in error
    assert corrections.load(target) == []
    assert cli.main(["corrections", "--db", str(target), "import", str(tmp_path)]) == 1
    assert "not an export of corrections" in capsys.readouterr().err


def test_list_on_a_damaged_database_says_so(tmp_path, capsys):
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"this is no database" * 100)
    assert cli.main(["corrections", "--db", str(broken), "list"]) == 1
    assert "damaged" in capsys.readouterr().err


def test_training_set_takes_digits_and_numbers_cut_into_as_many_pieces():
    digit = _correction(1, label="4")
    refusal = _correction(2, label=corrections.NOT_A_DIGIT)
    number = _correction(3, label="52")
    number.network_input = np.zeros((2, 28, 28))
    miscut = _correction(4, label="123")  # read as one piece: no input per digit
    inputs, labels = corrections.training_set([digit, refusal, number, miscut])
    assert inputs.shape == (3, 28, 28) and labels.tolist() == [4, 5, 2]


# The dashboard's control -----------------------------------------------------------------------


@pytest.fixture
def app(recognizer, db):
    return dashboard.Dashboard(recognizer, corrections_db=db)


def _saved(control) -> str:
    return re.sub(r"<[^>]+>", "", control.status.value)


def test_a_card_saves_its_correction_only_when_asked(app, db, photos):
    photo = photos[0]
    (card,) = app.handle([dashboard.UploadedFile("photo.jpg", photo.data, len(photo.data))])
    assert "digit-result" in card._dom_classes
    control = card.control
    # Until used, the control is one "Wrong?" button on the card (a widget costs the browser
    # time to render, and every card carries one); pressing it puts the full control there.
    assert card.children[-1] is control.opener and control.choice is None
    assert "digit-correct-open" in control.opener._dom_classes
    control.opener.click()
    assert card.children[-1] is control.widget and "digit-correct" in control.widget._dom_classes
    assert control.choice in control.widget.children and control.button in control.widget.children
    assert not db.exists()  # nothing stored before the user saves
    control.button.click()
    assert _saved(control) == "First choose the right answer." and not db.exists()
    control.choice.value = "3"
    control.button.click()
    (row,) = corrections.load(db)
    answer = re.search(r'class="digit-prediction">([^<]*)<', card.value).group(1)
    assert row.original == photo.data and row.file_name == "photo.jpg" and row.source == "upload"
    assert row.label == "3" and row.answer == answer and len(row.probabilities[0]) == 10
    model = hashlib.sha256(app.recognizer.model_path.read_bytes()).hexdigest()
    assert row.model_sha256 == model
    assert row.network_input.shape == (1, 28, 28) and row.network_input.max() > 200
    assert _saved(control) == "Saved (correction 1): the right answer is 3. Thank you."
    assert control.button.disabled  # one correction per card


def test_a_number_card_takes_the_right_number_typed(app, db, mnist):
    rng = np.random.default_rng(5)
    picks = [11, 12, 13]
    number = synth.number_photo(
        [mnist.x_test[i] for i in picks], [int(mnist.y_test[i]) for i in picks], rng
    )
    app.mode.value = "number"
    (card,) = app.handle([dashboard.UploadedFile("amount.jpg", number.data, len(number.data))])
    control = card.control
    control.open()
    assert isinstance(control.choice, dashboard.widgets.Text)
    control.choice.value = "12a"
    control.save()
    assert "digits" in _saved(control) and not db.exists()
    control.choice.value = " 9 01 "
    control.save()
    (row,) = corrections.load(db)
    assert row.mode == "number" and row.label == "901" and row.original == number.data
    assert len(row.network_input) == len(row.probabilities) == len(row.answer)


def test_a_refused_file_has_no_correction_control(app):
    (card,) = app.handle([dashboard.UploadedFile("notes.txt", b"plain text, no image", 20)])
    assert card.control is None and "digit-error" in card.value


def test_a_damaged_database_shows_a_sentence_on_the_card(app, db, photos):
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database at all" * 50)
    (card,) = app.handle([dashboard.UploadedFile("p.jpg", photos[1].data, len(photos[1].data))])
    card.control.open()
    card.control.choice.value = "8"
    card.control.save()
    text = _saved(card.control)
    assert text.startswith("The correction could not be saved: the corrections database is")
    assert "damaged" in text and "Traceback" not in card.control.status.value
    assert not card.control.button.disabled  # the user may try again once it is mended


def test_the_drawing_pad_saves_the_drawing_and_its_answer(app, db):
    pad = app.drawing
    pad.correction.opener.click()
    assert pad.widget.children[-1] is pad.correction.widget
    pad.correction.choice.value = "1"
    pad.correction.save()
    assert _saved(pad.correction) == "Nothing to correct yet." and not db.exists()
    pad.draw([(140, 40), (140, 240)])
    pad.correction.save()
    (row,) = corrections.load(db)
    assert row.source == "drawing" and row.label == "1" and row.answer == str(pad.last.digit)
    drawing = dashboard.imageio.load(row.original).pixels
    assert drawing.shape[:2] == (dashboard.CANVAS_SIDE, dashboard.CANVAS_SIDE)
    assert (drawing < 128).sum() > 2000  # the stroke is in the stored drawing
    pad.clear()
    assert not pad.correction.button.disabled and pad.correction.status.value == ""
