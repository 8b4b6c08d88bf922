"""A drawing split into its digits, left to right, each framed as the model's 28x28 input.

People write a number as digits side by side on a common baseline, each made
of one or more parts (strokes of the pen, or connected blots of ink in an
image): a 4 or a 5 in two strokes, a crossed 7, a slashed 0, a 1 with a flag
and a base. `group_parts` joins the parts of a drawing into digits from their
boxes alone, H being the tallest part's height:

- parts whose horizontal extents overlap by at least MERGE_OVERLAP of the
  narrower one lie above and below one another: one digit (FULL_OVERLAP when
  both are as tall as a digit and stand on one baseline: two narrow digits,
  such as 11, may overlap a little);
- a part beside another, at most ATTACH_GAP * H away, belongs to it when it
  does not stand on the same baseline (bottoms more than OFF_BASELINE * H
  apart): a 5's bar, a 1's flag, a 4's corner drawn apart from its stem. A
  small digit on the baseline stays a digit.
- specks (under SPECK_FRACTION * H both ways) are dropped.

These thresholds were chosen on the numbers and single digits of
benchmarks/number_accuracy.py and sketch_accuracy.py (benchmarks/HISTORY.md).

Neighbouring digits whose ink touches (closer than TOUCH * H) may still be one
digit drawn in separate strokes (a 1 whose flag touches its stem, a 4 whose bar
meets its stem): such a piece comes with both options, and the reader keeps
the one whose digits it reads with the highest joint confidence, a join costing
a little (JOIN_PRIOR), as digits side by side are the likelier.

In an image, touching digits are one blot of ink. Two ways apart:

- a blot wider than tall is eroded to the core of its strokes (NECK of the
  stroke width): digits that touch through a narrow neck come apart, while a
  digit drawn with one pen never does (its strokes are all a pen wide);
- a blot still wider than WIDE_RATIO times its height (WIDE_ALONE when it is
  the whole drawing: one wide digit is likelier then) may be several digits:
  it comes with options, whole and cut at the lowest points of its vertical
  ink profile, and the reader keeps the one whose digits it reads with the
  highest joint confidence (`predict.DigitReader.choose`).

`pieces(value)` gives, per piece of the drawing, left to right, its options; `split(value)` adds, for an
image, the whole drawing framed for the number reader (`number_strip`), which reads digits no cut parts.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from mnist_sketch.preprocess import (INK_LEVEL, STROKE_WIDTH, EmptyDrawing, check_looks_drawn,
                                     crop_to_ink, frame_ink, ink_of)
from mnist_sketch.preprocess import stroke_width as measured_width  # the parameter `stroke_width` is the target
from mnist_sketch.number_strip import Strip, frame_number
from mnist_sketch.strokes import MAX_STROKES, PEN_WIDTH, Strokes, check_drawn, frame_strokes

MERGE_OVERLAP = 0.5  # parts overlapping by this share of the narrower one's width are one digit...
FULL_OVERLAP = 0.7  # ...or this share, when both are digit-sized (not short) on one baseline
SHORT_PART = 0.75  # a part shorter than this share of H is not a whole digit on its own
ATTACH_GAP = 0.3  # a part this close to another (share of H) belongs to it when...
OFF_BASELINE = 0.2  # ...its bottom is this far (share of H) from the other's
SPECK_FRACTION = 0.05  # parts smaller than this share of H both ways are specks (a 5's bar can be 0.07)
TOUCH = 0.06  # neighbouring digits whose strokes come this close (share of H) may be one digit...
# ...at this log-prior for joining them: re-chosen for the path model's fused readings on the dev numbers of
# benchmarks/number_accuracy.py, and the best too on numbers composed with another seed (benchmarks/RESULTS.md)
JOIN_PRIOR = math.log(0.9)
NECK = 0.6  # touching digits are eroded apart where they meet through less than this share of the pen's width
WIDE_RATIO = 1.0  # a blot wider than this many times its height may be touching digits...
WIDE_ALONE = 1.6  # ...or this many times, when it is the whole drawing
FLAT_HEIGHT = 0.25  # a drawing of flat strokes only is taken to be this share of its widest part high
MAX_CUTS = 3  # cut points tried in a wide blot, the lowest of its ink profile
MAX_OPTIONS = 16  # ways to read one piece, at most
MAX_DIGITS = 12
# Points laid along a drawing's strokes to tell whether neighbouring digits touch, at most: a 12-digit number
# takes about 2,000 (the dev numbers of 2-5 digits, at most 620). Only a drawing of far more ink (a
# scribble, a payload built to cost) gets them sparser.
MAX_INK_POINTS = 5_000
MAX_PARTS = MAX_STROKES  # separate blots of ink in an image, specks aside: more is not a number
TOO_MANY = f"That is more than {MAX_DIGITS} digits: write a number of at most {MAX_DIGITS} digits."
SCATTERED = (f"This image has over {MAX_PARTS} separate marks: it does not look like a drawing of a number. "
             "Draw a digit or a number.")





class Option(NamedTuple):
    """One way to read a piece of a drawing: its digits' (28, 28) inputs, left to right, the log-prior
    of reading it this way, and, for strokes, each digit's strokes ((n, 2) points, in writing order), which
    the path model reads (empty for an image)."""

    inputs: list[np.ndarray]
    prior: float = 0.0
    strokes: tuple[tuple[np.ndarray, ...], ...] = ()


Piece = list[Option]  # the ways to read a piece of a drawing


def _joined(boxes: np.ndarray) -> np.ndarray:
    """The box (x0, x1, y0, y1) around boxes (n, 4)."""
    return np.array([boxes[:, 0].min(), boxes[:, 1].max(), boxes[:, 2].min(), boxes[:, 3].max()])


def _affinities(boxes: np.ndarray, height: float) -> np.ndarray:
    """How surely each two of boxes (n, 4) of x0, x1, y0, y1 (y down) are parts of one digit: (n, n), > 0
    when they are, the larger the surer."""
    x0, x1, y0, y1 = (side[:, None] for side in boxes.T)  # a box down the rows, the other across (.T)
    overlap = np.minimum(x1, x1.T) - np.maximum(x0, x0.T)  # < 0: the gap between them
    narrower = np.minimum(x1 - x0, (x1 - x0).T)
    short = np.minimum(y1 - y0, (y1 - y0).T) < SHORT_PART * height
    off_baseline = np.abs(y1 - y1.T) > OFF_BASELINE * height
    needed = np.where(short | off_baseline, MERGE_OVERLAP, FULL_OVERLAP)
    above = (overlap >= 0) & (overlap >= needed * narrower)
    beside = off_baseline & (-overlap <= ATTACH_GAP * height)
    # Beside another: to the neighbour it reaches furthest over, or nearest.
    return np.where(above, 1.0 + overlap / np.maximum(narrower, 1e-9),
                    np.where(beside, 0.5 + 0.5 * overlap / height, 0.0))


def digit_height(boxes: np.ndarray) -> float:
    """The height of a digit in a drawing of parts (boxes (n, 4) of x0, x1, y0, y1): its tallest part's,
    or FLAT_HEIGHT of its widest part's width when every part is flat (a dash); never 0."""
    return max(float((boxes[:, 3] - boxes[:, 2]).max()), FLAT_HEIGHT * float((boxes[:, 1] - boxes[:, 0]).max()), 1.0)


