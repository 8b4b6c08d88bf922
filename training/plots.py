"""The two figures of the model card: training curves and the test confusion matrix."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np


def plot_training_curves(history_csv: Path, out: Path) -> None:
    """Loss and accuracy per epoch, training and validation, from Keras' CSVLogger file."""
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        ax.plot(epochs, [float(r[key]) for r in rows], label="training (augmented)")
        ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], label="validation")
        ax.set(title=title, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_confusion_matrix(confusion: np.ndarray, out: Path) -> None:
    """A (10, 10) matrix of counts, true digit by row, predicted digit by column."""
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(np.log1p(confusion), cmap="Blues")
    for (i, j), n in np.ndenumerate(confusion):
        if n:
            ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                    color="white" if i == j else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
           title=f"MNIST test set ({confusion.sum()} images)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
