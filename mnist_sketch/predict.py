"""The model's reading of a drawing: probabilities of all ten digits and the top guesses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mnist_sketch.model import INPUT_SHAPE, NUM_CLASSES
from mnist_sketch.preprocess import EMPTY_MESSAGE, EmptyDrawing, preprocess
from mnist_sketch.strokes import Strokes, frame_strokes

# Below this calibrated top probability a reading is marked uncertain. On the
# 47,274 pen-drawn renderings of benchmarks/sketch_accuracy.py it flags 1.1 % of
# drawings, which are read right only 56 % of the time (a coin flip between the
# top two), against 98.5 % for the rest; a higher threshold would mostly flag
# readings that are right (see benchmarks/RESULTS.md).
UNCERTAIN_BELOW = 0.6
# The reader averages the model over the drawing and two copies turned 10 degrees either way
# (test-time augmentation): people tilt their digits more than MNIST's writers did. On the
# benchmark's pen-drawn digits it reads about 0.1 points more right, and it lifts MNIST test
# accuracy too (benchmarks/RESULTS.md), for two more 28x28 images per model call.
VIEW_ROTATIONS_DEG = (0.0, -10.0, 10.0)
CHUNK = 1024  # images per model call in predict_batch: under 1 GB of activations with three views


@dataclass(frozen=True)
class Reading:
    """What the model reads in one drawing.

    `probabilities` is (10,) float summing to 1, or None when nothing was
    drawn; `model_input` is the (28, 28) float image in [0, 1] the model saw;
    `empty_message` says why an empty reading is empty.
    """

    probabilities: np.ndarray | None
    model_input: np.ndarray | None
    empty_message: str = EMPTY_MESSAGE

    @property
    def empty(self) -> bool:
        return self.probabilities is None

    @property
    def digit(self) -> int | None:
        return None if self.empty else int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return 0.0 if self.empty else float(np.max(self.probabilities))

    @property
    def uncertain(self) -> bool:
        return not self.empty and self.confidence < UNCERTAIN_BELOW

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The k most likely digits with their probabilities, most likely first."""
        if self.empty:
            return []
        order = np.argsort(self.probabilities)[::-1][:k]
        return [(int(d), float(self.probabilities[d])) for d in order]

    @property
    def message(self) -> str:
        """One sentence for a person: the reading, a doubt, or a request to draw."""
        if self.empty:
            return self.empty_message
        if self.uncertain:
            guesses = " or ".join(str(d) for d, _ in self.top(2))
            return f"Not sure: maybe {guesses}. Try drawing it larger and clearer."
        article = "an" if self.digit == 8 else "a"
        return f"It's {article} {self.digit} ({self.confidence:.0%} sure)."


def model_input(value: Any) -> np.ndarray:
    """`Strokes` (the pad's value), framed from the pen's path, or any image `preprocess` accepts:
    -> (28, 28) float32 in [0, 1]. Raises EmptyDrawing or InvalidDrawing."""
    return frame_strokes(value) if isinstance(value, Strokes) else preprocess(value)


def rotate(images: tf.Tensor, degrees: float) -> tf.Tensor:
    """Turn a batch (n, 28, 28, 1) clockwise by `degrees` about the image centre (bilinear, black fill)."""
    a = math.radians(degrees)
    c = (INPUT_SHAPE[0] - 1) / 2
    cos, sin = math.cos(a), math.sin(a)
    # Maps each output pixel to the input pixel it samples: the inverse rotation about the centre.
    transform = tf.constant([[cos, sin, c - cos * c - sin * c, -sin, cos, c + sin * c - cos * c, 0.0, 0.0]])
    return keras.ops.image.affine_transform(images, tf.tile(transform, [tf.shape(images)[0], 1]), fill_value=0)


class DigitReader:
    """Preprocess drawings and run the model on them, without `model.predict`'s per-call overhead.

    `rotations` are the views averaged per drawing (degrees; `(0.0,)` runs the model alone).
    """

    def __init__(self, model: keras.Model, rotations: Sequence[float] = VIEW_ROTATIONS_DEG):
        self.model = model
        self.rotations = tuple(rotations)

        def forward(x: tf.Tensor) -> tf.Tensor:
            views = tf.concat([x if angle == 0 else rotate(x, angle) for angle in self.rotations], axis=0)
            probs = model(views, training=False)  # one call for all views: (views * n, 10)
            return tf.reduce_mean(tf.reshape(probs, (len(self.rotations), -1, NUM_CLASSES)), axis=0)

        # One traced graph for every batch size; `model.predict` would rebuild its
        # data pipeline on every call, costing tens of milliseconds per request.
        self._forward = tf.function(
            forward,
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32)],
            reduce_retracing=True,
        )
        self.predict_batch(np.zeros((1, 28, 28), np.float32))  # warm up: trace and allocate now, not on the first request

    def predict_batch(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) float ink in [0, 1] -> (n, 10) float probabilities, averaged over the views.

        Runs in chunks of CHUNK images, so memory stays bounded for any n.
        """
        x = np.asarray(images, np.float32).reshape(-1, *INPUT_SHAPE)
        chunks = [self._forward(tf.constant(x[i : i + CHUNK])).numpy() for i in range(0, len(x), CHUNK)]
        return np.concatenate(chunks) if chunks else np.zeros((0, NUM_CLASSES), np.float32)

    def read(self, value: Any) -> Reading:
        """Read one drawing: `Strokes` (the pad's value) or any image `preprocess` accepts.

        Returns an empty Reading for a blank canvas; raises InvalidDrawing for input that is not a drawing.
        """
        return self.read_many([value])[0]

    def read_many(self, values: list[Any]) -> list[Reading]:
        """Read several drawings with one model call."""
        images: list[np.ndarray | EmptyDrawing] = []
        for value in values:
            try:
                images.append(model_input(value))
            except EmptyDrawing as exc:
                images.append(exc)
        drawn = [im for im in images if not isinstance(im, EmptyDrawing)]
        probs = iter(self.predict_batch(np.stack(drawn)) if drawn else [])
        return [Reading(None, None, str(im)) if isinstance(im, EmptyDrawing) else Reading(next(probs), im)
                for im in images]