def group_parts(boxes: np.ndarray) -> list[list[int]]:
    """Parts (boxes (n, 4) of x0, x1, y0, y1; y down) grouped into digits: the indices of each digit's
    parts, digits left to right, specks in none. Raises EmptyDrawing for more than MAX_PARTS parts."""
    height = digit_height(boxes)
    sizes = np.stack([boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]], axis=1)
    kept = np.flatnonzero(sizes.max(axis=1) >= SPECK_FRACTION * height)
    if len(kept) > MAX_PARTS:
        raise EmptyDrawing(SCATTERED)
    groups, joined = [[int(i)] for i in kept], boxes[kept]  # each group's parts, and the box around them
    while len(groups) > 1:  # join the surest pair, until no pair is one digit
        scores = np.triu(_affinities(joined, height), k=1)
        if scores.max() <= 0:
            break
        a, b = np.argwhere(scores == scores.max())[-1]  # of equals, the last pair (a < b)
        groups[a] += groups.pop(b)
        joined[a] = _joined(joined[[a, b]])
        joined = np.delete(joined, b, axis=0)
    return sorted(groups, key=lambda g: _joined(boxes[g])[:2].sum())


def _stroke_boxes(strokes: Sequence[np.ndarray]) -> np.ndarray:
    return np.array([(s[:, 0].min(), s[:, 0].max(), s[:, 1].min(), s[:, 1].max()) for s in strokes])


