"""A drawing as the pen drew it: strokes of (x, y) points, and their MNIST-like 28x28 rendering.

The stroke pad sends {"width": W, "height": H, "strokes": [[[x, y], ...], ...]}
in canvas pixels. Knowing the pen's path, the drawing can be rendered straight
into MNIST's frame (no crop, no resampling of a big canvas, no thickening or
thinning): the strokes' box is fitted in 20x20 keeping the aspect ratio, the
strokes are drawn there with a round pen of MNIST's width (PEN_WIDTH),
anti-aliased by supersampling and area-averaging, and the result is centred by
mass in 28x28.

What a drawing costs is bounded whatever its points draw (benchmarks/worst_case.py): `parse_strokes`
refuses more than MAX_TOTAL_POINTS and drops the points that cannot change the model's input (closer
along the stroke than SIMPLIFY of a model pixel); the round pen (`_pen`) draws whole polylines in C and
its joints all at once, never point by point in Python; and strokes that would fill too many scanlines
are drawn at a lower resolution (DIGIT_ROWS, PAPER_ROWS).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from mnist_sketch.preprocess import BOX_SIZE, EmptyDrawing, InvalidDrawing, center_by_mass

# The pen's width at 28x28: MNIST's median stroke width, 2.58 px. (The image path normalises the width
# it *measures* to 2.8, which anti-aliasing and its thickening blur make wider than the pen.) Drawn at
# 2.8, the pen-drawn digits of benchmarks/sketch_accuracy.py read 0.06 points worse (benchmarks/HISTORY.md).
PEN_WIDTH = 2.6
MAX_STROKES = 64
MAX_POINTS = 2000  # per stroke
# In all strokes: what a request may cost grows with it (benchmarks/worst_case.py). Drawn slowly, a point
# per canvas pixel, a digit filling the pad's height is about 900 points, a number of 4 or 12 digits 2,000.
MAX_TOTAL_POINTS = 10_000
MAX_CANVAS_SIDE = 10_000  # px; a canvas larger than this is refused
SUPERSAMPLE = 8  # strokes are drawn at 8x the model's resolution, then area-averaged
# Points of a stroke closer than this (model px, along the stroke) to the last point kept are dropped, when
# the drawing is parsed and again in each box it is drawn in: one pixel of the supersampled drawing, far
# under the pen's width.
SIMPLIFY = 1 / SUPERSAMPLE
PAPER_SIDE = 900  # px: `draw_on_paper` draws a larger canvas scaled down to this on its longer side
# The pen's cost is the scanlines it fills (`_pen_rows`). Strokes that would fill more than these are drawn
# smaller: the dev digits of the pen data, resampled to a point per pixel as the pad sends a slow pen, fill
# at most 29,000 at the model's 8x (as recorded, 7,300), but for a 693-point scribble (55,000); a number of
# 12 digits fills 73,000 of the pad's PNG. Only scribbles, or payloads made to cost, reach them.
DIGIT_ROWS = 40_000  # one digit (or digits joined) in the model's frame: its supersampling halved until under
PAPER_ROWS = 500_000  # `draw_on_paper`: the paper scaled down until under
DISC_BATCH = 250_000  # pixels of joints' discs set at once, so many joints take little memory
# A drawing whose strokes span less than this share of the canvas's shorter side is a dot or a
# tap, not a digit (a digit drawn very small in a corner of the pad still spans over 10 %).
DOT_FRACTION = 0.02


class InvalidStrokes(InvalidDrawing):
    """The value is not a stroke drawing: wrong shape, wrong types, non-finite numbers or too large."""


@dataclass(frozen=True)
class Strokes:
    """A drawing on a `width` x `height` canvas: strokes of (n, 2) float64 (x, y) points, y down."""

    width: float
    height: float
    strokes: tuple[np.ndarray, ...]

    @property
    def points(self) -> np.ndarray:
        """(n, 2) all points of all strokes."""
        return np.concatenate(self.strokes) if self.strokes else np.zeros((0, 2))

    def to_json(self) -> dict[str, Any]:
        """The pad's value: {"width", "height", "strokes": [[[x, y], ...], ...]}, coordinates rounded to 0.1 px."""
        return {"width": self.width, "height": self.height,
                "strokes": [np.round(s, 1).tolist() for s in self.strokes]}


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidStrokes(f"{what} must be a number; got {type(value).__name__} {str(value)[:20]!r}.")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float: JSON allows any number of digits
        raise InvalidStrokes(f"{what} must be a finite number; got an integer over 1e308.") from None
    if not math.isfinite(number):
        raise InvalidStrokes(f"{what} must be a finite number; got {number}.")
    return number


