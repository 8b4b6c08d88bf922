"""The number reader: a small CRNN that reads a whole line of digits at once, trained with CTC.

The splitter (`segment`) parts digits by where their ink lies. In an image, digits
that touch or cross (a 7's bar through the next digit, a 1's base under it) are
one blot of ink, and no cut parts them. This model reads the whole blot as a
sequence instead: the ink is framed in a (32, 160) strip, four convolutions turn
it into FRAMES columns of features, a bidirectional GRU reads them left to
right and right to left, and each column gets 11 scores: a digit, or none
(CTC's blank). `number_strip` frames its input and decodes its output;
`predict.DigitReader` uses it beside the digit CNN on images.
"""

from __future__ import annotations

from pathlib import Path

import keras

from mnist_sketch.model import NUM_CLASSES, load_weights_file
from mnist_sketch.number_strip import FRAMES, STRIP_SIZE


def build_number_model() -> keras.Model:
    """(batch, 32, 160, 1) ink in [0, 1] -> (batch, FRAMES, 11) logits: blank, then the digits 0-9."""
    inputs = keras.Input((*STRIP_SIZE, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(48, 3, padding="same", activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D((2, 1))(x)  # (4, FRAMES, 64)
    x = keras.layers.Permute((2, 1, 3))(x)  # columns first: one feature vector per frame
    x = keras.layers.Reshape((FRAMES, 4 * 64))(x)
    x = keras.layers.Dense(96, activation="relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.Bidirectional(keras.layers.GRU(64, return_sequences=True))(x)
    outputs = keras.layers.Dense(NUM_CLASSES + 1)(x)
    return keras.Model(inputs, outputs, name="number_crnn")


def load_number_model_file(path: str | Path) -> keras.Model:
    """Load a saved `numbers.h5` into the architecture built in code, weights only (`load_weights_file`).

    Raises `ModelFileError` naming the file when it is missing, corrupt or another architecture.
    """
    return load_weights_file(build_number_model, path, "number model",
                             "a numbers.h5 written by `python -m training.train_numbers`")
