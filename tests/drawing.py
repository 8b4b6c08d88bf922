"""Digits drawn with PIL the way a person draws them on a canvas, for tests.

Each digit is a few strokes in unit coordinates (x right, y down, the digit's
box from 0 to 1 in height); `draw_digit` renders them with a round brush.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

Point = tuple[float, float]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> list[Point]:
    """Points on an ellipse from angle `start` to `end` (degrees, clockwise on screen from 3 o'clock)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


DIGIT_STROKES: dict[int, list[list[Point]]] = {
    0: [_arc(0.5, 0.5, 0.32, 0.5, 0, 360, 40)],
    1: [[(0.35, 0.2), (0.55, 0.0), (0.55, 1.0)]],
    2: [_arc(0.5, 0.28, 0.3, 0.28, 190, 360) + [(0.78, 0.38), (0.15, 1.0), (0.9, 1.0)]],
    3: [_arc(0.45, 0.25, 0.3, 0.25, 200, 450) + _arc(0.45, 0.74, 0.33, 0.26, 270, 520)],
    4: [[(0.62, 0.0), (0.08, 0.68), (0.95, 0.68)], [(0.68, 0.3), (0.68, 1.0)]],
    7: [[(0.1, 0.0), (0.9, 0.0), (0.38, 1.0)]],
}


def draw_digit(
    digit: int,
    canvas: tuple[int, int] = (400, 400),
    height: float = 0.6,
    center: tuple[float, float] = (0.5, 0.5),
    brush: float = 16,
    ink: tuple[int, int, int] = (0, 0, 0),
    background: tuple[int, int, int] | None = (255, 255, 255),
) -> np.ndarray:
    """Draw `digit` on a canvas (W, H); its box is `height` * H tall, centred at `center` (fractions).

    Returns RGB uint8 (H, W, 3) over `background`, or, with background=None,
    RGBA (H, W, 4) on a transparent canvas (alpha = ink, RGB = `ink` under it, 0 elsewhere).
    """
    w, h = canvas
    size = height * h
    cx, cy = center[0] * w, center[1] * h
    mask = Image.new("L", canvas, 0)
    pen = ImageDraw.Draw(mask)
    for stroke in DIGIT_STROKES[digit]:
        pts = [(cx + (x - 0.5) * size, cy + (y - 0.5) * size) for x, y in stroke]
        pen.line(pts, fill=255, width=max(1, round(brush)), joint="curve")
        for x, y in (pts[0], pts[-1]):
            pen.ellipse((x - brush / 2, y - brush / 2, x + brush / 2, y + brush / 2), fill=255)
    alpha = np.asarray(mask, np.float32)[..., None] / 255.0
    if background is None:
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = np.where(alpha > 0, np.array(ink, np.uint8), 0)
        rgba[..., 3] = np.asarray(mask)
        return rgba
    out = np.array(background, np.float32) * (1 - alpha) + np.array(ink, np.float32) * alpha
    return np.rint(out).astype(np.uint8)
