"""The stroke pad: a light drawing pad whose value is the pen's path, not an image.

A `gr.HTML` component (Gradio's custom-HTML mechanism): a plain 2D canvas
drawn on with pointer events (mouse, touch, pen), with Undo (also Ctrl/Cmd+Z)
and Clear. Its value is {"width": W, "height": H, "strokes": [[[x, y], ...], ...]}
in canvas pixels, sent when the pen is lifted and, once a stroke has lasted
LIVE_AFTER_MS, at most every SEND_EVERY_MS while it goes on: a few hundred
numbers instead of the images an image editor uploads. Its behaviour is
stroke_pad.js, beside this file.

Gradio writes a stroke_pad.pyi type stub beside this file when the class is
defined (as for any Component subclass); it is git-ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from mnist_sketch.strokes import MAX_POINTS, MAX_STROKES, InvalidStrokes, Strokes, parse_strokes

# A stroke is always sent when the pen is lifted. A long one (a number in one stroke, a slow hand) is
# also read as it goes: after LIVE_AFTER_MS, every SEND_EVERY_MS. A digit's stroke rarely lasts a
# second, and reading it half-drawn would only cost the page its smoothness (each reading is a Gradio
# event: about 50 ms of the page's main thread in a software-rendered Chromium).
LIVE_AFTER_MS, SEND_EVERY_MS = 1000, 150

HTML_TEMPLATE = """
<div class="stroke-pad">
  <canvas width="${canvas_width}" height="${canvas_height}" role="img"
          aria-label="Drawing pad: draw a digit or a number with the mouse, a finger or a pen"></canvas>
  <div class="pad-tools">
    <button type="button" class="pad-undo" title="Undo the last stroke (Ctrl+Z)"
            ${value && value.strokes && value.strokes.length ? "" : "disabled"}>Undo</button>
    <button type="button" class="pad-clear"
            ${value && value.strokes && value.strokes.length ? "" : "disabled"}>Clear</button>
  </div>
</div>
"""

# Scoped to the pad by Gradio. The paper stays white in dark mode: the ink is black.
CSS_TEMPLATE = """
.stroke-pad { display: flex; flex-direction: column; gap: var(--spacing-md); }
canvas {
  display: block; width: 100%; height: auto; aspect-ratio: ${canvas_width} / ${canvas_height};
  background: #fff; border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  touch-action: none; user-select: none; -webkit-user-select: none; cursor: crosshair;
}
.pad-tools { display: flex; gap: var(--spacing-md); }
.pad-tools button {
  flex: 1; margin: 0; padding: var(--size-2) var(--size-4); border-radius: var(--button-small-radius);
  border: 1px solid var(--button-secondary-border-color); background: var(--button-secondary-background-fill);
  color: var(--button-secondary-text-color); font-weight: var(--button-small-text-weight); cursor: pointer;
  touch-action: manipulation;  /* a quick second tap is a tap, not a double-tap zoom */
}
.pad-tools button:hover:enabled { background: var(--button-secondary-background-fill-hover); }
.pad-tools button:disabled { opacity: 0.5; cursor: default; }
"""

JS_ON_LOAD = (Path(__file__).with_name("stroke_pad.js")).read_text()


class StrokePad(gr.HTML):
    """A drawing pad; the function gets its value as `Strokes` (validated), or a gr.Error says what is wrong."""

    def __init__(self, value: Strokes | dict | None = None, *, canvas: tuple[int, int] = (900, 600),
                 pen_width: float = 20, **kwargs: Any):
        """`canvas`: the drawing's (width, height) in pixels (the page shows it scaled to fit);
        `pen_width`: the ink's width on the canvas, in canvas pixels."""
        # Kept as attributes: Gradio rebuilds a component from its constructor's arguments when an
        # event updates it (an example click), reading them back from the instance.
        self.canvas, self.pen_width = tuple(canvas), pen_width
        super().__init__(
            value=value,
            html_template=HTML_TEMPLATE,
            css_template=CSS_TEMPLATE,
            js_on_load=JS_ON_LOAD,
            canvas_width=canvas[0],
            canvas_height=canvas[1],
            pen_width=pen_width,
            max_strokes=MAX_STROKES,
            max_points=MAX_POINTS,
            live_after_ms=LIVE_AFTER_MS,
            send_every_ms=SEND_EVERY_MS,
            **kwargs,
        )

    def preprocess(self, payload: Any) -> Strokes:
        """The pad's JSON value -> Strokes; None (nothing sent yet) is an empty drawing."""
        if payload is None:
            return Strokes(*self.canvas, ())
        try:
            return parse_strokes(payload)
        except InvalidStrokes as exc:
            raise gr.Error(str(exc), print_exception=False) from exc

    def postprocess(self, value: Strokes | dict | None) -> dict | None:
        """Strokes, or a value in the pad's JSON form, -> the pad's JSON value."""
        if value is None:
            return None
        return (value if isinstance(value, Strokes) else parse_strokes(value)).to_json()

    def api_info(self) -> dict[str, Any]:
        point = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        return {
            "type": "object",
            "description": "A drawing: strokes of [x, y] points in pixels of a width x height canvas, y down",
            "properties": {
                "width": {"type": "number", "exclusiveMinimum": 0},
                "height": {"type": "number", "exclusiveMinimum": 0},
                "strokes": {"type": "array", "maxItems": MAX_STROKES,
                            "items": {"type": "array", "items": point, "minItems": 1, "maxItems": MAX_POINTS}},
            },
            "required": ["width", "height", "strokes"],
        }

    def example_payload(self) -> dict:
        return {"width": 900, "height": 600, "strokes": [[[380, 160], [480, 100], [480, 500]]]}

    def example_value(self) -> dict:
        return self.example_payload()
