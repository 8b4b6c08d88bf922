"""Numbers, not just digits: a drawing split into its digits, and the readings of the whole number."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_sketch.example_digits import pad_value
from mnist_sketch.predict import Reading, ordinal
from mnist_sketch.preprocess import EmptyDrawing
from mnist_sketch import segment
from mnist_sketch.segment import MAX_DIGITS, MAX_INK_POINTS, TOO_MANY, group_parts, pieces
from mnist_sketch.strokes import MAX_TOTAL_POINTS, Strokes, draw_on_paper, parse_strokes

H = 300.0  # a digit's height on the pad, in canvas px


def strokes(*polylines: list[tuple[float, float]]) -> Strokes:
    return Strokes(1200, 600, tuple(np.array(p, float) for p in polylines))


def digits_of(drawing: Strokes) -> list[int]:
    """How many strokes each digit found has, left to right."""
    from mnist_sketch.segment import _stroke_boxes

    return [len(group) for group in group_parts(_stroke_boxes(drawing.strokes))]


# Digits drawn in several strokes, at x0, 100 px down, H tall (y down).
def four(x0: float) -> list[list[tuple[float, float]]]:
    """A 4 as a corner and a stem drawn apart: the corner's bar stops short of the stem."""
    return [[(x0 + 80, 100), (x0, 100 + 0.62 * H), (x0 + 120, 100 + 0.62 * H)],
            [(x0 + 150, 100 + 0.2 * H), (x0 + 150, 100 + H)]]


def five(x0: float) -> list[list[tuple[float, float]]]:
    """A 5 whose top bar floats free, reaching right past the body."""
    return [[(x0 + 10, 110), (x0, 100 + 0.45 * H), (x0 + 120, 100 + 0.5 * H), (x0 + 130, 100 + 0.85 * H),
             (x0 + 10, 100 + H)],
            [(x0 + 40, 100), (x0 + 200, 95)]]


def crossed_seven(x0: float) -> list[list[tuple[float, float]]]:
    return [[(x0, 100), (x0 + 180, 100), (x0 + 70, 100 + H)], [(x0 + 60, 100 + 0.55 * H), (x0 + 160, 100 + 0.5 * H)]]


def one(x0: float, base: bool = False) -> list[list[tuple[float, float]]]:
    parts = [[(x0 - 30, 100 + 0.15 * H), (x0, 100), (x0, 100 + H)]]
    return parts + [[(x0 - 40, 100 + H), (x0 + 40, 100 + H)]] if base else parts


def zero(x0: float, width: float = 160, height: float = H, slash: bool = False) -> list[list[tuple[float, float]]]:
    t = np.linspace(0, 2 * np.pi, 40)
    ring = [(x0 + width / 2 * (1 + np.cos(a)), 100 + H - height / 2 * (1 - np.sin(a))) for a in t]
    return [ring, [(x0 - 10, 100 + H + 10), (x0 + width + 10, 90)]] if slash else [ring]


@pytest.mark.parametrize("digit",
                         [four(100), five(100), crossed_seven(100), one(100, base=True), zero(100, slash=True)],
                         ids=["4 in two strokes", "5 with a floating bar", "crossed 7", "1 with a flag and a base",
                              "slashed 0"])
def test_a_digit_in_several_strokes_stays_one_digit(digit):
    assert digits_of(strokes(*digit)) == [len(digit)]


def test_digits_side_by_side_are_apart_even_when_they_touch():
    # "11": two ones whose flags reach over the neighbour; "40": the 4's stem touches the 0.
    assert digits_of(strokes(*one(200), *one(260))) == [1, 1]
    assert digits_of(strokes(*four(100), *zero(252))) == [2, 1]
    assert digits_of(strokes(*five(100), *crossed_seven(350), *one(620, base=True))) == [2, 2, 2]


