"""Two commits side by side: the serving path's speed on this machine, in one run.

A refactor should leave the figures of ``make bench`` unchanged, but the same figure measured
on two days differs by more than any refactor (these machines are shared and noisy). This runs
the same probes on an earlier commit (checked out into ``runs/commits/``) and on the working
tree, alternating between them round after round, and reports each side's median and their
ratio:

    python benchmarks/bench_commits.py cbb67f1~1         # -> reports/commits.{json,md}

The probes use only the public API (``Recognizer``), so any two versions can be compared: one
1 MP photo (with and without the first look, without the screen), 100 different 1 MP photos,
one 12 MP photo, a 5-digit number, and ``predict_many`` on 5,000 28x28 test digits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from digitlib import config

PROBE = r"""
import json, statistics, sys, time
import numpy as np
from digitlib import Recognizer, data, synth

def median_ms(call, repeats):
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)

mnist = data.load_mnist()
rng = np.random.default_rng(7)
photo = synth.photo(mnist.x_test[0], int(mnist.y_test[0]), rng, side=1000).data
big = synth.photo(mnist.x_test[1], int(mnist.y_test[1]), rng, side=4000).data
photos = [synth.photo(mnist.x_test[i], int(mnist.y_test[i]), rng, side=1000).data
          for i in range(2, 102)]
number = synth.number_photo(
    list(mnist.x_test[102:107]), [int(v) for v in mnist.y_test[102:107]], rng, side=1200
).data
project = Recognizer.load()
full_size = Recognizer.load(quick=False)
networks = Recognizer.load(screen=False)
batch = list(mnist.x_test[:5000])
project.predict_many(batch[:256], errors="return")
start = time.perf_counter()
project.predict_many(batch, errors="return")
many = len(batch) / (time.perf_counter() - start)
print(json.dumps({
    "one 1 MP photo (ms)": median_ms(lambda: project.predict(photo), 40),
    "one 1 MP photo, full work size (ms)": median_ms(lambda: full_size.predict(photo), 40),
    "one 1 MP photo, without the screen (ms)": median_ms(lambda: networks.predict(photo), 40),
    "100 different 1 MP photos, median (ms)": statistics.median(
        median_ms(lambda p=p: project.predict(p), 3) for p in photos),
    "one 12 MP photo (ms)": median_ms(lambda: project.predict(big), 8),
    "a 5-digit number (ms)": median_ms(lambda: project.read_number(number), 10),
    "predict_many, 28x28 digits (images/s)": many,
}))
"""


def worktree(ref: str) -> Path:
    """The commit ``ref`` checked out (read only use) under runs/commits/, with the data."""
    commit = subprocess.run(
        ["git", "rev-parse", ref], cwd=config.ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    path = config.RUNS_DIR / "commits" / commit[:12]
    if not path.is_dir():
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-f", str(path), commit],
            cwd=config.ROOT,
            check=True,
            capture_output=True,
        )
    mnist = path / "data" / "mnist"
    if not mnist.exists():
        mnist.symlink_to(config.MNIST_DIR.resolve(), target_is_directory=True)
    return path


def probe(root: Path) -> dict[str, float]:
    """One round of the probes, in a fresh process importing digitlib from ``root``."""
    environment = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the earlier commit (any git revision)")
    parser.add_argument("--rounds", type=int, default=4, help="alternations (default 4)")
    parser.add_argument("--output", default=str(config.REPORTS_DIR))
    args = parser.parse_args(argv)
    sides = {"before": worktree(args.before), "after": config.ROOT}
    rounds: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for index in range(args.rounds):
        for name in ("before", "after") if index % 2 == 0 else ("after", "before"):
            rounds[name].append(probe(sides[name]))
            print(f"round {index + 1} {name}: {rounds[name][-1]}", flush=True)
    keys = list(rounds["after"][0])
    medians = {
        name: {key: statistics.median(r[key] for r in results) for key in keys}
        for name, results in rounds.items()
    }
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "before": args.before,
        "rounds": args.rounds,
        "medians": medians,
        "ratio_after_over_before": {k: medians["after"][k] / medians["before"][k] for k in keys},
        "all_rounds": rounds,
    }
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "commits.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# `{args.before}` against the working tree, side by side",
        "",
        f"Medians of {args.rounds} alternating rounds, each a fresh process "
        "(`benchmarks/bench_commits.py`).",
        "",
        "| probe | before | after | after / before |",
        "|---|---:|---:|---:|",
    ]
    for key in keys:
        before, after = medians["before"][key], medians["after"][key]
        digits = 0 if before > 100 else 2
        lines.append(
            f"| {key} | {before:,.{digits}f} | {after:,.{digits}f} | {after / before:.3f} |"
        )
    lines += ["", f"Measured {report['date']} by `benchmarks/bench_commits.py`."]
    (folder / "commits.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
