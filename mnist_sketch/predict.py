"""The model's reading of a drawing: each digit's probabilities, and the most likely readings of the whole."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import keras
import numpy as np
import tensorflow as tf

from mnist_sketch.model import INPUT_SHAPE, NUM_CLASSES
from mnist_sketch.number_strip import STRIP_SIZE, Strip, StripDigit, digit_inputs, strip_digits
from mnist_sketch.preprocess import EMPTY_MESSAGE, EmptyDrawing, InvalidDrawing
from mnist_sketch.segment import MAX_DIGITS, TOO_MANY, Drawing, split
from mnist_sketch.trajectory import INPUT_SHAPE as PATH_SHAPE
from mnist_sketch.trajectory import path_features

# Below this calibrated top probability a reading is marked uncertain. On the
# 47,274 pen-drawn renderings of benchmarks/sketch_accuracy.py it flags 1.1 % of
# drawings, which are read right only 56 % of the time (a coin flip between the
# top two), against 98.5 % for the rest; a higher threshold would mostly flag
# readings that are right (see benchmarks/HISTORY.md). Re-checked on the pad's strokes fused with the
# path model: it flags 0.48 % of dev digits, 53 % of them right, against 99.47 % (benchmarks/RESULTS.md).
UNCERTAIN_BELOW = 0.6
# The reader averages the model over the drawing and two copies turned 10 degrees either way
# (test-time augmentation): people tilt their digits more than MNIST's writers did. On the
# benchmark's pen-drawn digits it reads about 0.1 points more right, and it lifts MNIST test
# accuracy too (benchmarks/HISTORY.md), for two more 28x28 images per model call.
VIEW_ROTATIONS_DEG = (0.0, -10.0, 10.0)
CHUNK = 1024  # images per model call in predict_batch: under 1 GB of activations with three views
# An image is also read whole by the number reader (`number_model`), which reads digits that touch
# or cross. Where it finds as many digits as the splitter, each digit's probabilities are the mean
# of the two readers'. Where it finds another count, its reading is kept, except over a one-digit
# reading: that stands unless the digit CNN is under ONE_DIGIT_SURE sure of it, the ink is at least
# NUMBER_ASPECT times as wide as high, and the number reader is at least SEQUENCE_SURE sure of all
# its digits. These were chosen on benchmarks/number_accuracy.py's numbers and sketch_accuracy.py's
# single digits (benchmarks/HISTORY.md), re-chosen for the number reader that learnt pen styles: over
# the last rule (0.99, 1.0, 0.7) they gain 95 numbers of 7,200 instead of 69, and turn no single digit
# into two (3 before) nor lose one read right (3 before).
ONE_DIGIT_SURE = 0.999
NUMBER_ASPECT = 0.9
SEQUENCE_SURE = 0.95
# A stroke drawing's digits are read by the path model too (`mnist_sketch.trajectory`), on each option's own
# strokes: each digit's probabilities are the weighted geometric mean of the CNN's and the path model's,
# PATH_WEIGHT the path model's share (`fuse`). Chosen on the dev split by benchmarks/sketch_accuracy.py.
PATH_WEIGHT = 0.5


def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 4 -> '4th' (up to 12 digits are read)."""
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


