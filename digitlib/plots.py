"""Figures for the notebooks and README. Each function returns a Matplotlib figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from digitlib.config import NUM_CLASSES


def save(figure: plt.Figure, path: Path | str, dpi: int = 110) -> Path:
    """Save a figure as PNG, creating the folder, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _image_axis(axis, image, title=None, color="black"):
    axis.imshow(np.squeeze(image), cmap="gray", vmin=0, vmax=np.max([1.0, np.max(image)]))
    axis.set_xticks([])
    axis.set_yticks([])
    if title is not None:
        axis.set_title(title, fontsize=8, color=color)


def sample_grid(images: np.ndarray, labels: np.ndarray, per_class: int = 8) -> plt.Figure:
    """``per_class`` examples of every digit, one row per class."""
    figure, axes = plt.subplots(
        NUM_CLASSES, per_class, figsize=(per_class * 0.9, NUM_CLASSES * 0.9)
    )
    for digit in range(NUM_CLASSES):
        picks = np.flatnonzero(labels == digit)[:per_class]
        for column, index in enumerate(picks):
            _image_axis(axes[digit, column], images[index])
        axes[digit, 0].set_ylabel(str(digit), rotation=0, labelpad=10, fontsize=11)
    figure.suptitle("MNIST training images, by class")
    return figure


def class_balance(train_labels: np.ndarray, test_labels: np.ndarray) -> plt.Figure:
    """Bar chart of images per class in the training and test splits."""
    figure, axis = plt.subplots(figsize=(7, 3))
    digits = np.arange(NUM_CLASSES)
    for offset, labels, name in ((-0.2, train_labels, "train"), (0.2, test_labels, "test")):
        counts = np.bincount(labels, minlength=NUM_CLASSES)
        share = counts / counts.sum() * 100
        axis.bar(digits + offset, share, width=0.4, label=f"{name} ({len(labels):,})")
    axis.set_xticks(digits)
    axis.set_xlabel("digit")
    axis.set_ylabel("share of split (%)")
    axis.legend()
    axis.set_title("Class balance")
    return figure


def augmentation_grid(originals: np.ndarray, rows: dict[str, np.ndarray]) -> plt.Figure:
    """Originals on top, then one row per named augmentation of the same images."""
    names = ["original", *rows]
    columns = len(originals)
    figure, axes = plt.subplots(len(names), columns, figsize=(columns * 0.9, len(names) * 1.0))
    for row, name in enumerate(names):
        images = originals if name == "original" else rows[name]
        for column in range(columns):
            _image_axis(axes[row, column], images[column])
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    return figure


def training_curves(history: dict, best_epoch: int, title: str = "Training") -> plt.Figure:
    """The seed's figure: training/validation loss and accuracy per epoch, best epoch marked."""
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4))
    loss_axis.plot(epochs, history["loss"], label="training loss")
    loss_axis.plot(epochs, history["val_loss"], label="validation loss")
    acc_axis.plot(epochs, history["accuracy"], label="training accuracy")
    acc_axis.plot(epochs, history["val_accuracy"], label="validation accuracy")
    best_acc = history["val_accuracy"][best_epoch - 1]
    for axis in (loss_axis, acc_axis):
        axis.axvline(
            best_epoch,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"best epoch ({best_epoch})",
        )
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    acc_axis.scatter([best_epoch], [best_acc], color="black", zorder=3)
    acc_axis.annotate(
        f"{best_acc:.4f}", (best_epoch, best_acc), textcoords="offset points", xytext=(-10, -15)
    )
    acc_axis.set_ylim(max(0.9, min(history["val_accuracy"]) - 0.01), 1.0)
    loss_axis.set_ylabel("loss")
    acc_axis.set_ylabel("accuracy")
    loss_axis.set_yscale("log")
    figure.suptitle(title)
    return figure


