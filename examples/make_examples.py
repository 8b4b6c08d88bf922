"""Draw the app's example digits 0-9 as 800x800 sketchpad-like PNGs (black strokes on white).

Each digit is a few pen strokes written by hand as points in a unit box
(x right, y down, 0-1 both ways), slightly slanted like handwriting, and
rendered with a round brush as wide as the app's (about 1/22 of the canvas).
Run from anywhere; it rewrites examples/digit_<d>.png next to this script:

    python examples/make_examples.py
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
CANVAS = 800  # the app's canvas_size
BRUSH = 36  # stroke width in canvas pixels (the app's brush: radius 18)
SUPERSAMPLE = 2  # draw at 2x and downsample, for the soft edges a browser brush has
SLANT = 0.12  # x shift per unit of height going up: a right-leaning hand

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
    6: [[(0.72, 0.0), (0.5, 0.18), (0.26, 0.5)] + arc(0.5, 0.72, 0.3, 0.28, 180, 540)],
    7: [[(0.08, 0.02), (0.9, 0.02), (0.62, 0.42), (0.38, 1.0)]],
    8: [arc(0.5, 0.24, 0.26, 0.24, 90, 450), arc(0.5, 0.74, 0.33, 0.26, -90, 270)],
    9: [arc(0.5, 0.28, 0.3, 0.28, 10, 375) + [(0.76, 0.6), (0.66, 1.0)]],
}


def draw(digit: int, size: int = CANVAS, box: float = 0.62, brush: int = BRUSH) -> Image.Image:
    """One digit, black on white, its box `box` of the canvas tall and centred; an "L" image size x size."""
    s = size * SUPERSAMPLE
    height = box * s
    width = 0.7 * height  # digits are narrower than tall
    left, top = (s - width) / 2, (s - height) / 2
    img = Image.new("L", (s, s), 255)
    pen = ImageDraw.Draw(img)
    r = brush * SUPERSAMPLE / 2
    for stroke in STROKES[digit]:
        pts = [(left + (x + SLANT * (0.5 - y)) * width, top + y * height) for x, y in stroke]
        pen.line(pts, fill=0, width=round(2 * r), joint="curve")
        for x, y in (pts[0], pts[-1]):  # round caps, like a round brush
            pen.ellipse((x - r, y - r, x + r, y + r), fill=0)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    for digit in STROKES:
        path = HERE / f"digit_{digit}.png"
        draw(digit).save(path, optimize=True)
        print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
