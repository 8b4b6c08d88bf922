"""Confidence calibration: temperature scaling folded into the model's last layer."""

from __future__ import annotations

import keras
import numpy as np

ECE_BINS = 15


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of (n, 10) probabilities against (n,) labels: the mean |accuracy - confidence| over
    equal-width confidence bins, weighted by how many predictions fall in each bin (0 = perfect)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true labels."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) from softmax(logits): log-probabilities differ from logits by a constant."""
    scaled = np.log(np.clip(probs, 1e-30, 1.0)) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T > 0 minimising the cross-entropy of `apply_temperature(probs, T)`.

    A coarse log-spaced grid, then a fine one around its best point: the
    objective is smooth and one-dimensional, so this is exact enough (0.1 %).
    """
    grid = np.geomspace(0.05, 20.0, 121)
    best = grid[np.argmin([cross_entropy(apply_temperature(probs, t), labels) for t in grid])]
    fine = np.geomspace(best / 1.06, best * 1.06, 121)
    return float(fine[np.argmin([cross_entropy(apply_temperature(probs, t), labels) for t in fine])])


def fold_temperature(model: keras.Model, temperature: float) -> None:
    """Divide the last Dense layer's kernel and bias by T, so the model itself outputs
    softmax(logits / T): same architecture and file format, calibrated probabilities."""
    last = model.layers[-1]
    kernel, bias = last.get_weights()
    last.set_weights([kernel / temperature, bias / temperature])