def confusion_matrix_plot(matrix: np.ndarray, title: str = "Confusion matrix") -> plt.Figure:
    """Counts with the diagonal de-emphasised so the mistakes stand out."""
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    figure, axis = plt.subplots(figsize=(6, 5.4))
    shown = axis.imshow(off_diagonal, cmap="Reds")
    for true in range(NUM_CLASSES):
        for predicted in range(NUM_CLASSES):
            value = matrix[true, predicted]
            if value:
                axis.text(
                    predicted,
                    true,
                    str(value),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="grey" if true == predicted else "black",
                )
    axis.set_xticks(range(NUM_CLASSES))
    axis.set_yticks(range(NUM_CLASSES))
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    figure.colorbar(shown, ax=axis, label="mistakes")
    return figure


def mistakes_grid(images, labels, probabilities, indices, columns: int = 8) -> plt.Figure:
    """The given test images with true label, prediction and confidence."""
    rows = max(1, int(np.ceil(len(indices) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.45), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, indices, strict=False):
        predicted = int(np.argmax(probabilities[index]))
        title = f"true {labels[index]} → {predicted}\n{probabilities[index, predicted]:.1%}"
        _image_axis(axis, images[index], title, color="firebrick")
        axis.axis("on")
    figure.suptitle("Most confident mistakes")
    return figure


def reliability_diagram(curves: dict[str, dict]) -> plt.Figure:
    """Accuracy against confidence per bin for one or more models, with their ECE."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(
        [0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration"
    )
    for name, calib in curves.items():
        conf = np.array(calib["bin_confidence"], dtype=float)
        acc = np.array(calib["bin_accuracy"], dtype=float)
        keep = ~np.isnan(conf)
        axis.plot(conf[keep], acc[keep], marker="o", label=f"{name} (ECE {calib['ece']:.2%})")
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(loc="upper left")
    axis.set_title("Reliability diagram (MNIST test)")
    return figure


def per_class_plot(reports: dict[str, dict]) -> plt.Figure:
    """Precision and recall per class for each model."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
    digits = np.arange(NUM_CLASSES)
    width = 0.8 / max(len(reports), 1)
    for position, (name, report) in enumerate(reports.items()):
        for axis, metric in zip(axes, ("precision", "recall"), strict=True):
            axis.bar(digits + position * width - 0.4 + width / 2, report[metric], width, label=name)
    for axis, metric in zip(axes, ("precision", "recall"), strict=True):
        axis.set_xticks(digits)
        axis.set_xlabel("digit")
        axis.set_title(metric)
        axis.set_ylim(0.97, 1.0)
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend()
    return figure


def corruption_heatmap(rows: list[dict], title: str = "Accuracy under corruption") -> plt.Figure:
    """Mean accuracy over severities: corruptions down, (model, path) across."""
    names = list(dict.fromkeys(row["corruption"] for row in rows))
    columns = list(dict.fromkeys((row["model"], row["path"]) for row in rows))
    table = np.array(
        [
            [
                np.mean(
                    [
                        r["accuracy"]
                        for r in rows
                        if r["corruption"] == name and (r["model"], r["path"]) == column
                    ]
                )
                for column in columns
            ]
            for name in names
        ]
    )
    figure, axis = plt.subplots(figsize=(1.6 * len(columns) + 2.5, 0.32 * len(names) + 1.6))
    image = axis.imshow(table, cmap="RdYlGn", vmin=0.5, vmax=1.0, aspect="auto")
    for (i, j), value in np.ndenumerate(table):
        axis.text(j, i, f"{value:.1%}", ha="center", va="center", fontsize=7)
    axis.set_xticks(range(len(columns)), [f"{m}\n{p}" for m, p in columns], fontsize=8)
    axis.set_yticks(range(len(names)), names, fontsize=8)
    figure.colorbar(image, ax=axis, fraction=0.04)
    axis.set_title(title)
    figure.tight_layout()
    return figure


def failures_grid(failures: list[tuple], title: str, columns: int = 8) -> plt.Figure:
    """Corrupted digits the pipeline got wrong: (image, truth, answer, corruption)."""
    rows = max(1, int(np.ceil(len(failures) / columns)))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.6), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (image, truth, answer, name) in zip(axes.flat, failures, strict=False):
        _image_axis(axis, image, f"{name}\n{truth} → {answer}", color="firebrick")
    figure.suptitle(title)
    figure.tight_layout()
    return figure
