"""Behaviour fingerprint: what the serving path answers, to compare two versions bit for bit.

A refactor or a library upgrade should change no answer. This records, for a fixed set of
inputs, every network input, answer, probability, box and refusal the serving path gives, so
that two runs (two commits, or two sets of library versions) can be compared exactly:

    python benchmarks/fingerprint.py inputs runs/fingerprint/inputs.npz
    python benchmarks/fingerprint.py run runs/fingerprint/inputs.npz runs/fingerprint/a.npz
    ... (change the code or the libraries) ...
    python benchmarks/fingerprint.py run runs/fingerprint/inputs.npz runs/fingerprint/b.npz
    python benchmarks/fingerprint.py compare runs/fingerprint/a.npz runs/fingerprint/b.npz

The inputs are made once and stored (encoded uploads as bytes), because making them uses
OpenCV's encoders too: a run under other library versions then reads the same files. They are
the MNIST test set and the corruption suite (every corruption at severities 1, 3 and 5 on
1,000 test digits) as 28x28 inputs, and 1,000 photos, 700 drawings, 700 crops and 300 numbers
made from test digits (``digitlib.synth``, seed 2024) as uploads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from digitlib import corruptions, data, synth
from digitlib.errors import InvalidImageError, NoDigitFoundError
from digitlib.recognizer import Recognizer

UPLOADS = {"photo": 1000, "canvas": 700, "crop": 700, "number": 300}
SEVERITIES = (1, 3, 5)
SUITE_DIGITS = 1000


def make_inputs(path: Path) -> None:
    """Write the fixed inputs: 28x28 arrays and encoded uploads with their labels."""
    mnist = data.load_mnist()
    suite = [mnist.x_test]
    for name in corruptions.CORRUPTIONS:
        for severity in SEVERITIES:
            suite.append(corruptions.corrupt(mnist.x_test[:SUITE_DIGITS], name, severity))
    arrays = np.concatenate(suite)
    kinds, labels, blobs = [], [], []
    for kind, count in UPLOADS.items():
        for sample in synth.make_set(kind, mnist.x_test, mnist.y_test, count, seed=2024):
            kinds.append(kind)
            labels.append(sample.label)
            blobs.append(np.frombuffer(sample.data, np.uint8))
    offsets = np.cumsum([0] + [len(blob) for blob in blobs])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        arrays=arrays,
        kinds=np.array(kinds),
        labels=np.array(labels),
        blob=np.concatenate(blobs),
        offsets=offsets,
    )
    print(f"{len(arrays):,} 28x28 inputs and {len(blobs):,} uploads -> {path}")


def run(inputs: Path, output: Path) -> None:
    """Read every input with the default recogniser and store what it answered."""
    stored = np.load(inputs)
    recognizer = Recognizer.load()
    many = recognizer.predict_many(list(stored["arrays"]), errors="return")
    result = {
        "many_digit": np.array([p.digit if not isinstance(p, ValueError) else -1 for p in many]),
        "many_probabilities": np.stack(
            [p.probabilities if not isinstance(p, ValueError) else np.zeros(10) for p in many]
        ),
        "many_input": np.stack(
            [p.network_input if not isinstance(p, ValueError) else np.zeros((28, 28)) for p in many]
        ),
    }
    answers, refusals, inputs_seen, probabilities, boxes = [], [], [], [], []
    blob, offsets = stored["blob"], stored["offsets"]
    for index, kind in enumerate(stored["kinds"]):
        upload = blob[offsets[index] : offsets[index + 1]].tobytes()
        try:
            if kind == "number":
                reading = recognizer.read_number(upload)
                digits = reading.digits
                answers.append(reading.text + ("?" if reading.unsure else ""))
            else:
                prediction = recognizer.predict(upload)
                digits = [prediction]
                answers.append(str(prediction.digit) + ("?" if prediction.unsure else ""))
            refusals.append("")
        except (InvalidImageError, NoDigitFoundError) as error:
            digits = []
            answers.append("")
            refusals.append(str(error))
        inputs_seen.append(np.stack([d.network_input for d in digits]) if digits else None)
        probabilities.append(np.stack([d.probabilities for d in digits]) if digits else None)
        boxes.append([d.box for d in digits])
    counts = np.array([0 if x is None else len(x) for x in inputs_seen])
    result.update(
        upload_answer=np.array(answers),
        upload_refusal=np.array(refusals),
        upload_counts=counts,
        upload_inputs=np.concatenate([x for x in inputs_seen if x is not None]),
        upload_probabilities=np.concatenate([x for x in probabilities if x is not None]),
        upload_boxes=np.array([box for row in boxes for box in row]),
        labels=stored["labels"],
        kinds=stored["kinds"],
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, **result)
    right = result["upload_answer"] == stored["labels"]
    plain = np.char.rstrip(result["upload_answer"], "?") == stored["labels"]
    print(
        f"{len(many):,} 28x28 inputs; {len(answers):,} uploads, {plain.sum():,} read right "
        f"({right.sum():,} of them without an unsure flag) -> {output}"
    )


def compare(first: Path, second: Path) -> int:
    """Print what differs between two runs; exit status 1 if anything does."""
    a, b = np.load(first), np.load(second)
    differences = 0
    for key in sorted(a.files):
        x, y = a[key], b[key]
        if x.shape != y.shape:
            print(f"{key}: shapes differ, {x.shape} vs {y.shape}")
            differences += 1
            continue
        same = np.array_equal(x, y)
        if same:
            detail = ""
        elif x.dtype.kind in "fc":
            detail = f", largest difference {np.max(np.abs(x - y)):.3g}"
        else:
            detail = f", {int(np.sum(x != y))} of {x.size} differ"
        print(f"{key}: {'identical' if same else 'DIFFERENT'} {x.shape}{detail}")
        differences += not same
    print("bit-identical" if not differences else f"{differences} arrays differ")
    return int(bool(differences))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("inputs").add_argument("path", type=Path)
    runner = commands.add_parser("run")
    runner.add_argument("inputs", type=Path)
    runner.add_argument("output", type=Path)
    comparer = commands.add_parser("compare")
    comparer.add_argument("first", type=Path)
    comparer.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    if args.command == "inputs":
        make_inputs(args.path)
    elif args.command == "run":
        run(args.inputs, args.output)
    else:
        return compare(args.first, args.second)
    return 0


if __name__ == "__main__":
    sys.exit(main())