def test_touching_digits_drawn_apart_stay_two(reader):
    """The 7's bar touches the 1's flag: the reader may join them, and does not, as 71 reads far better."""
    from mnist_sketch.segment import stroke_pieces

    drawing = strokes(*crossed_seven(100)[:1], *one(290))
    assert [len(piece) for piece in stroke_pieces(drawing)] == [2]  # one piece: joined, or not
    assert reader.read(drawing).text == "71"


def test_a_small_digit_on_the_baseline_is_a_digit():
    """Very uneven heights: a tall 1 and, close to it, a 0 half as tall standing on the same line."""
    assert digits_of(strokes(*one(200), *zero(240, width=90, height=0.45 * H))) == [1, 1]


def test_a_speck_is_ignored_and_a_dot_alone_is_not_a_digit():
    assert digits_of(strokes(*zero(100), [(400, 100 + H)], *one(500))) == [1, 1]  # "0.1" reads as 01
    with pytest.raises(EmptyDrawing, match="only a dot"):
        pieces(strokes([(300, 300)]))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no division by a zero height
@pytest.mark.parametrize("drawn", [
    [[(100, 300), (400, 300)]],  # a dash: no height at all
    [[(100, 300), (400, 300)], [(460, 300), (760, 300)]],  # two dashes side by side
    [[(100, 300), (400, 300)], [(250, 340), (550, 340)]],  # an offset "="
], ids=["dash", "two dashes", "offset equals"])
def test_flat_strokes_are_read_without_error(reader, drawn):
    assert not reader.read(strokes(*drawn)).empty


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("line", [(50, slice(20, 280)), (slice(5, 95), 150)], ids=["1 px high", "1 px wide"])
def test_a_one_pixel_line_in_an_image_is_read_without_error(reader, line):
    image = np.full((100, 300), 255, np.uint8)
    image[line] = 0
    assert not reader.read(image).empty


def test_too_many_digits_get_a_message():
    with pytest.raises(EmptyDrawing, match=TOO_MANY):
        pieces(parse_strokes(pad_value("1" * (MAX_DIGITS + 1), canvas=(2000, 600))))
    assert len(pieces(parse_strokes(pad_value("7" * MAX_DIGITS, canvas=(2000, 600))))) == MAX_DIGITS


def test_more_digits_than_read_are_refused_before_any_is_framed(monkeypatch):
    def framed(*args):
        raise AssertionError("a digit was framed")

    monkeypatch.setattr(segment, "frame_strokes", framed)
    with pytest.raises(EmptyDrawing, match=TOO_MANY):
        pieces(parse_strokes(pad_value("1" * (MAX_DIGITS + 1), canvas=(2000, 600))))


def test_digits_joined_in_several_options_are_framed_once(monkeypatch):
    calls = []
    frame = segment.frame_strokes
    monkeypatch.setattr(segment, "frame_strokes", lambda *args: calls.append(args) or frame(*args))
    rings = strokes(*zero(100, 150, 150), *zero(250, 150, 150), *zero(400, 150, 150))  # each touching the next
    options = pieces(rings)
    assert [len(option.inputs) for option in options[0]] == [3, 2, 2, 1]  # one run of three: 8 inputs...
    assert len(calls) == 6  # ...of 6 framings: each ring, the two pairs, all three


def test_many_parts_group_into_their_digits():
    """64 strokes, 5 or 6 stacked per column in 12 columns: 52 joins."""
    boxes = np.array([(k % 12 * 100 + 10, k % 12 * 100 + 90, k // 12 * 50, k // 12 * 50 + 300) for k in range(64)],
                     float)
    assert group_parts(boxes) == [[k for k in range(64) if k % 12 == column] for column in range(12)]


def test_points_along_strokes_are_at_most_a_step_apart():
    from mnist_sketch.segment import _ink_points

    drawn = [np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 3.0]]), np.array([[50.0, 50.0]])]
    points = _ink_points(drawn, 2.0)
    assert {tuple(p) for p in np.concatenate(drawn)} <= {tuple(p) for p in points}
    on_first = points[points[:, 1] == 0.0]
    assert len(points) == 4 + 5 + 1 and np.diff(np.sort(on_first[:, 0])).max() <= 2.0  # 5 inside 10 px, 1 inside 3


