"""Draw the API example digits 0-9 as 800x800 sketchpad-like PNGs (black strokes on white).

The strokes are the app's own examples (`mnist_sketch.example_digits`), rendered
with a round brush as a sketchpad would export them. Run from anywhere; it
rewrites examples/digit_<d>.png next to this script:

    python examples/make_examples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from mnist_sketch.example_digits import STROKES, draw_png  # noqa: E402


def main() -> None:
    for digit in STROKES:
        path = HERE / f"digit_{digit}.png"
        draw_png(digit).save(path, optimize=True)
        print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
