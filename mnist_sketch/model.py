"""The digit CNN: its architecture and safe loading of a saved model file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


class ModelFileError(RuntimeError):
    """A model file that is missing, unreadable or not this architecture."""


def build_model() -> keras.Sequential:
    """The seed CNN: (batch, 28, 28, 1) ink in [0, 1] -> (batch, 10) probabilities."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Conv2D(128, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu", kernel_regularizer=keras.regularizers.L2(0.001)),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="mnist_cnn",
    )


def load_weights_file(build: Callable[[], keras.Model], path: str | Path, what: str = "model",
                      expected: str = "an mnist.h5 written by `python -m training.train`") -> keras.Model:
    """`build()` with its weights loaded from the file at `path`.

    Only weights are read, so a file can never run code of its own (unlike
    deserialising a whole model). Any file that is missing, corrupt, holds
    another architecture or weights that are not finite numbers (NaN or infinity:
    every reading would be NaN) raises `ModelFileError` naming the file (`what`
    names the model, `expected` the file that was expected).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{what.capitalize()} file not found: {path}")
    model = build()
    try:
        model.load_weights(path)
    except Exception as exc:  # h5py, Keras and OS errors all mean "not a usable model file"
        raise ModelFileError(
            f"Cannot load {what} weights from {path}: {exc.__class__.__name__}: {exc}. Expected {expected}."
        ) from exc
    not_finite = sum(int(np.size(w) - np.isfinite(w).sum()) for w in model.get_weights())
    if not_finite:
        raise ModelFileError(f"Cannot load {what} weights from {path}: {not_finite:,} of its weights are not finite "
                             f"numbers (NaN or infinity), so it cannot read anything. Expected {expected}.")
    return model


def load_model_file(path: str | Path) -> keras.Sequential:
    """Load a saved `mnist.h5` into the architecture built in code (`load_weights_file`)."""
    return load_weights_file(build_model, path)
