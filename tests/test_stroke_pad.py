"""The stroke pad as a Gradio component, without a page: its examples and how Gradio rebuilds it."""

from __future__ import annotations

import json

from mnist_sketch.example_digits import pad_value
from space.stroke_pad import StrokePad


def test_examples_travel_as_json_text_and_survive_a_rebuild():
    """Gradio rebuilds a component from its config (gr.Examples, updates): the examples' JSON text must
    give back the same pad, and the page's copy of each example is that same text."""
    drawings = {"3": pad_value("3"), "42": pad_value("42")}
    pad = StrokePad(examples=drawings, pen_width=20)
    assert {label: json.loads(text) for label, text in pad.examples.items()} == drawings
    assert [e["value"] for e in pad.props["examples"]] == list(pad.examples.values())

    rebuilt = StrokePad(**StrokePad.recover_kwargs(pad.get_config()))
    assert rebuilt.examples == pad.examples
    assert rebuilt.props["examples"] == pad.props["examples"]
