"""The stroke pad: a light drawing pad whose value is the pen's path, not an image.

A `gr.HTML` component (Gradio's custom-HTML mechanism): a plain 2D canvas
drawn on with pointer events (mouse, touch, pen), with Undo (also Ctrl/Cmd+Z),
Clear, and pictures of example drawings to start from; on a narrow screen the
canvas is squarer (the page gives it the screen's width). Its value is
{"width": W, "height": H, "strokes": [[[x, y], ...], ...]} in canvas pixels,
sent when the pen is lifted and, once a stroke has lasted LIVE_AFTER_MS, at
most every SEND_EVERY_MS while it goes on: a few hundred numbers instead of
the images an image editor uploads. Its behaviour is
stroke_pad.js, beside this file.

Gradio writes a stroke_pad.pyi type stub beside this file when the class is
defined (as for any Component subclass); it is git-ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from space.plain_error import plain_error
from mnist_sketch.strokes import MAX_POINTS, MAX_STROKES, InvalidStrokes, Strokes, parse_strokes

# A stroke is always sent when the pen is lifted. A long one (a number in one stroke, a slow hand) is
# also read as it goes: after LIVE_AFTER_MS, every SEND_EVERY_MS. A digit's stroke rarely lasts a
# second, and reading it half-drawn would only cost the page its smoothness (each reading is a Gradio
# event: about 50 ms of the page's main thread in a software-rendered Chromium).
LIVE_AFTER_MS, SEND_EVERY_MS = 1000, 150

# The page's narrow screens (phones held upright): the pad takes their full width with a squarer canvas.
NARROW_SCREEN = "(max-width: 640px)"

# A function of the props only: the script changes props (value, blank, picked, the canvas's size) and
# Gradio re-renders this in place, keeping the elements (and so the focus on a button). `blank`: no ink at
# all, not even a stroke being drawn; `picked`: the example the pad shows untouched, or -1. It shows none of
# the value a client sends: Gradio fills a template with Handlebars, then evaluates the result as a JavaScript
# template literal, so only the server's own props (numbers, booleans, the examples' labels and SVG paths,
# which hold no "${" or backtick) may go in it.
HTML_TEMPLATE = """
<div class="stroke-pad">
  <div class="pad-paper">
    <canvas width="${canvas_width}" height="${canvas_height}" role="img"
            aria-label="Drawing pad: draw a digit or a number with the mouse, a finger or a pen"></canvas>
    <p class="pad-hint" aria-hidden="true" ${blank ? "" : "hidden"}>Draw a digit or a number here</p>
  </div>
  <div class="pad-tools">
    <button type="button" class="pad-undo" title="Undo the last stroke (Ctrl+Z)"
            aria-disabled="${blank}">Undo</button>
    <button type="button" class="pad-clear" aria-disabled="${blank}">Clear</button>
  </div>
  {{#if examples.length}}
  <div class="pad-examples" role="group" aria-label="Examples">
    <p class="pad-caption">Or start from an example, then undo or draw on:</p>
    {{#each examples}}
    <button type="button" class="pad-example" data-index="{{@index}}" aria-label="Example: {{label}}"
            title="Example: {{label}}" aria-pressed="${picked === {{@index}} }">
      <svg viewBox="{{box}}" aria-hidden="true"><path d="{{path}}" stroke-width="${pen_width}"/></svg>
    </button>
    {{/each}}
  </div>
  {{/if}}
</div>
"""

# Scoped to the pad by Gradio. The paper stays white in dark mode: the ink is black. Hover colours only
# where there is a hover (a mouse): after a tap, a phone would keep them on the button tapped.
CSS_TEMPLATE = """
.stroke-pad { display: flex; flex-direction: column; gap: var(--spacing-md); }
.pad-paper { position: relative; }
canvas {
  display: block; width: 100%; height: auto; aspect-ratio: ${canvas_width} / ${canvas_height};
  background: #fff; border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  touch-action: none; user-select: none; -webkit-user-select: none; cursor: crosshair;
}
.pad-hint {
  position: absolute; top: 50%; left: 0; right: 0; transform: translateY(-50%); margin: 0; text-align: center;
  pointer-events: none;
  color: #5f6368; font-size: var(--text-lg);  /* on the white paper in either theme: 6:1 */
}
.pad-tools { display: flex; gap: var(--spacing-md); }
button {
  margin: 0; border-radius: var(--button-small-radius); border: 1px solid var(--button-secondary-border-color);
  background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color);
  cursor: pointer; touch-action: manipulation;  /* a quick second tap is a tap, not a double-tap zoom */
}
button:focus-visible { outline: 2px solid var(--color-accent); outline-offset: 2px; }
.pad-tools button { flex: 1; padding: var(--size-2) var(--size-4); font-weight: var(--button-small-text-weight); }
button[aria-disabled="true"] { opacity: 0.5; cursor: default; }
.pad-examples { display: flex; flex-wrap: wrap; align-items: center; gap: var(--spacing-md); }
.pad-caption { flex-basis: 100%; margin: 0; color: var(--body-text-color-subdued); font-size: var(--text-sm); }
.pad-example { display: flex; padding: var(--size-1) var(--size-2); }
.pad-example svg {
  height: 2.25rem; width: auto; fill: none; stroke: currentColor; stroke-linecap: round; stroke-linejoin: round;
}
.pad-example[aria-pressed="true"] { border-color: var(--color-accent); box-shadow: 0 0 0 1px var(--color-accent); }
@media (hover: hover) {
  button:hover:not([aria-disabled="true"]) { background: var(--button-secondary-background-fill-hover); }
}
"""

JS_ON_LOAD = (Path(__file__).with_name("stroke_pad.js")).read_text()


def thumbnail(value: Strokes | dict, margin: float) -> dict[str, str]:
    """An SVG picture of a drawing: its ink's box `margin` wider on each side ("x y width height", the
    viewBox) and one path of its strokes, in the drawing's own pixels."""
    strokes = parse_strokes(value)
    points = strokes.points
    (left, top), (right, bottom) = points.min(axis=0) - margin, points.max(axis=0) + margin
    # A stroke of one point is drawn as a line from it to itself: its round caps make a dot.
    lines = (np.round(stroke if len(stroke) > 1 else np.repeat(stroke, 2, axis=0), 1) for stroke in strokes.strokes)
    path = " ".join("M" + " L".join(f"{x:g} {y:g}" for x, y in line) for line in lines)
    return {"box": f"{left:g} {top:g} {right - left:g} {bottom - top:g}", "path": path}


class StrokePad(gr.HTML):
    """A drawing pad; the function gets its value as `Strokes` (validated), or a gr.Error says what is wrong."""

    def __init__(self, value: Strokes | dict | None = None, *, canvas: tuple[int, int] = (900, 600),
                 narrow_canvas: tuple[int, int] = (900, 675), pen_width: float = 20,
                 examples: Mapping[str, Strokes | dict | str] | None = None, **kwargs: Any):
        """`canvas`: the drawing's (width, height) in pixels (the page shows it scaled to fit);
        `narrow_canvas`: the same on a NARROW_SCREEN (chosen while the pad is empty);
        `pen_width`: the ink's width on the canvas, in canvas pixels;
        `examples`: drawings to start from, by name ("3": a pad value, or its JSON text), shown as
        pictures under the pad."""
        # Kept as attributes: Gradio rebuilds a component from its constructor's arguments when an
        # event updates it, reading them back from the instance; they are sent to the page too.
        self.canvas, self.narrow_canvas, self.pen_width = tuple(canvas), tuple(narrow_canvas), pen_width
        # Each example as JSON text: Gradio snapshots every prop, number by number, on each of the page's
        # events, and the examples' thousand numbers made each reading along a long stroke slow.
        drawings = {label: self.postprocess(json.loads(d) if isinstance(d, str) else d)
                    for label, d in (examples or {}).items()}
        self.examples = {label: json.dumps(drawing) for label, drawing in drawings.items()}
        super().__init__(
            value=value,
            html_template=HTML_TEMPLATE,
            css_template=CSS_TEMPLATE,
            js_on_load=JS_ON_LOAD,
            canvas_width=canvas[0],
            canvas_height=canvas[1],
            narrow_canvas=list(narrow_canvas),
            narrow_screen=NARROW_SCREEN,
            pen_width=pen_width,
            max_strokes=MAX_STROKES,
            max_points=MAX_POINTS,
            live_after_ms=LIVE_AFTER_MS,
            send_every_ms=SEND_EVERY_MS,
            examples=[{"label": label, "value": self.examples[label], **thumbnail(drawing, pen_width)}
                      for label, drawing in drawings.items()],
            blank=not (value and parse_strokes(value).strokes),
            picked=-1,
            **kwargs,
        )

    def preprocess(self, payload: Any) -> Strokes:
        """The pad's JSON value -> Strokes; None (nothing sent yet) is an empty drawing."""
        if payload is None:
            return Strokes(*self.canvas, ())
        try:
            return parse_strokes(payload)
        except InvalidStrokes as exc:
            raise plain_error(str(exc)) from exc

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