@dataclass(frozen=True)
class Reading:
    """What the model reads in one drawing: its digits, left to right.

    `probabilities` holds each digit's (10,) probabilities (summing to 1) and
    `inputs` the (28, 28) float images in [0, 1] the model saw; both are empty
    when nothing readable was drawn, and `empty_message` then says why.
    """

    probabilities: tuple[np.ndarray, ...] = ()
    inputs: tuple[np.ndarray, ...] = ()
    empty_message: str = EMPTY_MESSAGE

    @property
    def empty(self) -> bool:
        return not self.probabilities

    def top(self, k: int = 3, least: float = 0.0) -> list[tuple[str, float]]:
        """The k most likely readings of the whole drawing with their probabilities, most likely first.

        A reading's probability is the product of its digits' (each digit is
        read on its own): "7" 0.97, or "2026" 0.91, "2028" 0.05, ... A number's
        readings under `least` after the first are left out: its top 3 is
        otherwise filled with combinations no one would guess ("2926" 0.00).
        """
        if self.empty:
            return []
        best = [("", 1.0)]
        for probs in self.probabilities:
            digits = np.argsort(probs)[::-1][:k]
            best = sorted(((text + str(d), p * float(probs[d])) for text, p in best for d in digits),
                          key=lambda reading: -reading[1])[:k]
        if len(self.probabilities) > 1:
            best = best[:1] + [reading for reading in best[1:] if reading[1] >= least]
        return best

    @property
    def text(self) -> str | None:
        """The most likely reading, e.g. "7" or "2026"; None when nothing was drawn."""
        return None if self.empty else self.top(1)[0][0]

    @property
    def confidence(self) -> float:
        return 0.0 if self.empty else self.top(1)[0][1]

    def doubtful(self) -> list[tuple[int, tuple[int, int]]]:
        """The digits read with less than UNCERTAIN_BELOW: (position from 1, (best, second best))."""
        out = []
        for position, probs in enumerate(self.probabilities, start=1):
            if probs.max() < UNCERTAIN_BELOW:
                first, second = (int(d) for d in np.argsort(probs)[::-1][:2])
                out.append((position, (first, second)))
        return out

    @property
    def uncertain(self) -> bool:
        return bool(self.doubtful())

    @property
    def message(self) -> str:
        """One sentence for a person: the reading, a doubt, or a request to draw."""
        if self.empty:
            return self.empty_message
        doubts = self.doubtful()
        if len(self.probabilities) == 1:
            if doubts:
                first, second = doubts[0][1]
                return f"Not sure: maybe {first} or {second}. Try drawing it larger and clearer."
            article = "an" if self.text == "8" else "a"
            return f"It's {article} {self.text} ({self.confidence:.0%} sure)."
        if doubts:
            which = " and ".join(f"the {ordinal(position)} digit: {a} or {b}" for position, (a, b) in doubts)
            return f"Not sure about {which}. Maybe {self.text}?"
        return f"It's {self.text} ({self.confidence:.0%} sure)."


def rotate(images: tf.Tensor, degrees: float) -> tf.Tensor:
    """Turn a batch (n, 28, 28, 1) clockwise by `degrees` about the image centre (bilinear, black fill)."""
    a = math.radians(degrees)
    c = (INPUT_SHAPE[0] - 1) / 2
    cos, sin = math.cos(a), math.sin(a)
    # Maps each output pixel to the input pixel it samples: the inverse rotation about the centre.
    transform = tf.constant([[cos, sin, c - cos * c - sin * c, -sin, cos, c + sin * c - cos * c, 0.0, 0.0]])
    return keras.ops.image.affine_transform(images, tf.tile(transform, [tf.shape(images)[0], 1]), fill_value=0)


def combine(reading: Reading, strip: Strip, digits: list[StripDigit]) -> Reading:
    """The digit CNN's `reading` of an image, checked against the number reader's `digits` of its `strip`
    (the rule above ONE_DIGIT_SURE). A reading taken from the number reader shows, as its inputs, the
    drawing cut between the digits it found."""
    count = len(reading.probabilities)
    if not digits or len(digits) > MAX_DIGITS or (count == 1 and len(digits) == 1):
        return reading
    if len(digits) == count:
        return Reading(tuple((p + d.probabilities) / 2 for p, d in zip(reading.probabilities, digits)), reading.inputs)
    if count == 1 and not overrules_one_digit(reading, strip, digits):
        return reading
    return Reading(tuple(d.probabilities for d in digits), tuple(digit_inputs(strip, digits)))


def overrules_one_digit(reading: Reading, strip: Strip, digits: list[StripDigit],
                        one_digit_sure: float = ONE_DIGIT_SURE, number_aspect: float = NUMBER_ASPECT,
                        sequence_sure: float = SEQUENCE_SURE) -> bool:
    """Whether the number reader's `digits` (two or more) replace the digit CNN's one-digit `reading`
    (the rule above ONE_DIGIT_SURE; benchmarks/number_rule.py scores other thresholds)."""
    sure = math.prod(float(d.probabilities.max()) for d in digits)
    return reading.confidence < one_digit_sure and strip.aspect >= number_aspect and sure >= sequence_sure


