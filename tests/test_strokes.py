"""The pen's path straight to the model's frame: validation of the pad's value, rendering, bad values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from drawing import DIGIT_STROKES, draw_digit

from mnist_sketch.example_digits import STROKES, pad_value
from mnist_sketch.preprocess import EmptyDrawing, preprocess, stroke_width
from mnist_sketch.strokes import (
    MAX_POINTS,
    MAX_STROKES,
    PEN_WIDTH,
    InvalidStrokes,
    Strokes,
    check_drawn,
    frame_strokes,
    parse_strokes,
    render_in_box,
)


def unit_strokes(digit: int, size: float = 300, left: float = 100, top: float = 50) -> list[list[list[float]]]:
    """tests/drawing.py's strokes of `digit` on a canvas, the box `size` px tall."""
    return [[[left + x * size, top + y * size] for x, y in stroke] for stroke in DIGIT_STROKES[digit]]


def value(strokes, width: float = 900, height: float = 600) -> dict:
    return {"width": width, "height": height, "strokes": strokes}


def test_the_frame_is_mnist_like():
    image = frame_strokes(parse_strokes(value(unit_strokes(7))))
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() == pytest.approx(1.0, abs=0.01)
    rows, cols = np.flatnonzero(image.max(axis=1) > 0.05), np.flatnonzero(image.max(axis=0) > 0.05)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # the ink fitted in the 20x20 box
    ys, xs = np.indices(image.shape)
    com = ((ys * image).sum() / image.sum(), (xs * image).sum() / image.sum())
    assert np.allclose(com, (13.5, 13.5), atol=0.75)  # centre of mass at the centre
    assert stroke_width(image) == pytest.approx(PEN_WIDTH, abs=0.3)  # drawn at MNIST's width


def test_anti_aliased_with_soft_edges():
    image = frame_strokes(parse_strokes(value(unit_strokes(0))))
    partial = ((image > 0.05) & (image < 0.95)).sum()
    assert partial > 0.3 * (image >= 0.95).sum()  # edges are partly covered pixels, not a hard binary mask


def test_place_and_size_on_the_pad_do_not_matter():
    reference = frame_strokes(parse_strokes(value(unit_strokes(4))))
    for size, left, top in [(80, 10, 10), (500, 380, 90), (150, 740, 440)]:
        moved = frame_strokes(parse_strokes(value(unit_strokes(4, size, left, top))))
        assert np.abs(moved - reference).mean() < 0.01


def test_strokes_and_the_image_of_the_same_drawing_look_alike():
    """The pen's path, framed directly, is close to the image pipeline's view of the drawn canvas."""
    from_strokes = frame_strokes(parse_strokes(value(unit_strokes(7, 240, 80, 80), 400, 400)))
    from_image = preprocess(draw_digit(7, canvas=(400, 400), height=0.6, brush=16))
    assert np.abs(from_strokes - from_image).mean() < 0.06


def test_a_straight_line_is_a_one_and_keeps_its_aspect():
    image = frame_strokes(parse_strokes(value([[[450, 100], [450, 500]]])))
    cols = np.flatnonzero(image.max(axis=0) > 0.05)
    rows = np.flatnonzero(image.max(axis=1) > 0.05)
    assert rows[-1] - rows[0] + 1 >= 19 and cols[-1] - cols[0] + 1 <= 4  # tall and one pen wide
    flat = frame_strokes(parse_strokes(value([[[100, 300], [700, 300]]])))
    assert np.flatnonzero(flat.max(axis=1) > 0.05).size <= 4  # a dash stays a dash


@pytest.mark.parametrize("strokes", [[[[300, 300]]], [[[300, 300], [302, 301]], [[304, 299]]]],
                         ids=["one point", "a tap"])
def test_a_dot_is_not_a_digit(strokes):
    with pytest.raises(EmptyDrawing, match="only a dot"):
        check_drawn(parse_strokes(value(strokes)))


def test_a_single_point_stroke_inside_a_drawing_is_a_round_dot():
    ink = render_in_box([np.array([[0.0, 0.0], [0.0, 100.0]]), np.array([[0.0, 130.0]])])
    assert ink.shape[0] == 20 and ink[-2:].max() > 0.5  # the dot under the line is drawn


def test_an_empty_pad_is_an_empty_drawing():
    with pytest.raises(EmptyDrawing):
        check_drawn(parse_strokes(value([])))


def test_points_off_the_canvas_are_moved_to_its_edge():
    strokes = parse_strokes(value([[[-50, -10], [450, 300], [2000, 900]]]))
    assert strokes.strokes[0].tolist() == [[0, 0], [450, 300], [900, 600]]


def test_round_trip_to_json():
    strokes = parse_strokes(value(unit_strokes(4)))
    again = parse_strokes(strokes.to_json())
    assert again.width == 900 and all(np.allclose(a, b, atol=0.05) for a, b in zip(strokes.strokes, again.strokes))


BAD_VALUES = {
    "not a dict": ("strokes", "Expected a drawing"),
    "missing keys": ({"width": 900}, "lacks 'height', 'strokes'"),
    "width a string": (value([], width="900"), "width must be a number"),
    "width a bool": (value([], width=True), "width must be a number"),
    "height infinite": (value([], height=math.inf), "finite"),
    "zero-size canvas": (value([], width=0), "1 to 10000 px"),
    "huge canvas": (value([], width=1e9), "1 to 10000 px"),
    "strokes not a list": (value("abc"), "strokes must be a list"),
    "a stroke not a list": (value([5]), "Stroke 1 must be a list"),
    "an empty stroke": (value([[[1, 2]], []]), "Stroke 2 has no points"),
    "a point not a pair": (value([[[1, 2, 3]]]), "pair"),
    "a coordinate a string": (value([[[1, "2"]]]), "not a number"),
    "a NaN": (value([[[1, math.nan]]]), "NaN or infinity"),
    "an infinity": (value([[[-math.inf, 3]]]), "NaN or infinity"),
    "too many strokes": (value([[[1, 1]]] * (MAX_STROKES + 1)), f"at most {MAX_STROKES}"),
    "too many points": (value([[[i % 900, 1] for i in range(MAX_POINTS + 1)]]), f"at most {MAX_POINTS}"),
}


@pytest.mark.parametrize("name", BAD_VALUES)
def test_a_bad_value_says_what_is_wrong(name):
    bad, message = BAD_VALUES[name]
    with pytest.raises(InvalidStrokes, match=message):
        parse_strokes(bad)


def test_the_limits_are_reachable():
    strokes = [[[i % 900, 10 + k] for i in range(MAX_POINTS)] for k in range(MAX_STROKES)]
    assert len(parse_strokes(value(strokes)).strokes) == MAX_STROKES


def test_the_examples_are_read_as_their_digits(reader):
    readings = reader.read_many([parse_strokes(pad_value(str(d))) for d in STROKES])
    assert [r.text for r in readings] == [str(d) for d in STROKES]
    assert all(r.confidence > 0.8 for r in readings)


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_drawn_strokes_are_read(reader, digit):
    assert reader.read(Strokes(900, 600, tuple(np.array(s) for s in unit_strokes(digit)))).text == str(digit)
