"""Synthetic handwritten numbers for training the number reader: of MNIST digits, and of real pen-drawn digits.

A number is 1 to MAX_LENGTH digits laid left to right the way people write on a
pad: scaled to a common height (+-10 %), on a baseline that wobbles (+-8 % of
the height), with gaps of 5-60 % of the height between neighbours, or, in
OVERLAP_PROB of the gaps, -20 % to +5 %: the digits' boxes overlap and their ink
touches or crosses, the case the splitter cannot part.

- Of MNIST digits (`compose`): each digit restyled (`augment.style_digit`) half the
  time when its class has another common style, slanted and turned a little.
  PEN_PROB of these numbers are thinned to their skeleton and redrawn with a round
  pen 3-30 % of the height wide (what a sketchpad delivers); the rest keep MNIST's
  grey strokes, half of them thickened.
- Of pen-drawn digits (`compose_pen`, a share of the numbers with `pen` data): all
  the digits of one writer, each written a little differently
  (`pen_digits.distort`), drawn with one round pen, 2-25 % of the height wide, as a
  client's canvas shows them.

`synthesize(x, y, count, seed, pen=..., pen_share=...)` returns the strips as
`number_strip.frame_number` frames them, and their labels padded for CTC.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.morphology import skeletonize

from mnist_sketch.number_strip import STRIP_SIZE, frame_number
from mnist_sketch.strokes import Strokes, draw_on_paper
from training.augment import STYLED_CLASSES, style_digit
from training.pen_digits import PenDigits, distort

MAX_LENGTH = 6
LENGTH_PROBS = (0.12, 0.2, 0.2, 0.2, 0.2, 0.08)  # of 1, 2, ... MAX_LENGTH digits
DIGIT_HEIGHT = 96  # px: digits are composed at this height, then framed into the strip
HEIGHT_SPREAD = 0.1  # each digit's height: DIGIT_HEIGHT +- this share
BASELINE_WOBBLE = 0.08  # each digit's bottom: up or down by this share of DIGIT_HEIGHT
GAP = (0.05, 0.6)  # gap between neighbours that do not overlap, as a share of the digit height
OVERLAP_PROB = 0.3
OVERLAP = (-0.2, 0.05)  # gap of an overlapping pair, as a share of the digit height
PEN_PROB = 0.8
PEN_WIDTH = (0.03, 0.3)  # share of the digit height
STYLE_PROB = 0.5
ROTATION_DEG = 12.0
SHEAR = 0.25
CHUNK = 2000  # numbers per worker task
PEN_NUMBER_HEIGHT = (40, 100)  # px: a pen-drawn number's digit height on its canvas (the strip is 24 px high)
PEN_NUMBER_PEN = (0.02, 0.25)  # its pen's width, a share of the digit height (log-uniform)

# A writer's digits: their strokes ((n, 2) points, y down) and labels (m,).
Writer = tuple[list[list[np.ndarray]], np.ndarray]


def _warp(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A (28, 28) float digit turned by up to ROTATION_DEG and x-sheared by up to SHEAR, about its centre."""
    a = np.radians(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
    shear = rng.uniform(-SHEAR, SHEAR)
    # Maps output (row, col) to input (row, col): rotation, then a shear of columns by rows.
    matrix = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) @ np.array([[1.0, 0.0], [shear, 1.0]])
    centre = np.array([13.5, 13.5])
    return ndimage.affine_transform(digit, matrix, offset=centre - matrix @ centre, order=1)


