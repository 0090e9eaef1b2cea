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
made from test digits (``digitlib.synth``, seed 2024) and 300 held-out photos of letters and
scribbles (``digitlib.gate.evaluation_negatives``) as uploads: 3,000 in all. The uploads are read
one by one and all together (``predict_many``), and 500 of them again with the stages kept for
display and by a recogniser without its screen and first look, so that every way an answer can
be reached is recorded.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from digitlib import corruptions, data, gate, synth
from digitlib.errors import InvalidImageError, NoDigitFoundError
from digitlib.recognizer import Recognizer

UPLOADS = {"photo": 1000, "canvas": 700, "crop": 700, "number": 300}
NON_DIGITS = 300  # photos of letters and scribbles, which the gate should refuse
DETAILED = 500  # uploads also read with their stages kept, and without the screen
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
    held_out = gate.evaluation_negatives(NON_DIGITS, seed=2024)["photos of letters and scribbles"]
    for photo in held_out:
        kinds.append("non-digit")
        labels.append("")
        blobs.append(np.frombuffer(photo, np.uint8))
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


def _digest(stages: dict[str, np.ndarray]) -> str:
    """One SHA-256 over the names, shapes and pixels of the stages kept for display."""
    digest = hashlib.sha256()
    for name, image in stages.items():
        digest.update(f"{name}{image.shape}{image.dtype}".encode())
        digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


def _details(predictions: list) -> dict[str, np.ndarray]:
    """Every field of each prediction (or the refusal) as arrays."""
    real = [p for p in predictions if not isinstance(p, ValueError)]
    return {
        "digit": np.array([-1 if isinstance(p, ValueError) else p.digit for p in predictions]),
        "refusal": np.array([str(p) if isinstance(p, ValueError) else "" for p in predictions]),
        "probabilities": np.stack([p.probabilities for p in real]),
        "input": np.stack([p.network_input for p in real]),
        "box": np.array([p.box for p in real]),
        "fields": np.array(
            [
                f"{p.unsure}|{p.polarity}|{p.digit_score!r}|{p.answered_by}|{p.quick_look}"
                for p in real
            ]
        ),
    }


def _read(recognizer: Recognizer, upload: bytes, kind: str, keep_stages: bool = False):
    """The digits read from one upload (one for a single digit), or the refusal."""
    if kind == "number":
        return recognizer.read_number(upload).digits
    return [recognizer.predict(upload, keep_stages=keep_stages)]


def run(inputs: Path, output: Path) -> None:
    """Read every input with the default recogniser and store what it answered."""
    stored = np.load(inputs)
    recognizer = Recognizer.load()
    many = recognizer.predict_many(list(stored["arrays"]), errors="return")
    result = {f"many_{key}": value for key, value in _details(many).items()}
    blob, offsets, kinds = stored["blob"], stored["offsets"], stored["kinds"]
    uploads = [blob[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(kinds))]
    answers, refusals, readings = [], [], []
    for upload, kind in zip(uploads, kinds, strict=True):
        try:
            digits = _read(recognizer, upload, kind)
            text = "".join(str(d.digit) for d in digits)
            unsure = any(d.unsure for d in digits)
            answers.append(text + ("?" if unsure else ""))
            refusals.append("")
            readings.extend(digits)
        except (InvalidImageError, NoDigitFoundError) as error:
            answers.append("")
            refusals.append(str(error))
    counts = [
        0 if refusal else len(answer.rstrip("?"))
        for answer, refusal in zip(answers, refusals, strict=True)
    ]
    result.update(
        {f"upload_{key}": value for key, value in _details(readings).items()},
        upload_answer=np.array(answers),
        upload_refusal=np.array(refusals),
        upload_counts=np.array(counts),
        labels=stored["labels"],
        kinds=kinds,
    )
    singles = [upload for upload, kind in zip(uploads, kinds, strict=True) if kind != "number"]
    batch = recognizer.predict_many(singles, errors="return")
    result.update({f"batch_{key}": value for key, value in _details(batch).items()})
    # Every DETAILED-th share of each kind: with the stages kept, and without screen or first look.
    step = max(1, len(uploads) // DETAILED)
    chosen = list(range(0, len(uploads), step))[:DETAILED]
    plain = Recognizer.load(screen=False, quick=False)
    stages, full = [], []
    for index in chosen:
        try:
            digits = _read(recognizer, uploads[index], kinds[index], keep_stages=True)
            stages.append("|".join(_digest(d.stages) for d in digits))
        except (InvalidImageError, NoDigitFoundError) as error:
            stages.append(str(error))
        try:
            full.extend(_read(plain, uploads[index], kinds[index]))
        except (InvalidImageError, NoDigitFoundError) as error:
            full.append(error)
    result.update(stages=np.array(stages))
    result.update({f"plain_{key}": value for key, value in _details(full).items()})
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, **result)
    right = result["upload_answer"] == stored["labels"]
    read = np.char.rstrip(result["upload_answer"], "?") == stored["labels"]
    print(
        f"{len(many):,} 28x28 inputs; {len(answers):,} uploads, {read.sum():,} read right "
        f"({right.sum():,} of them without an unsure flag; non-digits refused read right) "
        f"-> {output}"
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