def _is_list(value: Any) -> bool:
    """Whether a JSON value is an array (a sequence, not a string)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _stroke(points: Any, k: int) -> np.ndarray:
    """Stroke k as (n, 2) float64, or InvalidStrokes saying what is wrong with it."""
    if not _is_list(points):
        raise InvalidStrokes(f"Stroke {k + 1} must be a list of [x, y] points; got {type(points).__name__}.")
    if not points:
        raise InvalidStrokes(f"Stroke {k + 1} has no points.")
    if len(points) > MAX_POINTS:
        raise InvalidStrokes(f"Stroke {k + 1} has {len(points)} points; at most {MAX_POINTS} are read.")
    # Types checked by the set of them, not point by point in Python: a stroke may have thousands.
    if not set(map(type, points)) <= {list, tuple} or set(map(len, points)) != {2}:
        raise InvalidStrokes(f"Each point of stroke {k + 1} must be a pair [x, y].")
    if not set(map(type, itertools.chain.from_iterable(points))) <= {int, float}:  # bool is not int here
        bad = next(c for c in itertools.chain.from_iterable(points) if type(c) not in (int, float))
        raise InvalidStrokes(f"Stroke {k + 1} has a coordinate that is not a number: {str(bad)[:20]!r}.")
    try:
        array = np.asarray(points, dtype=np.float64)
    except OverflowError:  # an integer beyond any float
        raise InvalidStrokes(f"Stroke {k + 1} has a coordinate that is not a finite number (over 1e308).") from None
    if not np.isfinite(array).all():
        raise InvalidStrokes(f"Stroke {k + 1} has a coordinate that is not a finite number (NaN or infinity).")
    return array


def simplify(stroke: np.ndarray, spacing: float) -> np.ndarray:
    """A stroke's (n, 2) points less those within `spacing` (along the stroke) of the last point kept.

    Each point dropped lies within `spacing` of the polyline kept. Both ends are kept, and the points on the
    stroke's box, so boxes, and how a drawing is split and framed, stay as they were.
    """
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))])
    bins = np.floor(along / spacing)
    keep = np.concatenate([[True], bins[1:] > bins[:-1]])  # the first point in each `spacing` of length
    keep[[-1, *stroke.argmin(axis=0), *stroke.argmax(axis=0)]] = True  # the end, and the box's
    return stroke[keep]


def _simplified(stroke: np.ndarray) -> np.ndarray:
    """A stroke `simplify`'d by SIMPLIFY model px wherever it is framed (a digit's box, which the model's
    20x20 box fits, is never smaller than its strokes' own); a stroke of one repeated point becomes one."""
    extent = np.ptp(stroke, axis=0).max()
    return simplify(stroke, SIMPLIFY * extent / (BOX_SIZE - PEN_WIDTH)) if extent else stroke[:1]


def parse_strokes(value: Any) -> Strokes:
    """Validate the pad's JSON value and return it as Strokes, each stroke simplified (`_simplified`).

    Points outside the canvas (a stroke that left it, or negative numbers)
    are moved to its edge, where the visitor saw the ink stop. Raises
    InvalidStrokes with a message saying what is wrong.
    """
    if isinstance(value, Strokes):
        return value
    if not isinstance(value, Mapping):
        raise InvalidStrokes(f'Expected a drawing {{"width", "height", "strokes"}}; got {type(value).__name__}.')
    missing = [key for key in ("width", "height", "strokes") if key not in value]
    if missing:
        raise InvalidStrokes(f'The drawing lacks {", ".join(map(repr, missing))}: expected '
                             '{"width": W, "height": H, "strokes": [[[x, y], ...], ...]}.')
    width, height = _number(value["width"], "width"), _number(value["height"], "height")
    if not (1 <= width <= MAX_CANVAS_SIDE and 1 <= height <= MAX_CANVAS_SIDE):
        raise InvalidStrokes(f"The canvas must be 1 to {MAX_CANVAS_SIDE} px on each side; got {width:g}x{height:g}.")
    strokes = value["strokes"]
    if not _is_list(strokes):
        raise InvalidStrokes(f"strokes must be a list of strokes; got {type(strokes).__name__}.")
    if len(strokes) > MAX_STROKES:
        raise InvalidStrokes(f"The drawing has {len(strokes)} strokes; at most {MAX_STROKES} are read. "
                             "Clear the pad and draw again.")
    total = sum(len(s) for s in strokes if _is_list(s))  # counted before any is read
    if total > MAX_TOTAL_POINTS:
        raise InvalidStrokes(f"The drawing has {total:,} points; at most {MAX_TOTAL_POINTS:,} are read. "
                             "Clear the pad and draw again.")
    limits = np.array([width, height])
    return Strokes(width, height, tuple(_simplified(np.clip(_stroke(s, k), 0, limits)) for k, s in enumerate(strokes)))


def check_drawn(strokes: Strokes) -> None:
    """Raise EmptyDrawing for a drawing with no strokes, or one that is only a dot."""
    if not strokes.strokes:
        raise EmptyDrawing()
    extent = np.ptp(strokes.points, axis=0).max()
    if extent < DOT_FRACTION * min(strokes.width, strokes.height):
        raise EmptyDrawing("That is only a dot: draw a digit (0-9) on the pad.")


