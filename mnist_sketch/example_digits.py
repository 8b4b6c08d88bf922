"""The app's example drawings: digits written as pen strokes by this project, by hand.

Each digit is a few strokes of points in a unit box (x right, y down, 0-1 both
ways), slightly slanted like handwriting. `pad_value` lays one digit or a whole
number out on the stroke pad, as a visitor would draw it; `draw_png` renders a
digit as a sketchpad-like image for API examples (examples/make_examples.py).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from mnist_sketch.strokes import Strokes, draw_on_paper

SLANT = 0.12  # x shift per unit of height going up: a right-leaning hand
ASPECT = 0.7  # digits are narrower than tall
GAP = 0.25  # between the digits of a number, in digit heights

Point = tuple[float, float]


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 32) -> list[Point]:
    """Points on an ellipse from `start` to `end` degrees (0 = 3 o'clock, clockwise on screen)."""
    return [
        (cx + rx * math.cos(math.radians(start + (end - start) * i / (n - 1))),
         cy + ry * math.sin(math.radians(start + (end - start) * i / (n - 1))))
        for i in range(n)
    ]


STROKES: dict[int, list[list[Point]]] = {
    0: [arc(0.5, 0.5, 0.34, 0.5, -100, 265, 48)],
    1: [[(0.3, 0.16), (0.52, 0.0), (0.52, 1.0)]],
    2: [arc(0.5, 0.27, 0.33, 0.27, 195, 365) + [(0.74, 0.45), (0.12, 1.0), (0.92, 0.98)]],
    3: [arc(0.47, 0.25, 0.31, 0.25, 205, 450) + arc(0.47, 0.74, 0.36, 0.26, 270, 505)],
    4: [[(0.6, 0.0), (0.1, 0.66), (0.94, 0.66)], [(0.7, 0.32), (0.7, 1.0)]],
    5: [[(0.86, 0.0), (0.24, 0.0), (0.18, 0.42)] + arc(0.48, 0.68, 0.38, 0.3, 220, 505)],
    6: [[(0.72, 0.0), (0.5, 0.18), (0.26, 0.5)] + arc(0.5, 0.72, 0.3, 0.28, 180, -180)],  # the loop as a hand draws it
    7: [[(0.08, 0.02), (0.9, 0.02), (0.62, 0.42), (0.38, 1.0)]],
    8: [arc(0.5, 0.24, 0.26, 0.24, 90, 450), arc(0.5, 0.74, 0.33, 0.26, -90, 270)],
    9: [arc(0.5, 0.28, 0.3, 0.28, 10, 375) + [(0.76, 0.6), (0.66, 1.0)]],
}


def _strokes(digit: int, left: float, top: float, height: float) -> list[list[Point]]:
    """A digit's strokes in canvas coordinates, its box `height` tall with its top-left at (left, top)."""
    width = ASPECT * height
    return [[(left + (x + SLANT * (0.5 - y)) * width, top + y * height) for x, y in stroke]
            for stroke in STROKES[digit]]


def pad_value(number: str, canvas: tuple[int, int] = (900, 600), height: float = 0.55) -> dict:
    """The stroke pad's value for `number` (one digit or several) written across the pad's middle.

    Digits are `height` of the canvas tall, narrowed to fit the width when the number is long.
    """
    w, h = canvas
    size = min(height * h, 0.9 * w / (len(number) * ASPECT + (len(number) - 1) * GAP))
    total = size * (len(number) * ASPECT + (len(number) - 1) * GAP)
    left, top = (w - total) / 2, (h - size) / 2
    strokes = []
    for k, digit in enumerate(number):
        strokes += _strokes(int(digit), left + k * size * (ASPECT + GAP), top, size)
    return {"width": w, "height": h, "strokes": [[[round(x), round(y)] for x, y in s] for s in strokes]}


def draw_png(digit: int, size: int = 800, box: float = 0.62, brush: int = 36) -> Image.Image:
    """One digit, black on white like a sketchpad's export: an "L" image size x size, its box `box` of it
    tall and centred, drawn with a round brush `brush` px wide (the old sketchpad's, 1/22 of the canvas)."""
    height = box * size
    strokes = _strokes(digit, (size - ASPECT * height) / 2, (size - height) / 2, height)
    return draw_on_paper(Strokes(size, size, tuple(np.array(s) for s in strokes)), brush)
