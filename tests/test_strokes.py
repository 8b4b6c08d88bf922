"""The pen's path straight to the model's frame: validation of the pad's value, rendering, bad values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from drawing import DIGIT_STROKES, draw_digit
from PIL import Image, ImageDraw

from mnist_sketch import strokes as strokes_module
from mnist_sketch.example_digits import STROKES, pad_value
from mnist_sketch.preprocess import BOX_SIZE, EmptyDrawing, preprocess, stroke_width
from mnist_sketch.strokes import (
    MAX_POINTS,
    MAX_STROKES,
    MAX_TOTAL_POINTS,
    PAPER_ROWS,
    PAPER_SIDE,
    PEN_WIDTH,
    SIMPLIFY,
    SUPERSAMPLE,
    InvalidStrokes,
    Strokes,
    check_drawn,
    draw_on_paper,
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
    "too many points in all": (value([[[i % 900, k] for i in range(MAX_POINTS)]
                                      for k in range(MAX_TOTAL_POINTS // MAX_POINTS + 1)]),
                               f"at most {MAX_TOTAL_POINTS:,}"),
    # JSON integers may have any number of digits; these have 401, beyond any float.
    "a width beyond any float": (value([], width=10**400), "width must be a finite number"),
    "a coordinate beyond any float": (value([[[1, 2], [-(10**400), 3]]]), "coordinate that is not a finite"),
}


@pytest.mark.parametrize("name", BAD_VALUES)
def test_a_bad_value_says_what_is_wrong(name):
    bad, message = BAD_VALUES[name]
    with pytest.raises(InvalidStrokes, match=message):
        parse_strokes(bad)


def test_the_limits_are_reachable():
    share = [[[i % 900, 10 + k] for i in range(MAX_TOTAL_POINTS // MAX_STROKES)] for k in range(MAX_STROKES)]
    assert len(parse_strokes(value(share)).strokes) == MAX_STROKES
    longest = [[[i % 900, 10 + k] for i in range(MAX_POINTS)] for k in range(MAX_TOTAL_POINTS // MAX_POINTS)]
    assert len(parse_strokes(value(longest)).strokes) == MAX_TOTAL_POINTS // MAX_POINTS


def distance_to_polyline(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """(n,) distance of each of points (n, 2) to the polyline through line (m, 2)."""
    a, b = line[:-1], line[1:]
    t = np.clip(((points[:, None] - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-12), 0, 1)
    return np.hypot(*(points[:, None] - (a + t[..., None] * (b - a))).transpose(2, 0, 1)).min(axis=1)


def test_points_that_cannot_change_the_input_are_dropped():
    turns = np.linspace(0, 4 * np.pi, MAX_POINTS)  # a spiral sampled every 0.4 px, as a slow pen on the pad
    spiral = np.stack([450 + (60 + 20 * turns) * np.cos(turns), 300 + (60 + 20 * turns) * np.sin(turns)], axis=1)
    kept = parse_strokes(value([spiral.tolist()])).strokes[0]
    assert len(kept) < len(spiral) / 3
    assert (kept[0] == spiral[0]).all() and (kept[-1] == spiral[-1]).all()
    assert (kept.min(axis=0) == spiral.min(axis=0)).all() and (kept.max(axis=0) == spiral.max(axis=0)).all()
    model_px = (BOX_SIZE - PEN_WIDTH) / np.ptp(spiral, axis=0).max()  # the most it is enlarged by, alone in a box
    assert distance_to_polyline(spiral, kept).max() * model_px <= SIMPLIFY
    whole = frame_strokes(Strokes(900, 600, (spiral,)))
    assert np.abs(frame_strokes(Strokes(900, 600, (kept,))) - whole).max() < 0.1


def drawn_by_pil(strokes: list[np.ndarray], pen_width: float = PEN_WIDTH) -> np.ndarray:
    """`render_in_box`'s reference: the strokes fitted alike and drawn by PIL's line(joint="curve"), one point at
    a time in Python, round ends, at SUPERSAMPLE x, area-averaged."""
    points = np.concatenate(strokes)
    scale = (BOX_SIZE - pen_width) / np.ptp(points, axis=0).max() * SUPERSAMPLE
    w, h = (min(BOX_SIZE, math.ceil(e * scale / SUPERSAMPLE + pen_width)) for e in np.ptp(points, axis=0))
    layer = Image.new("L", (w * SUPERSAMPLE, h * SUPERSAMPLE), 0)
    draw, r = ImageDraw.Draw(layer), pen_width * SUPERSAMPLE / 2
    for xy in ((s - points.min(axis=0)) * scale + r for s in strokes):
        draw.line(xy.ravel().tolist(), fill=255, width=round(2 * r), joint="curve")
        for x, y in (xy[0], xy[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(layer.reduce(SUPERSAMPLE), np.float32) / 255


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_the_pen_draws_as_pils_joined_lines(digit):
    strokes = [np.array(s) * 300 for s in DIGIT_STROKES[digit]]
    difference = np.abs(render_in_box(strokes) - drawn_by_pil(strokes))
    assert difference.mean() < 0.003 and difference.max() < 0.2  # without the joints: up to 0.016 and 0.89


def supersampling(monkeypatch, strokes: list[np.ndarray]) -> int:
    """The supersampling `render_in_box` draws strokes at."""
    sizes = []
    pen = strokes_module._pen
    monkeypatch.setattr(strokes_module, "_pen", lambda size, *args: sizes.append(size) or pen(size, *args))
    ink = render_in_box(strokes)
    return sizes[0][0] // ink.shape[1]


def test_strokes_too_many_to_draw_finely_are_drawn_coarser(monkeypatch):
    assert supersampling(monkeypatch, [np.array(s) * 300 for s in DIGIT_STROKES[3]]) == SUPERSAMPLE
    ups_and_downs = np.stack([np.linspace(0, 500, MAX_TOTAL_POINTS), np.arange(MAX_TOTAL_POINTS) % 2 * 500.0], axis=1)
    assert supersampling(monkeypatch, [ups_and_downs]) < SUPERSAMPLE
    assert render_in_box([ups_and_downs]).mean() > 0.9  # a block of ink, as finely drawn


def test_the_paper_is_at_most_paper_side_and_smaller_for_strokes_too_many_to_draw():
    assert draw_on_paper(parse_strokes(pad_value("42")), 20).size == (900, 600)  # the pad's own size
    big = parse_strokes(pad_value("42", canvas=(10_000, 5_000)))
    assert draw_on_paper(big, 200).size == (PAPER_SIDE, PAPER_SIDE // 2)
    ups_and_downs = np.stack([np.linspace(0, 900, MAX_TOTAL_POINTS), np.arange(MAX_TOTAL_POINTS) % 2 * 900.0], axis=1)
    heavy = draw_on_paper(Strokes(900, 900, (ups_and_downs,)), 20)
    assert heavy.size[0] <= 900 * PAPER_ROWS / (2 * 900 * MAX_TOTAL_POINTS) + 1 and np.asarray(heavy).mean() < 128


def test_the_examples_are_read_as_their_digits(reader):
    readings = reader.read_many([parse_strokes(pad_value(str(d))) for d in STROKES])
    assert [r.text for r in readings] == [str(d) for d in STROKES]
    assert all(r.confidence > 0.8 for r in readings)


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_drawn_strokes_are_read(reader, digit):
    assert reader.read(Strokes(900, 600, tuple(np.array(s) for s in unit_strokes(digit)))).text == str(digit)