def _pen(size: tuple[int, int], strokes: Sequence[np.ndarray], width: float) -> Image.Image:
    """Strokes ((n, 2) x, y in pixels) drawn with a round pen `width` px wide: an "L" image of `size` (w, h),
    ink 255 on 0.

    Drawn as PIL's line(joint="curve") draws them, which the model was trained on (joints are discs of
    radius round(width) / 2 - 1, ends of `width` / 2), but with the joints' discs set in numpy, all at
    once (pixel centres within the radius of the joint's pixel), where PIL draws each joint in Python.
    """
    layer = Image.new("L", size, 0)
    draw = ImageDraw.Draw(layer)
    r = width / 2
    for xy in strokes:
        if len(xy) > 1:
            draw.line(xy.ravel().tolist(), fill=255, width=round(width))
        for x, y in (xy[0], xy[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    joints = np.concatenate([np.zeros((0, 2)), *(xy[1:-1] for xy in strokes)])
    if not len(joints):
        return layer
    offsets = _disc(max(round(width) / 2 - 1, 0.0))
    reach = int(np.abs(offsets).max())
    # Set in a copy of the layer padded by a disc's reach, through flat indices: no disc falls off it.
    padded = np.zeros((size[1] + 2 * reach, size[0] + 2 * reach), np.uint8)
    padded[reach : size[1] + reach, reach : size[0] + reach] = np.asarray(layer)
    stride = padded.shape[1]
    centres = np.clip(np.floor(joints).astype(int), 0, np.array(size) - 1) + reach
    at, disc = centres[:, 1] * stride + centres[:, 0], offsets[:, 1] * stride + offsets[:, 0]
    batch = max(1, DISC_BATCH // len(disc))
    for start in range(0, len(at), batch):
        padded.ravel()[(at[start : start + batch, None] + disc).ravel()] = 255
    return Image.fromarray(padded[reach : size[1] + reach, reach : size[0] + reach])


@functools.cache
def _disc(radius: float) -> np.ndarray:
    """(k, 2) offsets (dx, dy) of the pixels whose centres lie within `radius` of a pixel's centre."""
    reach = math.floor(radius)
    dy, dx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    return np.stack([dx, dy], axis=-1)[dx**2 + dy**2 <= radius**2]


def _pen_rows(strokes: Sequence[np.ndarray], width: float) -> float:
    """About the scanlines `_pen` fills for strokes ((n, 2) px) drawn `width` px wide, which its time follows:
    each segment's height and a pen's width per point. Both scale with the drawing."""
    return float(sum(np.abs(np.diff(xy[:, 1])).sum() + width * len(xy) for xy in strokes))


def render_in_box(strokes: Sequence[np.ndarray], pen_width: float = PEN_WIDTH, box: int = BOX_SIZE) -> np.ndarray:
    """Strokes ((n, 2) points) drawn with a round pen `pen_width` px wide, their ink box fitted in box x box.

    Returns float32 (h, w) ink in [0, 1], h and w <= box, the longer side
    `box` (a dot becomes a disc of the pen's width). Strokes that would fill more than DIGIT_ROWS
    scanlines at SUPERSAMPLE are supersampled less.
    """
    points = np.concatenate(strokes)
    lo = points.min(axis=0)
    extent = np.ptp(points, axis=0)
    scale = (box - pen_width) / extent.max() if extent.max() > 0 else 0.0  # centre lines span box - pen
    h, w = (min(box, math.ceil(extent[i] * scale + pen_width)) for i in (1, 0))
    # In the model's px, simplified again: digits joined in one box are drawn smaller than alone.
    placed = [simplify((stroke - lo) * scale + pen_width / 2, SIMPLIFY) for stroke in strokes]
    s = SUPERSAMPLE
    while s > 1 and s * _pen_rows(placed, pen_width) > DIGIT_ROWS:
        s //= 2
    return np.asarray(_pen((w * s, h * s), [xy * s for xy in placed], pen_width * s).reduce(s), np.float32) / 255.0


def draw_on_paper(strokes: Strokes, pen_width: float) -> Image.Image:
    """The drawing as the pad shows it: black strokes `pen_width` canvas px wide on a white "L" image of
    the canvas's size, anti-aliased (drawn at twice the size, then area-averaged). A canvas larger than
    PAPER_SIDE on its longer side is drawn scaled down to it, the pen with it, and strokes that would
    fill more than PAPER_ROWS scanlines further."""
    rows = 2 * _pen_rows(strokes.strokes, pen_width)  # at the canvas's size
    scale = min(1.0, PAPER_SIDE / max(strokes.width, strokes.height), PAPER_ROWS / max(rows, 1.0))
    size = (max(1, round(strokes.width * scale)), max(1, round(strokes.height * scale)))
    ink = _pen((size[0] * 2, size[1] * 2), [2 * scale * s for s in strokes.strokes], 2 * scale * pen_width)
    return ImageChops.invert(ink).reduce(2)


def frame_strokes(strokes: Strokes, pen_width: float = PEN_WIDTH) -> np.ndarray:
    """The strokes of one digit -> (28, 28) float32 MNIST-like ink in [0, 1]."""
    return center_by_mass(render_in_box(strokes.strokes, pen_width))