def _digit_ink(image: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """One uint8 (28, 28) MNIST digit, restyled and warped, scaled DIGIT_HEIGHT +- HEIGHT_SPREAD high:
    float (h, w) in [0, 1]."""
    if label in STYLED_CLASSES and rng.random() < STYLE_PROB and (image > 127).sum() >= 3:
        image = style_digit(image, label, rng)
    digit = _warp(image.astype(np.float32) / 255.0, rng)
    rows, cols = np.flatnonzero(digit.max(axis=1) > 0.1), np.flatnonzero(digit.max(axis=0) > 0.1)
    digit = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height = DIGIT_HEIGHT * rng.uniform(1 - HEIGHT_SPREAD, 1 + HEIGHT_SPREAD)
    width = max(2, round(digit.shape[1] * height / digit.shape[0]))
    return np.asarray(Image.fromarray(digit).resize((width, round(height)), Image.Resampling.BILINEAR))


def compose(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MNIST digits (n, 28, 28) uint8 written as one number, left to right -> uint8 ink map (h, w)."""
    parts, x = [], 0.0
    for k, (image, label) in enumerate(zip(images, labels)):
        digit = _digit_ink(image, int(label), rng)
        if k:
            x += DIGIT_HEIGHT * (rng.uniform(*OVERLAP) if rng.random() < OVERLAP_PROB else rng.uniform(*GAP))
        bottom = DIGIT_HEIGHT * (1.2 + rng.uniform(-BASELINE_WOBBLE, BASELINE_WOBBLE))
        parts.append((digit, round(x), round(bottom) - digit.shape[0]))
        x += digit.shape[1]
    left = min(px for _, px, _ in parts)
    right = max(px + d.shape[1] for d, px, _ in parts)
    canvas = np.zeros((round(DIGIT_HEIGHT * 1.5), right - left + 2), np.float32)
    pen = rng.random() < PEN_PROB
    for digit, px, py in parts:
        region = canvas[py : py + digit.shape[0], px - left : px - left + digit.shape[1]]
        np.maximum(region, skeletonize(digit > 0.5) if pen else digit, out=region)
    if pen:
        radius = rng.uniform(*PEN_WIDTH) * DIGIT_HEIGHT / 2
        canvas = np.clip(radius - ndimage.distance_transform_edt(canvas == 0) + 0.5, 0.0, 1.0)
    elif rng.random() < 0.5:
        canvas = ndimage.grey_dilation(canvas, size=int(rng.integers(2, 12)))
    return np.rint(canvas * 255.0).astype(np.uint8)


def write_number(digits: list[list[np.ndarray]], rng: np.random.Generator, height: float) -> list[np.ndarray]:
    """One writer's digits (each its strokes, (n, 2) points, y down) written as one number, left to right,
    each a little differently (`distort`), about `height` high: the number's strokes, in the same units."""
    strokes, x = [], 0.0
    for k, digit in enumerate(digits):
        digit = distort(digit, rng)
        points = np.concatenate(digit)
        lo, extent = points.min(axis=0), np.ptp(points, axis=0)
        tall = max(extent[1], 0.3 * extent[0], 1e-6)  # a flat stroke (a 1 written as a dash) is not stretched
        scale = height * rng.uniform(1 - HEIGHT_SPREAD, 1 + HEIGHT_SPREAD) / tall
        if k:
            x += height * (rng.uniform(*OVERLAP) if rng.random() < OVERLAP_PROB else rng.uniform(*GAP))
        bottom = height * (1 + rng.uniform(-BASELINE_WOBBLE, BASELINE_WOBBLE))
        strokes += [(s - lo) * scale + (x, bottom - extent[1] * scale) for s in digit]
        x += extent[0] * scale
    return strokes


def compose_pen(digits: list[list[np.ndarray]], rng: np.random.Generator) -> np.ndarray:
    """One writer's digits written as one number (`write_number`) and drawn with a round pen PEN_NUMBER_PEN
    of the digits' height wide -> uint8 ink map (h, w)."""
    height = rng.uniform(*PEN_NUMBER_HEIGHT)
    strokes = write_number(digits, rng, height)
    pen = height * math.exp(rng.uniform(math.log(PEN_NUMBER_PEN[0]), math.log(PEN_NUMBER_PEN[1])))
    points = np.concatenate(strokes)
    shift = pen - points.min(axis=0)
    size = np.ceil(np.ptp(points, axis=0) + 2 * pen)
    paper = draw_on_paper(Strokes(float(size[0]), float(size[1]), tuple(s + shift for s in strokes)), pen)
    return 255 - np.asarray(paper)


def writers_of(pen: PenDigits) -> list[Writer]:
    """Pen digits grouped by writer: [(strokes of each digit, labels)], in a fixed order."""
    return [([pen.strokes[i] for i in mine], pen.labels[mine])
            for mine in (np.flatnonzero(pen.writers == w) for w in sorted(set(pen.writers)))]


# Set once per worker process by `_start_worker`: the digits numbers are made of.
_mnist: tuple[np.ndarray, np.ndarray] | None = None
_writers: list[Writer] = []


def _start_worker(x: np.ndarray, y: np.ndarray, writers: list[Writer]) -> None:
    global _mnist, _writers
    _mnist, _writers = (x, y), writers


def _chunk(args: tuple[int, int, float]) -> tuple[np.ndarray, np.ndarray]:
    count, seed, pen_share = args
    x, y = _mnist
    rng = np.random.default_rng(seed)
    strips = np.zeros((count, *STRIP_SIZE), np.uint8)
    targets = np.zeros((count, MAX_LENGTH), np.int32)  # digit d as d + 1; 0 pads (CTC's blank)
    sizes = np.array([len(labels) for _, labels in _writers])
    for i in range(count):
        n = int(rng.choice(np.arange(1, MAX_LENGTH + 1), p=LENGTH_PROBS))
        if _writers and rng.random() < pen_share:  # a writer drawn in proportion to their digits
            digits, labels = _writers[int(rng.choice(len(sizes), p=sizes / sizes.sum()))]
            pick = rng.choice(len(labels), size=n, replace=len(labels) < n)
            ink, written = compose_pen([digits[j] for j in pick], rng), labels[pick]
        else:
            pick = rng.integers(len(x), size=n)
            ink, written = compose(x[pick], y[pick], rng), y[pick]
        strips[i] = frame_number(ink).image
        targets[i, :n] = written + 1
    return strips, targets


def synthesize(x: np.ndarray, y: np.ndarray, count: int, seed: int, workers: int | None = None,
               pen: PenDigits | None = None, pen_share: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`count` numbers of the digits x (n, 28, 28) uint8 with labels y (n,), and, `pen_share` of them, of
    one writer's `pen` digits each -> strips (count, 32, 160) uint8 and targets (count, MAX_LENGTH) int32
    (digit + 1, 0-padded).

    Deterministic for a given seed, whatever the number of worker processes.
    """
    writers = writers_of(pen) if pen is not None and len(pen) else []
    sizes = [min(CHUNK, count - start) for start in range(0, count, CHUNK)]
    tasks = [(size, seed * 100_003 + k, pen_share) for k, size in enumerate(sizes)]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(tasks) == 1:
        _start_worker(x, y, writers)
        done = [_chunk(task) for task in tasks]
    else:
        with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(x, y, writers)) as pool:
            done = list(pool.map(_chunk, tasks))
    return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])


def texts(targets: np.ndarray) -> list[str]:
    """CTC targets (n, MAX_LENGTH) -> the numbers they spell, e.g. "2026"."""
    return ["".join(str(c - 1) for c in row if c) for row in targets]


def recipe() -> dict[str, float | int | list[float]]:
    """The synthesis parameters, for numbers_metrics.json and the model card."""
    return {"max_length": MAX_LENGTH, "length_probs": list(LENGTH_PROBS),
            "height_spread": HEIGHT_SPREAD, "baseline_wobble": BASELINE_WOBBLE, "gap": list(GAP),
            "overlap_prob": OVERLAP_PROB, "overlap": list(OVERLAP),
            "pen_prob": PEN_PROB, "pen_width_min": PEN_WIDTH[0], "pen_width_max": PEN_WIDTH[1],
            "style_prob": STYLE_PROB, "rotation_deg": ROTATION_DEG, "shear": SHEAR}