def fuse(cnn: np.ndarray, path: np.ndarray, weight: float = PATH_WEIGHT) -> np.ndarray:
    """The CNN's and the path model's (n, 10) probabilities combined: their geometric mean weighted
    `weight` for the path model (0: the CNN alone, 1: the path model alone), renormalised to sum to 1."""
    logs = (1.0 - weight) * np.log(np.maximum(cnn, 1e-30)) + weight * np.log(np.maximum(path, 1e-30))
    fused = np.exp(logs - logs.max(axis=-1, keepdims=True))
    return fused / fused.sum(axis=-1, keepdims=True)


class DigitReader:
    """Preprocess drawings and run the models on them, without `model.predict`'s per-call overhead.

    `rotations` are the views averaged per drawing (degrees; `(0.0,)` runs the model alone).
    `number_model` (optional) reads images whole as well (see ONE_DIGIT_SURE); `path_model` (optional, see
    `mnist_sketch.trajectory`) reads the pad's strokes beside the CNN (see PATH_WEIGHT).
    """

    def __init__(self, model: keras.Model, rotations: Sequence[float] = VIEW_ROTATIONS_DEG,
                 number_model: keras.Model | None = None, path_model: keras.Model | None = None,
                 path_weight: float = PATH_WEIGHT):
        self.model = model
        self.rotations = tuple(rotations)
        self.number_model = number_model
        self.path_model = path_model
        self.path_weight = path_weight

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
        # Warm up: trace and allocate now, not on the first request.
        self.predict_batch(np.zeros((1, 28, 28), np.float32))
        if number_model is not None:
            self._read_strips = tf.function(
                lambda x: number_model(x, training=False),
                input_signature=[tf.TensorSpec((None, *STRIP_SIZE, 1), tf.float32)],
                reduce_retracing=True,
            )
            self.strip_logits(np.zeros((1, *STRIP_SIZE), np.uint8))
        if path_model is not None:
            self._read_paths = tf.function(
                lambda x: path_model(x, training=False),
                input_signature=[tf.TensorSpec((None, *PATH_SHAPE), tf.float32)],
                reduce_retracing=True,
            )
            # A drawing's images and paths in one traced call: with a call of its own, the path model made
            # a 4-digit drawing's reading 2.5 ms slower (benchmarks/RESULTS.md, Latency).
            self._forward_with_paths = tf.function(
                lambda x, paths: (forward(x), path_model(paths, training=False)),
                input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.float32),
                                 tf.TensorSpec((None, *PATH_SHAPE), tf.float32)],
                reduce_retracing=True,
            )
            self.path_probs(np.zeros((1, *PATH_SHAPE), np.float32))
            self.predict_with_paths(np.zeros((1, 28, 28), np.float32), np.zeros((1, *PATH_SHAPE), np.float32))

    def predict_batch(self, images: np.ndarray) -> np.ndarray:
        """(n, 28, 28) float ink in [0, 1] -> (n, 10) float probabilities, averaged over the views.

        Runs in chunks of CHUNK images, so memory stays bounded for any n.
        """
        x = np.asarray(images, np.float32).reshape(-1, *INPUT_SHAPE)
        chunks = [self._forward(tf.constant(x[i : i + CHUNK])).numpy() for i in range(0, len(x), CHUNK)]
        return np.concatenate(chunks) if chunks else np.zeros((0, NUM_CLASSES), np.float32)

    def strip_logits(self, strips: np.ndarray) -> np.ndarray:
        """(n, 32, 160) uint8 strips -> (n, FRAMES, 11) number reader logits, in chunks of CHUNK."""
        x = np.asarray(strips, np.float32)[..., None] / 255.0
        return np.concatenate([self._read_strips(tf.constant(x[i : i + CHUNK])).numpy()
                               for i in range(0, len(x), CHUNK)])

    def path_probs(self, features: np.ndarray) -> np.ndarray:
        """(n, POINTS, CHANNELS) `path_features` -> (n, 10) path model probabilities, in chunks of CHUNK."""
        x = np.asarray(features, np.float32).reshape(-1, *PATH_SHAPE)
        chunks = [self._read_paths(tf.constant(x[i : i + CHUNK])).numpy() for i in range(0, len(x), CHUNK)]
        return np.concatenate(chunks) if chunks else np.zeros((0, NUM_CLASSES), np.float32)

    def predict_with_paths(self, images: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`predict_batch(images)` and `path_probs(features)`, in one model call when each fits in a CHUNK."""
        if not (0 < len(images) <= CHUNK and 0 < len(features) <= CHUNK):  # the models fail on empty batches
            return self.predict_batch(images), self.path_probs(features)
        x = np.asarray(images, np.float32).reshape(-1, *INPUT_SHAPE)
        cnn, path = self._forward_with_paths(tf.constant(x), tf.constant(np.asarray(features, np.float32)))
        return cnn.numpy(), path.numpy()

    def read(self, value: Any) -> Reading:
        """Read one drawing: `Strokes` (the pad's value) or any image `preprocess` accepts.

        Returns an empty Reading for a blank canvas; raises InvalidDrawing for input that is not a drawing.
        """
        return self.read_many([value])[0]

    @overload
    def read_many(self, values: list[Any], invalid: Literal["raise"] = "raise") -> list[Reading]: ...

    @overload
    def read_many(self, values: list[Any], invalid: Literal["keep"]) -> list[Reading | InvalidDrawing]: ...

    def read_many(self, values: list[Any], invalid: Literal["raise", "keep"] = "raise") -> list[Any]:
        """Read several drawings, each split into its digits, with one model call for all of them.

        A value that is not a drawing raises its InvalidDrawing, or with invalid="keep" takes its place
        in the list (a server reading many visitors' drawings at once answers each its own).
        """
        found: list[Drawing | EmptyDrawing | InvalidDrawing] = []
        for value in values:
            try:
                found.append(split(value))
            except EmptyDrawing as exc:
                found.append(exc)
            except InvalidDrawing as exc:
                if invalid == "raise":
                    raise
                found.append(exc)
        readings = iter(self.choose([f for f in found if not isinstance(f, InvalidDrawing)]))
        return [f if isinstance(f, InvalidDrawing) else next(readings) for f in found]

    def choose(self, found: list[Drawing | EmptyDrawing]) -> list[Reading]:
        """Readings of drawings already split by `segment.split` (an EmptyDrawing for one that was not).

        Every input of every option is read in one model call; with a path model, every stroke digit's
        strokes too, in the same call, and each such digit's probabilities are `fuse`d. Per piece, the
        option with the best score is kept: its prior plus the log of the joint confidence its digits are
        read with. With a number model, every image's strip is read in one more call, and `combine` checks
        the two readings.
        """
        options = [option for layout in found if not isinstance(layout, EmptyDrawing)
                   for piece in layout.pieces for option in piece]
        inputs = [image for option in options for image in option.inputs]
        inputs = np.stack(inputs) if inputs else np.zeros((0, *INPUT_SHAPE[:2]), np.float32)
        # An option of strokes has each digit's strokes; an image's has none.
        paths = ([path_features(d) for option in options for d in option.strokes]
                 if self.path_model is not None else [])
        if paths:
            cnn, path = self.predict_with_paths(inputs, np.stack(paths))
            read = np.array([bool(option.strokes) for option in options for _ in option.inputs], bool)
            cnn[read] = fuse(cnn[read], path, self.path_weight)
        else:
            cnn = self.predict_batch(inputs)
        probs = iter(cnn)
        readings = []
        for layout in found:
            if isinstance(layout, EmptyDrawing):
                readings.append(Reading(empty_message=str(layout)))
                continue
            digits: list[tuple[np.ndarray, np.ndarray]] = []
            for piece in layout.pieces:
                read = [[(next(probs), image) for image in option.inputs] for option in piece]
                scores = [option.prior + sum(np.log(p.max()) for p, _ in digits_read)
                          for option, digits_read in zip(piece, read)]
                digits += read[int(np.argmax(scores))]
            readings.append(Reading(tuple(p for p, _ in digits), tuple(image for _, image in digits)))
        images = [i for i, layout in enumerate(found)
                  if not isinstance(layout, EmptyDrawing) and layout.strip is not None]
        if self.number_model is not None and images:
            logits = self.strip_logits(np.stack([found[i].strip.image for i in images]))
            for i, row in zip(images, logits):
                readings[i] = combine(readings[i], found[i].strip, strip_digits(row))
        # Touching digits split apart can add pieces past the count `split` checked.
        return [Reading(empty_message=TOO_MANY) if len(r.probabilities) > MAX_DIGITS else r for r in readings]
