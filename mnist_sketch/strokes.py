"""A drawing as the pen drew it: strokes of (x, y) points, and their MNIST-like 28x28 rendering.

The stroke pad sends {"width": W, "height": H, "strokes": [[[x, y], ...], ...]}
in canvas pixels. Knowing the pen's path, the drawing can be rendered straight
into MNIST's frame (no crop, no resampling of a big canvas, no thickening or
thinning): the strokes' box is fitted in 20x20 keeping the aspect ratio, the
strokes are drawn there with a round pen of MNIST's width (PEN_WIDTH),
anti-aliased by supersampling and area-averaging, and the result is centred by
mass in 28x28.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from mnist_sketch.preprocess import BOX_SIZE, EmptyDrawing, InvalidDrawing, center_by_mass

# The pen's width at 28x28: MNIST's median stroke width, 2.58 px. (The image path normalises the width
# it *measures* to 2.8, which anti-aliasing and its thickening blur make wider than the pen.) Drawn at
# 2.8, the pen-drawn digits of benchmarks/sketch_accuracy.py read 0.06 points worse (RESULTS.md).
PEN_WIDTH = 2.6
MAX_STROKES = 64
MAX_POINTS = 2000  # per stroke
MAX_CANVAS_SIDE = 10_000  # px; a canvas larger than this is refused
SUPERSAMPLE = 8  # strokes are drawn at 8x the model's resolution, then area-averaged
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
    if not math.isfinite(value):
        raise InvalidStrokes(f"{what} must be a finite number; got {value}.")
    return float(value)


def _stroke(points: Any, k: int) -> np.ndarray:
    """Stroke k as (n, 2) float64, or InvalidStrokes saying what is wrong with it."""
    if not isinstance(points, Sequence) or isinstance(points, (str, bytes)):
        raise InvalidStrokes(f"Stroke {k + 1} must be a list of [x, y] points; got {type(points).__name__}.")
    if not points:
        raise InvalidStrokes(f"Stroke {k + 1} has no points.")
    if len(points) > MAX_POINTS:
        raise InvalidStrokes(f"Stroke {k + 1} has {len(points)} points; at most {MAX_POINTS} are read.")
    if not all(isinstance(p, Sequence) and not isinstance(p, (str, bytes)) and len(p) == 2 for p in points):
        raise InvalidStrokes(f"Each point of stroke {k + 1} must be a pair [x, y].")
    for p in points:
        for c in p:
            if isinstance(c, bool) or not isinstance(c, (int, float)):
                raise InvalidStrokes(f"Stroke {k + 1} has a coordinate that is not a number: {str(c)[:20]!r}.")
    array = np.asarray(points, dtype=np.float64)
    if not np.isfinite(array).all():
        raise InvalidStrokes(f"Stroke {k + 1} has a coordinate that is not a finite number (NaN or infinity).")
    return array


def parse_strokes(value: Any) -> Strokes:
    """Validate the pad's JSON value and return it as Strokes.

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
    if not isinstance(strokes, Sequence) or isinstance(strokes, (str, bytes)):
        raise InvalidStrokes(f"strokes must be a list of strokes; got {type(strokes).__name__}.")
    if len(strokes) > MAX_STROKES:
        raise InvalidStrokes(f"The drawing has {len(strokes)} strokes; at most {MAX_STROKES} are read. "
                             "Clear the pad and draw again.")
    limits = np.array([width, height])
    return Strokes(width, height, tuple(np.clip(_stroke(s, k), 0, limits) for k, s in enumerate(strokes)))


def check_drawn(strokes: Strokes) -> None:
    """Raise EmptyDrawing for a drawing with no strokes, or one that is only a dot."""
    if not strokes.strokes:
        raise EmptyDrawing()
    extent = np.ptp(strokes.points, axis=0).max()
    if extent < DOT_FRACTION * min(strokes.width, strokes.height):
        raise EmptyDrawing("That is only a dot: draw a digit (0-9) on the pad.")


def _pen(draw: ImageDraw.ImageDraw, strokes: Sequence[Sequence[tuple[float, float]]], width: float,
         ink: int) -> None:
    """Draw strokes of (x, y) points with a round pen `width` px wide: joined lines, round ends."""
    r = width / 2
    for xy in strokes:
        if len(xy) > 1:
            draw.line(list(xy), fill=ink, width=round(width), joint="curve")
        for x, y in (xy[0], xy[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)


def render_in_box(strokes: Sequence[np.ndarray], pen_width: float = PEN_WIDTH, box: int = BOX_SIZE) -> np.ndarray:
    """Strokes ((n, 2) points) drawn with a round pen `pen_width` px wide, their ink box fitted in box x box.

    Returns float32 (h, w) ink in [0, 1], h and w <= box, the longer side
    `box` (a dot becomes a disc of the pen's width).
    """
    points = np.concatenate(strokes)
    lo = points.min(axis=0)
    extent = np.ptp(points, axis=0)
    scale = (box - pen_width) / extent.max() if extent.max() > 0 else 0.0  # centre lines span box - pen
    h, w = (min(box, math.ceil(extent[i] * scale + pen_width)) for i in (1, 0))
    s = SUPERSAMPLE
    layer = Image.new("L", (w * s, h * s), 0)
    placed = [[(float(x), float(y)) for x, y in (stroke - lo) * scale * s + pen_width * s / 2] for stroke in strokes]
    _pen(ImageDraw.Draw(layer), placed, pen_width * s, 255)
    return np.asarray(layer.reduce(s), np.float32) / 255.0


def draw_on_paper(strokes: Strokes, pen_width: float) -> Image.Image:
    """The drawing as the pad shows it: black strokes `pen_width` canvas px wide on a white "L" image of
    the canvas's size, anti-aliased (drawn at twice the size, then area-averaged)."""
    size = (max(1, round(strokes.width)), max(1, round(strokes.height)))
    paper = Image.new("L", (size[0] * 2, size[1] * 2), 255)
    _pen(ImageDraw.Draw(paper), [[(2 * float(x), 2 * float(y)) for x, y in s] for s in strokes.strokes],
         2 * pen_width, 0)
    return paper.reduce(2)


def frame_strokes(strokes: Strokes, pen_width: float = PEN_WIDTH) -> np.ndarray:
    """The strokes of one digit -> (28, 28) float32 MNIST-like ink in [0, 1]."""
    return center_by_mass(render_in_box(strokes.strokes, pen_width))
