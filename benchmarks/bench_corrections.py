"""Learning from corrections, end to end: a simulated visitor corrects a systematic mistake in
the dashboard, notebook 06 learns from the corrections, and the same style is read again.

The mistake: 1s written the European way, with a long flag (:func:`digitlib.synth.flag_one`),
photographed. The committed model reads most of them as 7.

1. 200 such photos, made from MNIST *training* 1s (never notebook 03's validation split), are
   uploaded to the dashboard's code (:class:`digitlib.dashboard.Dashboard`, no browser); for each
   card that answers something other than 1, the visitor chooses 1 and presses "Save
   correction" (a refused file has no control, and nothing is saved for a right answer).
2. Notebook 06 runs on that database with the default parameters, on a copy of the committed
   models (``runs/corrections/bench/models``; the committed files are never touched).
3. The current and the new model, each as the dashboard would serve it, read photos made from
   MNIST *test* digits that no step above saw: 300 flagged 1s, 300 plain 1s, 300 plain 7s, and
   1,000 photos of all digits; notebook 06 itself reports the clean MNIST test accuracy.

Writes ``reports/corrections.json`` and ``reports/corrections.md``.
``python benchmarks/bench_corrections.py`` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from digitlib import config, data, pipeline, synth  # noqa: E402
from digitlib.dashboard import Dashboard, UploadedFile  # noqa: E402
from digitlib.errors import InvalidImageError, NoDigitFoundError  # noqa: E402
from digitlib.recognizer import Recognizer  # noqa: E402

WORK = config.RUNS_DIR / "corrections" / "bench"
MODEL_FILES = ("digit_cnn", "digit_gate", "digit_screen")


def flagged_photos(images: np.ndarray, count: int, seed: int) -> list[synth.Sample]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=count, replace=False)
    return [synth.photo(synth.flag_one(images[i], rng), 1, rng) for i in picks]


def plain_photos(images: np.ndarray, label: int, count: int, seed: int) -> list[synth.Sample]:
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=count, replace=False)
    return [synth.photo(images[i], label, rng) for i in picks]


def simulated_visitor(samples: list[synth.Sample], database: Path) -> dict:
    """Upload each photo; correct each wrong answer to the right one."""
    app = Dashboard(Recognizer.load(), corrections_db=database)
    answered = right = saved = refused = 0
    for n, sample in enumerate(samples):
        (card,) = app.handle([UploadedFile(f"flag-one-{n}.jpg", sample.data, len(sample.data))])
        if card.control is None:
            refused += 1
            continue
        answered += 1
        shown = card.control.draft().answer
        if shown == sample.label:
            right += 1
            continue
        card.control.open()  # the visitor presses "Wrong?"
        card.control.choice.value = sample.label
        if card.control.save() is not None:
            saved += 1
    return {
        "uploads": len(samples),
        "answered": answered,
        "right": right,
        "refused": refused,
        "corrections_saved": saved,
    }


def read_right(recognizer: Recognizer, samples: list[synth.Sample]) -> dict:
    right = refused = 0
    for sample in samples:
        try:
            right += str(recognizer.predict(sample.data).digit) == sample.label
        except (InvalidImageError, NoDigitFoundError):
            refused += 1
    return {
        "images": len(samples),
        "right": right,
        "refused": refused,
        "accuracy": right / len(samples),
    }


def measure(uploads: int, held: int, seed: int) -> dict:
    started = time.perf_counter()
    mnist = data.load_mnist()
    x_fit, y_fit, _, _ = data.validation_split(mnist.x_train, mnist.y_train, 5000, seed=42)
    shutil.rmtree(WORK, ignore_errors=True)
    models = WORK / "models"
    models.mkdir(parents=True)
    for name in MODEL_FILES:
        for path in config.MODELS_DIR.glob(f"{name}.*"):
            shutil.copy2(path, models / path.name)
    database = WORK / "corrections.sqlite"

    visitor = simulated_visitor(flagged_photos(x_fit[y_fit == 1], uploads, seed), database)
    print(f"simulated visitor: {visitor}", flush=True)

    executed = pipeline.run(
        "default",
        WORK / "executed",
        notebooks=("06-corrections",),
        overrides={
            "corrections_db": str(database),
            "model_dir": str(models),
            "reports_dir": str(WORK / "reports"),
            "figures_dir": str(WORK / "reports" / "figures"),
        },
        stream_output=False,
    )
    run = json.loads((WORK / "reports" / "corrections_run.json").read_text())
    print(f"notebook 06: accepted {run['accepted']}: {run.get('reasons')}", flush=True)

    test_sets = {
        "flagged 1s": flagged_photos(mnist.x_test[mnist.y_test == 1], held, seed + 1),
        "plain 1s": plain_photos(mnist.x_test[mnist.y_test == 1], 1, held, seed + 2),
        "plain 7s": plain_photos(mnist.x_test[mnist.y_test == 7], 7, held, seed + 3),
        "photos of all digits": synth.make_set(
            "photo", mnist.x_test, mnist.y_test, 1000, seed=seed + 4
        ),
    }
    readers = {
        "current": Recognizer.load(config.DEFAULT_ONNX),
        "after notebook 06": Recognizer.load(models / "digit_cnn.onnx"),
    }
    results = {
        name: {kind: read_right(reader, samples) for kind, samples in test_sets.items()}
        for name, reader in readers.items()
    }
    for name, reader in readers.items():
        results[name]["screen in use"] = reader.screen is not None
        print(name, {k: v for k, v in results[name].items()}, flush=True)
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "style": "European 1 with a long flag (digitlib.synth.flag_one), photographed",
        "visitor": visitor,
        "notebook": {
            key: run.get(key)
            for key in (
                "corrections",
                "learned_from",
                "held_out",
                "accepted",
                "reasons",
                "before",
                "after",
            )
        },
        "executed_notebook": str(executed[0].relative_to(config.ROOT)),
        "held_out_photos": results,
        "seconds": round(time.perf_counter() - started, 1),
    }


def write_report(report: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corrections.json").write_text(json.dumps(report, indent=2) + "\n")
    visitor, notebook = report["visitor"], report["notebook"]
    before, after = (
        report["held_out_photos"]["current"],
        report["held_out_photos"]["after notebook 06"],
    )
    lines = [
        "Measured by `python benchmarks/bench_corrections.py` on "
        f"{report['machine']} ({report['seconds'] / 60:.1f} min). The mistake: "
        f"{report['style']}.",
        "",
        f"A simulated visitor uploaded {visitor['uploads']} photos of flagged 1s (made from MNIST "
        f"training 1s) to the dashboard: {visitor['right']} were read as 1, "
        f'{visitor["refused"]} refused, and the visitor saved a correction ("1") on the '
        f"{visitor['corrections_saved']} others. Notebook 06 learned from "
        f"{notebook['learned_from']} of them and held {notebook['held_out']} out: "
        f"**{'accepted' if notebook['accepted'] else 'rejected'}**.",
        "",
    ]
    lines += [f"- {reason}" for reason in notebook.get("reasons") or []]
    lines += [
        "",
        "Photos of MNIST test digits that no step saw, each model as the dashboard serves it:",
        "",
        "| photos | images | current model | after notebook 06 |",
        "|---|---|---|---|",
    ]
    for kind, values in before.items():
        if kind == "screen in use":
            continue
        lines.append(
            f"| {kind} | {values['images']} | {values['accuracy']:.1%} | "
            f"{after[kind]['accuracy']:.1%} |"
        )
    lines += [
        "",
        f"The current model is served with the screen of notebook 04 "
        f"({'in use' if before['screen in use'] else 'not in use'}); the new one "
        f"{'with it' if after['screen in use'] else 'without it'} (the screen was distilled "
        "from the current model's file, and its card names that file's SHA-256).",
        "",
    ]
    (folder / "corrections.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--held", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", default=str(config.REPORTS_DIR))
    arguments = parser.parse_args(argv)
    report = measure(arguments.uploads, arguments.held, arguments.seed)
    write_report(report, Path(arguments.output))
    print((Path(arguments.output) / "corrections.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