def test_the_points_laid_to_find_touching_digits_are_bounded(monkeypatch):
    laid = []
    lay = segment._ink_points
    monkeypatch.setattr(segment, "_ink_points", lambda d, step: laid.append(len(lay(d, step))) or lay(d, step))
    per = MAX_TOTAL_POINTS // 12
    # 12 touching zigzags 500 px wide and 600 high: 27 points in each segment at TOUCH * height / 2 apart
    columns = [[(k * 500 + 500 * (i % 2), 2000 + 600 * i / per) for i in range(per)] for k in range(12)]
    pieces(Strokes(6000, 10_000, tuple(np.array(c) for c in columns)))
    assert len(laid) == 12 and sum(laid) <= MAX_TOTAL_POINTS + MAX_INK_POINTS


def image_of(drawing: Strokes, pen: float = 20) -> np.ndarray:
    return np.asarray(draw_on_paper(drawing, pen))


@pytest.mark.parametrize("pen", [8, 40])
def test_an_image_of_a_number_is_split_like_its_strokes(reader, pen):
    drawing = parse_strokes(pad_value("2026"))
    assert reader.read(image_of(drawing, pen)).text == "2026"


def blots(image: np.ndarray) -> int:
    from scipy import ndimage

    return ndimage.label(image < 128)[1]


@pytest.mark.parametrize("pen", [20, 40])
def test_round_digits_touching_are_eroded_apart(reader, pen):
    """Two round 0s whose rings touch: one blot of ink, joined by a neck narrower than the pen."""
    image = image_of(strokes(*zero(100, 160, 160), *zero(100 + 160 + pen - 2, 160, 160)), pen=pen)
    assert blots(image) == 1
    assert reader.read(image).text == "00"


@pytest.mark.parametrize("pen", [20, 24])
def test_digits_joined_by_a_stroke_are_cut_apart(reader, pen):
    """In 140, the 4's bar runs on into the 0: one blot of ink, cut where the ink is thinnest."""
    four_reaching = [[(200, 100), (120, 100 + 0.62 * H), (120 + 240, 100 + 0.62 * H)],
                     [(270, 100 + 0.2 * H), (270, 100 + H)]]
    image = image_of(strokes(*one(60), *four_reaching, *zero(340)), pen=pen)
    assert blots(image) == 2
    assert reader.read(image).text == "140"


def test_a_wide_zero_alone_is_one_digit(reader):
    reading = reader.read(image_of(strokes(*zero(300, width=1.4 * H)), pen=30))
    assert reading.text == "0"


def test_number_readings_combine_the_digits_probabilities():
    p = np.full(10, 0.001)
    first, second = p.copy(), p.copy()
    first[[2, 7]] = [0.9, 0.09]
    second[[1, 7]] = [0.55, 0.44]
    reading = Reading((first / first.sum(), second / second.sum()), (np.zeros((28, 28)),) * 2)
    top = reading.top(3)
    assert [text for text, _ in top] == ["21", "27", "71"]
    assert top[0][1] == pytest.approx(first.max() / first.sum() * second.max() / second.sum())
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert reading.text == "21" and reading.uncertain
    assert reading.message == "Not sure about the 2nd digit: 1 or 7. Maybe 21?"
    sure = Reading((first / first.sum(),) * 3, (np.zeros((28, 28)),) * 3)
    assert sure.message == f"It's 222 ({sure.confidence:.0%} sure)."
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12)] == ["1st", "2nd", "3rd", "4th", "11th", "12th"]


def test_a_single_digit_reads_as_before(reader):
    reading = reader.read(parse_strokes(pad_value("4")))
    assert reading.text == "4" and reading.top(3)[0][0] == "4" and len(reading.top(3)) == 3
    assert reading.message.startswith("It's a 4 (")
