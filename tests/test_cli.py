"""The digitlib command line: one line per file, JSON on request, exit codes that tell."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from digitlib import cli, synth


@pytest.fixture(scope="module")
def files(tmp_path_factory, mnist):
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    photo = synth.photo(mnist.x_test[0], int(mnist.y_test[0]), rng, side=800)
    number = synth.number_photo(
        list(mnist.x_test[1:4]), [int(v) for v in mnist.y_test[1:4]], rng, side=900
    )
    paths = {
        "photo": folder / "photo.jpg",
        "number": folder / "number.jpg",
        "broken": folder / "broken.png",
        "blank": folder / "blank.png",
    }
    paths["photo"].write_bytes(photo.data)
    paths["number"].write_bytes(number.data)
    paths["broken"].write_bytes(photo.data[:3000])
    cv2.imwrite(str(paths["blank"]), np.full((300, 300), 250, np.uint8))
    return paths, photo.label, number.label


def test_predict_prints_a_line_per_file_and_exits_1_on_bad_input(files, capsys):
    paths, label, _ = files
    status = cli.main(["predict", str(paths["photo"]), str(paths["broken"]), str(paths["blank"])])
    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert lines[0].startswith(f"{paths['photo']}: {label}  confidence")
    assert "error: This JPEG file is truncated" in lines[1]
    assert "error: There is no digit in this image" in lines[2]


def test_predict_json_and_success_exit_code(files, capsys):
    paths, label, _ = files
    assert cli.main(["predict", "--json", str(paths["photo"])]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["digit"] == int(label) and len(record["probabilities"]) == 10


def test_read_number(files, capsys):
    paths, _, number = files
    assert cli.main(["read-number", "--json", str(paths["number"])]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == number and len(record["digits"]) == len(number)


def test_missing_model_is_a_usage_error(files, capsys, tmp_path):
    paths, _, _ = files
    assert cli.main(["predict", "--model", str(tmp_path / "none.onnx"), str(paths["photo"])]) == 2
    assert "No exported model" in capsys.readouterr().err


def test_a_number_given_to_predict_points_to_read_number(tmp_path, mnist, capsys):
    rng = np.random.default_rng(8)
    paths, labels = [], []
    for index in range(8):
        picks = rng.choice(len(mnist.x_test), 4, replace=False)
        number = synth.number_photo(
            [mnist.x_test[i] for i in picks], [int(mnist.y_test[i]) for i in picks], rng
        )
        paths.append(tmp_path / f"number{index}.jpg")
        paths[-1].write_bytes(number.data)
        labels.append(number.label)
    cli.main(["predict", *map(str, paths)])
    lines = capsys.readouterr().out.splitlines()
    hinted = [line for line, label in zip(lines, labels, strict=True) if f"({label}?)" in line]
    assert len(hinted) >= 4
    assert all("`digitlib read-number`" in line for line in hinted)
