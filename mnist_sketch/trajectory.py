"""The pen's path as a model reads it: a digit's ordered strokes -> a fixed-length sequence of points.

The pad sends ordered strokes; the digit CNN sees only their picture. The path model (`build_path_model`)
reads what the picture throws away: the order of the strokes, their direction, where the pen was lifted.

`path_features(strokes)` is its input, computed alike by training (`training.train_trajectory`) and by the
app (`predict.DigitReader`), from the strokes of one digit as `strokes.parse_strokes` leaves them (clipped
to the canvas, simplified): the strokes joined end to start in writing order, the jumps between them (pen
up) part of the path, resampled to POINTS points evenly spaced along it; the points centred on the digit's
box and scaled so its longer side spans [-1, 1] (the aspect kept, as the CNN's 20x20 box keeps it). Per
point, CHANNELS: x, y (y down), the path's unit direction there (dx, dy: from the point before to the
point after), the pen (1 down, 0 up), and how far the path turns from the point before (sin, 1 - cos of
the angle).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from mnist_sketch.model import NUM_CLASSES, load_weights_file

POINTS = 64  # points per digit, along its whole path
CHANNELS = 7  # x, y, dx, dy, pen, sin(turn), 1 - cos(turn)
INPUT_SHAPE = (POINTS, CHANNELS)


def path_features(strokes: Sequence[np.ndarray], points: int = POINTS) -> np.ndarray:
    """A digit's strokes ((n, 2) x, y points each, y down, any unit, in writing order) -> float32
    (points, CHANNELS) (see the module's docstring). A drawing of one point is that point, pen down,
    going nowhere."""
    xy = np.concatenate([np.asarray(s, np.float64) for s in strokes])
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    scale = 2.0 / max(float((hi - lo).max()), 1e-9)
    xy = (xy - (lo + hi) / 2) * scale
    # Segment k joins point k to k + 1: pen down within a stroke, up from a stroke's end to the next's start.
    ends = np.cumsum([len(s) for s in strokes])[:-1] - 1
    pen = np.ones(len(xy) - 1)
    pen[ends] = 0.0
    step = np.diff(xy, axis=0)
    length = np.hypot(step[:, 0], step[:, 1])
    moving = length > 1e-9
    out = np.zeros((points, CHANNELS), np.float32)
    if not moving.any():
        out[:, :2], out[:, 4] = xy[0], 1.0
        return out
    start, step, length, pen = xy[:-1][moving], step[moving], length[moving], pen[moving]
    along = np.concatenate([[0.0], np.cumsum(length)])
    at = np.linspace(0.0, along[-1], points)
    k = np.clip(np.searchsorted(along, at, side="right") - 1, 0, len(length) - 1)  # the segment each point is on
    segment = step[k] / length[k, None]
    out[:, :2] = start[k] + segment * (at - along[k])[:, None]
    # The direction between the points either side, not the segment's: a tablet's staircase of pixels
    # (UNIPEN's screen coordinates) would otherwise turn every direction into a horizontal or a vertical.
    chord = np.gradient(out[:, :2].astype(np.float64), axis=0)
    norm = np.hypot(chord[:, 0], chord[:, 1])[:, None]
    direction = np.where(norm > 1e-9, chord / np.maximum(norm, 1e-9), segment)  # where the path turns back
    out[:, 2:4] = direction
    out[:, 4] = pen[k]
    before = np.concatenate([direction[:1], direction[:-1]])
    out[:, 5] = before[:, 0] * direction[:, 1] - before[:, 1] * direction[:, 0]
    out[:, 6] = 1.0 - (before * direction).sum(axis=1)
    return out


def build_path_model() -> keras.Sequential:
    """The path model, a 1D CNN: (batch, POINTS, CHANNELS) `path_features` -> (batch, 10) probabilities."""
    def block(filters: int, width: int) -> list[keras.layers.Layer]:
        return [keras.layers.Conv1D(filters, width, padding="same", use_bias=False),
                keras.layers.BatchNormalization(), keras.layers.Activation("relu")]

    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            *block(64, 5), *block(64, 5), keras.layers.MaxPooling1D(2),
            *block(128, 3), *block(128, 3), keras.layers.MaxPooling1D(2),
            *block(192, 3), *block(192, 3), keras.layers.MaxPooling1D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(NUM_CLASSES, activation="softmax"),
        ],
        name="path_cnn",
    )


def load_path_model_file(path: str | Path) -> keras.Sequential:
    """Load a saved `trajectory.h5` into `build_path_model` (weights only; `ModelFileError` when it cannot)."""
    return load_weights_file(build_path_model, path, "path model",
                             "a trajectory.h5 written by `python -m training.train_trajectory`")
