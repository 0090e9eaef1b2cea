"""The project's figures on the locked versions and on the newest versions the ranges allow.

``make bench-versions`` runs the benchmarks twice, in ``.venv`` (installed from
``requirements/dev.txt``) and in ``runs/newest/venv`` (``pip install -e '.[dev]'`` with no lock:
whatever the package index serves today within ``pyproject.toml``'s ranges), each into its own
folder, then this script writes ``reports/versions.md`` and ``reports/versions.json``: which
packages differ, and the figures side by side.

    python benchmarks/versions.py packages DIR      # record this interpreter's package versions
    python benchmarks/versions.py report LOCKED NEWEST
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

from digitlib import config, locks

# (label, report file, path of keys, how to show it). Accuracies are deterministic; times are
# this machine's, measured a few minutes apart, so compare them only roughly.
FIGURES = [
    ("MNIST test, pipeline", "benchmarks", ("accuracy", "clean_mnist", "digitlib"), "pct"),
    (
        "Corruption suite, pipeline",
        "benchmarks",
        ("accuracy", "corruption_suite_mean", "digitlib"),
        "pct",
    ),
    (
        "Seed model, corruption suite raw",
        "benchmarks",
        ("accuracy", "corruption_suite_mean", "seed"),
        "pct",
    ),
    ("Photo uploads", "uploads", ("accuracy", "photo", "accuracy"), "pct"),
    ("Drawing uploads", "uploads", ("accuracy", "canvas", "accuracy"), "pct"),
    ("Crop uploads", "uploads", ("accuracy", "crop", "accuracy"), "pct"),
    ("Numbers read exactly", "uploads", ("accuracy", "number", "accuracy"), "pct"),
    ("Script fonts", "uploads", ("outside_writers", "script_fonts", "accuracy"), "pct"),
    ("UCI 8x8 digits", "uploads", ("outside_writers", "uci_8x8", "accuracy"), "pct"),
    (
        "UCI 8x8, seed's naive path",
        "uploads",
        ("outside_writers", "uci_8x8", "seed_naive_accuracy"),
        "pct",
    ),
    ("Photo uploads refused", "uploads", ("accuracy", "photo", "refused"), "int"),
    ("1 MP photo, ms", "uploads", ("latency", "photo_1mp", "median_ms"), "ms"),
    ("Median of 100 1 MP photos, ms", "uploads", ("latency", "photos_1mp", "median_ms"), "ms"),
    ("12 MP JPEG, ms", "uploads", ("latency", "photo_12mp", "median_ms"), "ms"),
    ("predict_many, images/s", "uploads", ("latency", "predict_many_images_per_second"), "int"),
    ("Seed's path per 1 MP upload, ms", "uploads", ("latency", "seed_path_1mp_ms"), "ms"),
]
HOSTILE = ("uploads", ("hostile",))


def record_packages(folder: Path) -> None:
    """Write every installed distribution's version to ``folder/packages.json``."""
    versions = {
        locks.canonical(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "packages.json").write_text(json.dumps(dict(sorted(versions.items())), indent=1))


def _get(report: dict, keys: tuple[str, ...]):
    for key in keys:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def _show(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "ms":
        return f"{value:.2f}"
    return f"{value:,.0f}"


def report(locked: Path, newest: Path, output: Path) -> dict:
    """Compare two benchmark folders; write versions.md and versions.json into ``output``."""
    runs = {}
    for name, folder in (("locked", locked), ("newest", newest)):
        runs[name] = {
            "packages": json.loads((folder / "packages.json").read_text()),
            "benchmarks": json.loads((folder / "benchmarks.json").read_text()),
            "uploads": json.loads((folder / "uploads.json").read_text()),
        }
    dev = locks.read_lock(config.ROOT / "requirements" / "dev.txt")
    moved = []
    for name in sorted(dev):
        before = runs["locked"]["packages"].get(name)
        after = runs["newest"]["packages"].get(name)
        if before != after:
            moved.append((name, before, after))
    rows = []
    for label, source, keys, kind in FIGURES:
        a = _get(runs["locked"][source], keys)
        b = _get(runs["newest"][source], keys)
        rows.append({"figure": label, "locked": a, "newest": b, "kind": kind})
    hostile_a = _get(runs["locked"][HOSTILE[0]], HOSTILE[1]) or {}
    hostile_b = _get(runs["newest"][HOSTILE[0]], HOSTILE[1]) or {}
    hostile_same = {
        name: hostile_a[name]["outcome"] == hostile_b.get(name, {}).get("outcome")
        for name in hostile_a
    }
    lines = [
        "| package | locked (requirements/dev.txt) | newest allowed by pyproject.toml |",
        "|---|---|---|",
        *[f"| {name} | {a or '-'} | {b or '-'} |" for name, a, b in moved],
        "",
        "| figure | locked | newest |",
        "|---|---:|---:|",
        *[
            f"| {row['figure']} | {_show(row['locked'], row['kind'])} | "
            f"{_show(row['newest'], row['kind'])} |"
            for row in rows
        ],
        f"| Hostile files refused with the same sentence | {len(hostile_a)} | "
        f"{sum(hostile_same.values())} of {len(hostile_a)} |",
    ]
    same = _fingerprints(locked / "fingerprint.npz", newest / "fingerprint.npz")
    if same:
        lines += [
            "",
            "Answer for answer (`benchmarks/fingerprint.py`, the same stored inputs read in both):",
            "",
            "| what | differ | of |",
            "|---|---:|---:|",
            *[f"| {row['what']} | {row['differ']:,} | {row['of']:,} |" for row in same],
        ]
    result = {
        "fingerprint": same,
        "packages_moved": [{"package": n, "locked": a, "newest": b} for n, a, b in moved],
        "figures": rows,
        "hostile_same_sentence": hostile_same,
        "dates": {name: runs[name]["uploads"].get("date") for name in runs},
    }
    output.mkdir(parents=True, exist_ok=True)
    (output / "versions.json").write_text(json.dumps(result, indent=2) + "\n")
    (output / "versions.md").write_text("\n".join(lines) + "\n")
    return result


def _fingerprints(first: Path, second: Path) -> list[dict]:
    """How many answers and network inputs differ between two fingerprint runs."""
    import numpy as np

    if not (first.is_file() and second.is_file()):
        return []
    a, b = np.load(first), np.load(second)
    inputs_a, inputs_b = a["upload_inputs"], b["upload_inputs"]
    rows = [
        ("28x28 inputs (MNIST test, corruption suite): digit", a["many_digit"], b["many_digit"]),
        ("uploads: answer (digit or number, unsure flag)", a["upload_answer"], b["upload_answer"]),
        ("uploads: refusal sentence", a["upload_refusal"], b["upload_refusal"]),
    ]
    result = [
        {"what": what, "differ": int(np.sum(x != y)), "of": int(x.size)} for what, x, y in rows
    ]
    if inputs_a.shape == inputs_b.shape:
        changed = np.any(inputs_a != inputs_b, axis=(1, 2))
        largest = float(np.max(np.abs(inputs_a - inputs_b)))
        result.append(
            {
                "what": f"uploads: network input (any pixel; largest difference {largest:.2g})",
                "differ": int(changed.sum()),
                "of": int(changed.size),
            }
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("packages").add_argument("folder", type=Path)
    reporter = commands.add_parser("report")
    reporter.add_argument("locked", type=Path)
    reporter.add_argument("newest", type=Path)
    reporter.add_argument("--output", type=Path, default=config.REPORTS_DIR)
    args = parser.parse_args(argv)
    if args.command == "packages":
        record_packages(args.folder)
    else:
        report(args.locked, args.newest, args.output)
        print((args.output / "versions.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
