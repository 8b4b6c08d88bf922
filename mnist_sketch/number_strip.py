"""A drawing framed as the number reader's input strip, and the digits read back from its output.

numpy and PIL only (no TensorFlow), so the splitter's worker processes can frame strips.
The model itself is in `number_model`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from mnist_sketch.preprocess import EmptyDrawing, crop_to_ink, frame_ink

STRIP_SIZE = (32, 160)  # (height, width) of the strip the number reader sees
INK_HEIGHT = 24  # px: the ink's height in the strip (or less, when a long number must fit its width)
MARGIN = 4  # px of blank left of the ink and, at least, right of it
FRAMES = 40  # columns the model scores: one per 4 px of the strip
BLANK = 0  # CTC's "no digit" class; digit d is class d + 1
# The drawing's ink is kept at most this high, to cut digits out of: frame_ink works at 80 px,
# so nothing it uses is lost, and a strip stays small enough to cache thousands of.
SLICE_HEIGHT = 112


class Strip(NamedTuple):
    """A drawing framed for the number reader, and its ink, to cut the digits it finds out of."""

    image: np.ndarray  # (32, 160) uint8 ink, as the number reader was trained on
    ink: np.ndarray  # the drawing's (h, w) uint8 ink map, cropped to its ink, at most SLICE_HEIGHT high
    aspect: float  # the ink's width / height

    def ink_column(self, frame: float) -> int:
        """The column of `ink` at the left edge of model column `frame` (0 <= frame <= FRAMES)."""
        x = frame * STRIP_SIZE[1] / FRAMES
        scale = min(INK_HEIGHT / self.ink.shape[0], (STRIP_SIZE[1] - 2 * MARGIN) / self.ink.shape[1])
        return int(np.clip(round((x - MARGIN) / scale), 0, self.ink.shape[1]))


def _resize(ink: np.ndarray, scale: float) -> np.ndarray:
    """(h, w) ink (uint8 or float) box-averaged by `scale` (< 1) -> float32 (max(1, h * scale), max(1, w * scale))."""
    h, w = ink.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(ink.astype(np.float32)).resize(size, Image.Resampling.BOX))


def frame_number(ink: np.ndarray) -> Strip:
    """An (H, W) uint8 ink map -> its Strip: the ink cropped, scaled INK_HEIGHT px high (or to fit
    the width), box-averaged, left-aligned MARGIN px in and centred vertically.

    Raises EmptyDrawing when the map holds no ink.
    """
    ink = crop_to_ink(ink)
    h, w = ink.shape
    height, width = STRIP_SIZE
    small = np.rint(np.clip(_resize(ink, min(INK_HEIGHT / h, (width - 2 * MARGIN) / w)), 0, 255))
    image = np.zeros(STRIP_SIZE, np.uint8)
    top = (height - small.shape[0]) // 2
    image[top : top + small.shape[0], MARGIN : MARGIN + small.shape[1]] = small
    kept = ink if h <= SLICE_HEIGHT else np.rint(_resize(ink, SLICE_HEIGHT / h)).astype(np.uint8)
    return Strip(image, kept, w / h)


class StripDigit(NamedTuple):
    """One digit the number reader found: its (10,) probabilities and the model columns it spans."""

    probabilities: np.ndarray
    first: int
    last: int


def strip_digits(logits: np.ndarray) -> list[StripDigit]:
    """(FRAMES, 11) logits -> the digits on the best path (greedy CTC decoding), left to right.

    Each run of columns whose best class is one digit (between blanks or other
    digits) is a digit; its probabilities are those of the column in the run most
    sure of that digit, renormalised over the ten digits.
    """
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    best = p.argmax(axis=-1)
    runs: list[list[int]] = []  # [class, first column, last column]
    for t, c in enumerate(best):
        if c != BLANK and (t == 0 or c != best[t - 1]):
            runs.append([int(c), t, t])
        elif c != BLANK:
            runs[-1][2] = t
    digits = []
    for c, first, last in runs:
        t = first + int(np.argmax(p[first : last + 1, c]))
        digits.append(StripDigit(p[t, 1:] / p[t, 1:].sum(), first, last))
    return digits


def digit_inputs(strip: Strip, digits: list[StripDigit]) -> list[np.ndarray]:
    """The drawing cut between the digits the number reader found (midway between their columns),
    each cut framed as the digit CNN's (28, 28) input, for the preview: a cut that holds no ink
    (two digits found over one stroke) shows as a blank square."""
    cuts = [strip.ink_column((a.last + 1 + b.first) / 2) for a, b in zip(digits, digits[1:])]
    edges = [0, *cuts, strip.ink.shape[1]]
    inputs = []
    for a, b in zip(edges, edges[1:]):
        try:
            inputs.append(frame_ink(strip.ink[:, a:b]))
        except EmptyDrawing:
            inputs.append(np.zeros((28, 28), np.float32))
    return inputs