def _ink_points(strokes: Sequence[np.ndarray], step: float) -> np.ndarray:
    """(n, 2) points along strokes, at most `step` apart (the strokes' own points, and more between)."""
    a, b = np.concatenate([s[:-1] for s in strokes]), np.concatenate([s[1:] for s in strokes])  # segments
    between = (np.hypot(*(b - a).T) // step).astype(int)  # points added inside each segment, evenly
    segment = np.repeat(np.arange(len(a)), between)
    k = np.arange(len(segment)) - np.repeat(np.cumsum(between) - between, between) + 1  # 1..between per segment
    return np.concatenate([*strokes, a[segment] + (b - a)[segment] * (k / (between[segment] + 1))[:, None]])


def _touching_runs(digits: list[list[np.ndarray]], height: float) -> list[list[int]]:
    """Runs of neighbouring digits (indices, left to right) whose strokes come within TOUCH * height."""
    length = sum(np.hypot(*np.diff(s, axis=0).T).sum() for d in digits for s in d)
    step = max(TOUCH * height / 2, length / MAX_INK_POINTS)
    clouds = [_ink_points(d, step) for d in digits]
    runs = [[0]]
    for k in range(1, len(digits)):
        distance = cKDTree(clouds[k - 1]).query(clouds[k], distance_upper_bound=TOUCH * height)[0].min()
        if distance < np.inf and len(runs[-1]) < 3:  # touching; at most 3 in a run (4 options)
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs


def _check_count(pieces: int) -> None:
    """EmptyDrawing(TOO_MANY) for a drawing of more than MAX_DIGITS pieces."""
    if pieces > MAX_DIGITS:
        raise EmptyDrawing(TOO_MANY)


def stroke_pieces(strokes: Strokes, stroke_width: float = PEN_WIDTH) -> list[Piece]:
    """A stroke drawing's pieces (see `pieces`); EmptyDrawing for a blank pad, a dot, or more than MAX_DIGITS
    pieces."""
    check_drawn(strokes)
    boxes = _stroke_boxes(strokes.strokes)
    groups = group_parts(boxes)
    digits = [[strokes.strokes[i] for i in group] for group in groups]

    def parts(first: int, last: int) -> tuple[np.ndarray, ...]:
        """The strokes of digits first..last joined, in writing order."""
        return tuple(strokes.strokes[i] for i in sorted(i for group in groups[first : last + 1] for i in group))

    @functools.cache  # a digit, or digits joined, framed once for all the options they are in
    def frame(first: int, last: int) -> np.ndarray:
        """Digits first..last joined, framed."""
        return frame_strokes(Strokes(strokes.width, strokes.height, parts(first, last)), stroke_width)

    runs = _touching_runs(digits, digit_height(boxes))
    _check_count(len(runs))  # before any is framed
    pieces = []
    for run in runs:
        options = []
        for joins in itertools.product((False, True), repeat=len(run) - 1):
            starts = [run[0]] + [k for join, k in zip(joins, run[1:]) if not join]  # each joined digit's first
            ends = [k - 1 for k in starts[1:]] + [run[-1]]
            options.append(Option([frame(a, b) for a, b in zip(starts, ends)], JOIN_PRIOR * sum(joins),
                                  tuple(parts(a, b) for a, b in zip(starts, ends))))
        pieces.append(options)
    return pieces


def cut_points(crop: np.ndarray) -> list[int]:
    """Up to MAX_CUTS columns of an ink crop where two touching digits may meet: the lowest local
    minima of its vertical ink profile, away from its ends."""
    profile = np.convolve(crop.sum(axis=0, dtype=np.float64), np.ones(5) / 5, mode="same")
    w = len(profile)
    inner = np.arange(max(1, w // 6), min(w - 1, w - w // 6))
    minima = [c for c in inner if profile[c] <= profile[c - 1] and profile[c] <= profile[c + 1]]
    cuts: list[int] = []
    for c in sorted(minima, key=lambda c: profile[c]):
        if all(abs(c - d) > w // 8 for d in cuts):  # one cut per valley
            cuts.append(int(c))
        if len(cuts) == MAX_CUTS:
            break
    return cuts


def split_options(crop: np.ndarray, wide: float, depth: int = 0) -> list[list[np.ndarray]]:
    """The ways to read an ink crop, as lists of crops: whole, and, when it is wider than `wide` times its
    height, cut in two (each side again, once)."""
    options = [[crop]]
    h, w = crop.shape
    if w <= wide * h or depth >= 2:
        return options
    for c in cut_points(crop):
        try:
            left, right = crop_to_ink(crop[:, :c]), crop_to_ink(crop[:, c:])
        except EmptyDrawing:
            continue
        options += [lo + ro for lo in split_options(left, WIDE_RATIO, depth + 1)
                    for ro in split_options(right, WIDE_RATIO, depth + 1)]
    return options[:MAX_OPTIONS]


def _labels(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected parts of a boolean mask: (label image, boxes (n, 4) of x0, x1, y0, y1)."""
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3)))
    slices = ndimage.find_objects(labels)
    return labels, np.array([(s[1].start, s[1].stop - 1, s[0].start, s[0].stop - 1) for s in slices], np.float64)


def _isolate(labels: np.ndarray, ink: np.ndarray, boxes: np.ndarray, parts: list[int]) -> np.ndarray:
    """The ink of `parts` (indices into `boxes`; label i + 1) in their box, other parts' ink blanked."""
    x0, x1, y0, y1 = _joined(boxes[parts]).astype(int)
    window = labels[y0 : y1 + 1, x0 : x1 + 1]
    own = np.isin(window, np.array(parts) + 1)
    if own.sum() == np.count_nonzero(window):  # nothing else in the box (one digit alone): nothing to blank
        return ink[y0 : y1 + 1, x0 : x1 + 1]
    others = ndimage.binary_dilation((window > 0) & ~own, iterations=2) & ~own
    return np.where(others, 0, ink[y0 : y1 + 1, x0 : x1 + 1])


def erode_apart(blot: np.ndarray) -> list[np.ndarray]:
    """A wide blot's digits, when they touch through necks narrower than NECK of the pen: the blot
    eroded to its strokes' cores, each ink pixel given to its nearest core, the cores grouped into
    digits as parts are. Returns [blot] when it stays one digit."""
    mask = blot >= INK_LEVEL
    depth = ndimage.distance_transform_edt(mask)
    cores, boxes = _labels(depth > NECK * measured_width(mask.astype(np.float32)) / 2)
    if len(boxes) < 2:
        return [blot]
    groups = group_parts(boxes)
    if len(groups) < 2:
        return [blot]
    nearest = ndimage.distance_transform_edt(cores == 0, return_indices=True)[1]
    owner = np.where(mask, cores[nearest[0], nearest[1]], 0)
    parts = [np.isin(owner, np.array(group) + 1) for group in groups]
    return [crop_to_ink(np.where(part, blot, 0)) for part in parts]


def ink_pieces(ink: np.ndarray, stroke_width: float = STROKE_WIDTH) -> list[Piece]:
    """An (H, W) uint8 ink map's pieces (see `pieces`); EmptyDrawing when there is no ink, when it does not
    look like a drawing (mostly ink, or scattered marks), or for more than MAX_DIGITS pieces."""
    check_looks_drawn(ink)
    ink = crop_to_ink(ink)  # raises EmptyDrawing, saying why; labelling the ink's box only is faster
    labels, boxes = _labels(ink >= INK_LEVEL)
    blots = []
    for digit in group_parts(boxes):
        blot = _isolate(labels, ink, boxes, digit)
        blots += erode_apart(blot) if blot.shape[1] > WIDE_RATIO * blot.shape[0] else [blot]
    _check_count(len(blots))  # before any is framed
    wide = WIDE_ALONE if len(blots) == 1 else WIDE_RATIO
    return [[Option([frame_ink(part, stroke_width) for part in option]) for option in split_options(blot, wide)]
            for blot in blots]


class Drawing(NamedTuple):
    """A drawing split for reading: its pieces, left to right, and, for an image, its whole ink
    framed for the number reader (None for strokes: the pen's path keeps digits apart)."""

    pieces: list[Piece]
    strip: Strip | None = None


def split(value: Any, stroke_width: float | None = None) -> Drawing:
    """A drawing (`Strokes`, or any image `preprocess` accepts) -> its pieces, left to right: per piece
    the ways to read it, each a list of (28, 28) float32 inputs in [0, 1], strokes `stroke_width` px wide
    (default: strokes drawn with PEN_WIDTH, images' strokes normalised to STROKE_WIDTH); and an image's strip.

    Raises EmptyDrawing (nothing readable, or more than MAX_DIGITS digits) or InvalidDrawing.
    """
    if isinstance(value, Strokes):
        return Drawing(stroke_pieces(value, stroke_width or PEN_WIDTH))
    ink = ink_of(value)
    return Drawing(ink_pieces(ink, stroke_width or STROKE_WIDTH), frame_number(ink))


def pieces(value: Any, stroke_width: float | None = None) -> list[Piece]:
    """The pieces of `split(value, stroke_width)`."""
    return split(value, stroke_width).pieces
