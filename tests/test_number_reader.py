"""The number reader: framing a drawing as its strip, decoding its output, and checking the splitter's reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_sketch.example_digits import pad_value
from mnist_sketch.number_strip import FRAMES, INK_HEIGHT, MARGIN, SLICE_HEIGHT, STRIP_SIZE, StripDigit, \
    digit_inputs, frame_number, strip_digits
from mnist_sketch.predict import NUMBER_ASPECT, ONE_DIGIT_SURE, SEQUENCE_SURE, Reading, combine, \
    overrules_one_digit
from mnist_sketch.preprocess import EmptyDrawing
from mnist_sketch.segment import split
from mnist_sketch.strokes import draw_on_paper, parse_strokes
from test_segment import H, blots, four, image_of, one, strokes, zero  # tests/ is on sys.path (conftest.py)


def ink_box(h: int, w: int, pad: int = 10) -> np.ndarray:
    """An (h + 2 pad, w + 2 pad) uint8 ink map holding a full-strength h x w rectangle of ink."""
    ink = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
    ink[pad : pad + h, pad : pad + w] = 255
    return ink


def test_a_strip_holds_the_ink_24_px_high_from_the_left_margin():
    strip = frame_number(ink_box(200, 300))
    assert strip.image.shape == STRIP_SIZE and strip.image.dtype == np.uint8
    rows, cols = np.flatnonzero(strip.image.max(axis=1)), np.flatnonzero(strip.image.max(axis=0))
    assert len(rows) == INK_HEIGHT and cols[0] == MARGIN and len(cols) == 36  # 300 / 200 * 24
    assert strip.aspect == pytest.approx(1.5)
    assert strip.ink.shape == (SLICE_HEIGHT, 168)  # cropped, then kept at most SLICE_HEIGHT high


def test_a_long_number_is_fitted_to_the_strips_width():
    strip = frame_number(ink_box(50, 1000))
    cols = np.flatnonzero(strip.image.max(axis=0))
    assert cols[0] == MARGIN and cols[-1] == STRIP_SIZE[1] - MARGIN - 1
    assert strip.ink_column(0) == 0 and strip.ink_column(FRAMES) == 1000
    assert strip.ink_column(FRAMES / 2) == round((STRIP_SIZE[1] / 2 - MARGIN) * 1000 / (STRIP_SIZE[1] - 2 * MARGIN))


def test_an_empty_map_has_no_strip():
    with pytest.raises(EmptyDrawing):
        frame_number(np.zeros((50, 50), np.uint8))


def logits_for(path: str) -> np.ndarray:
    """(FRAMES, 11) logits whose best class per column spells `path`: "-" blank, or a digit."""
    logits = np.zeros((FRAMES, 11), np.float32)
    for t, c in enumerate(path.ljust(FRAMES, "-")):
        logits[t, 0 if c == "-" else int(c) + 1] = 8.0
    return logits


def test_the_best_path_gives_each_run_of_a_digit_once():
    digits = strip_digits(logits_for("--22--0-22-66666---"))
    assert ["".join(str(d.probabilities.argmax()) for d in digits)] == ["2026"]
    assert [(d.first, d.last) for d in digits] == [(2, 3), (6, 6), (8, 9), (11, 15)]
    for d in digits:
        assert d.probabilities.shape == (10,) and d.probabilities.sum() == pytest.approx(1.0)
        assert d.probabilities.max() > 0.99


def test_repeated_digits_need_a_blank_or_another_digit_between():
    assert [int(d.probabilities.argmax()) for d in strip_digits(logits_for("-11-1-"))] == [1, 1]
    assert [int(d.probabilities.argmax()) for d in strip_digits(logits_for("-1111-"))] == [1]
    assert [int(d.probabilities.argmax()) for d in strip_digits(logits_for("-1771-"))] == [1, 7, 1]
    assert strip_digits(logits_for("")) == []


def test_digits_are_cut_out_between_the_columns_found():
    ink = np.zeros((100, 300), np.uint8)
    ink[:, 20:80] = 255  # a wide digit at the left
    ink[:, 200:230] = 255  # a narrow one at the right
    strip = frame_number(ink)  # cropped to columns 20-229, 0.24 strip px per ink px
    left, right = StripDigit(np.eye(10)[1], 2, 5), StripDigit(np.eye(10)[7], 9, 10)
    assert strip.ink_column((5 + 1 + 9) / 2) == 108  # midway between the two, in the gap
    inputs = digit_inputs(strip, [left, right])
    assert len(inputs) == 2 and all(x.shape == (28, 28) and x.max() > 0.5 for x in inputs)
    # A cut past the ink's end holds nothing: a blank square, so the preview still has one per digit.
    past = digit_inputs(strip, [left, StripDigit(np.eye(10)[1], 39, 39), StripDigit(np.eye(10)[1], 39, 39)])
    assert len(past) == 3 and past[0].any() and not past[2].any()


def probs(digit: int, sure: float) -> np.ndarray:
    p = np.full(10, (1 - sure) / 9)
    p[digit] = sure
    return p


def reading_of(*digits: tuple[int, float]) -> Reading:
    return Reading(tuple(probs(d, s) for d, s in digits), tuple(np.full((28, 28), 0.5, np.float32) for _ in digits))


def found(*digits: tuple[int, float]) -> list[StripDigit]:
    return [StripDigit(probs(d, s), 2 + 4 * i, 3 + 4 * i) for i, (d, s) in enumerate(digits)]  # within WIDE's ink


WIDE = frame_number(ink_box(100, 220))  # two digits' worth of ink, 2.2 times as wide as high


def test_the_same_count_averages_the_two_readers():
    splitters = reading_of((2, 0.9), (7, 0.5))
    combined = combine(splitters, WIDE, found((2, 0.7), (1, 0.9)))
    assert combined.text == "21"
    np.testing.assert_allclose(combined.probabilities[1], (probs(7, 0.5) + probs(1, 0.9)) / 2)
    assert combined.inputs is splitters.inputs  # the splitter's pieces stay the preview


def test_a_single_digit_is_read_by_the_digit_model_alone():
    single = reading_of((4, 0.6))
    assert combine(single, WIDE, found((9, 0.99))) is single


def test_another_count_takes_the_number_readers_digits_and_cuts():
    combined = combine(reading_of((2, 0.9), (0, 0.9)), WIDE, found((2, 0.95), (0, 0.9), (2, 0.9)))
    assert combined.text == "202" and len(combined.inputs) == 3
    assert all(x.shape == (28, 28) for x in combined.inputs)


@pytest.mark.parametrize("sure, strip, number_sure, kept", [
    (ONE_DIGIT_SURE, WIDE, 0.99, True),  # the digit model is sure of its one digit
    (0.8, frame_number(ink_box(100, round(100 * NUMBER_ASPECT) - 5)), 0.99, True),  # narrower than a number
    (0.8, WIDE, SEQUENCE_SURE - 0.05, True),  # the number reader is unsure
    (0.8, WIDE, 0.99, False),
])
def test_a_one_digit_reading_gives_way_only_to_a_sure_number_reading_of_wide_ink(sure, strip, number_sure, kept):
    single = reading_of((4, sure))
    combined = combine(single, strip, found((1, number_sure), (7, 1.0)))
    assert (combined is single) == kept
    if not kept:
        assert combined.text == "17"


def test_the_rules_thresholds_can_be_scored_one_by_one():
    """benchmarks/number_rule.py scores other thresholds through the same function `combine` uses."""
    single, digits = reading_of((4, 0.995)), found((1, 0.8), (7, 1.0))
    assert overrules_one_digit(single, WIDE, digits) == (0.995 < ONE_DIGIT_SURE and 0.8 >= SEQUENCE_SURE)
    assert overrules_one_digit(single, WIDE, digits, one_digit_sure=0.999, sequence_sure=0.7)
    assert not overrules_one_digit(single, WIDE, digits, one_digit_sure=0.999, sequence_sure=0.9)
    assert not overrules_one_digit(single, WIDE, digits, one_digit_sure=0.999, number_aspect=2.5)


def test_no_digits_found_keeps_the_splitters_reading():
    reading = reading_of((2, 0.9), (6, 0.9))
    assert combine(reading, WIDE, []) is reading


def test_strokes_have_no_strip_and_images_do():
    drawing = parse_strokes(pad_value("26"))
    assert split(drawing).strip is None
    image_split = split(np.asarray(draw_on_paper(drawing, 20)))
    assert image_split.strip is not None and len(image_split.pieces) == 2


def seven(x0: float, width: float = 230) -> list[list[tuple[float, float]]]:
    """A 7 whose bar reaches far right, over the next digit."""
    return [[(x0, 100), (x0 + width, 100), (x0 + 70, 100 + H)]]


CROSSING = {  # numbers whose digits touch, cross or overlap, which no cut between blots parts
    "47": lambda: strokes(*four(100), *seven(230, 180)),
    "70": lambda: strokes(*seven(100), *zero(290)),
    "170": lambda: strokes(*one(100), *seven(180), *zero(380)),
    "707": lambda: strokes(*seven(100), *zero(290), *seven(430)),
}


@pytest.mark.parametrize("pen", [12, 24])
@pytest.mark.parametrize("text", CROSSING)
def test_digits_that_cross_are_read_by_the_number_reader(reader, text, pen):
    reading = reader.read(image_of(CROSSING[text](), pen))
    assert reading.text == text
    assert len(reading.inputs) == len(text) and all(x.shape == (28, 28) for x in reading.inputs)


def test_the_splitter_alone_misreads_most_of_them(splitter):
    """What the number reader is for: without it, these come back with digits merged or misread."""
    images = {(text, pen): image_of(make(), pen) for text, make in CROSSING.items() for pen in (12, 24)}
    assert blots(images["70", 24]) == 1 and blots(images["170", 24]) == 2  # the 7 crosses into the 0
    right = [splitter.read(image).text == text for (text, _), image in images.items()]
    assert sum(right) <= len(right) // 2


def test_a_local_model_brings_its_own_number_reader_or_gets_the_bundled_one(tmp_path, caplog, monkeypatch):
    import shutil

    from mnist_sketch import model_source
    from mnist_sketch.model_source import BUNDLED_DIR, load_app_model, load_number_model

    shutil.copy(BUNDLED_DIR / "mnist.h5", tmp_path / "mnist.h5")
    _, alone = load_app_model({"MODEL_PATH": str(tmp_path / "mnist.h5")})
    assert alone.number_path is None
    with caplog.at_level("WARNING"):
        assert load_number_model(alone) is not None and not caplog.records  # the bundled one, quietly

    (tmp_path / "numbers.h5").write_bytes(b"not an HDF5 file\n")
    _, broken = load_app_model({"MODEL_PATH": str(tmp_path / "mnist.h5")})
    assert broken.number_path == tmp_path / "numbers.h5"
    with caplog.at_level("WARNING"):
        assert load_number_model(broken) is not None  # the bundled one, after a warning naming the file
    assert [r.getMessage() for r in caplog.records if str(tmp_path / "numbers.h5") in r.getMessage()]

    caplog.clear()
    monkeypatch.setattr(model_source, "BUNDLED_DIR", tmp_path / "nothing here")
    with caplog.at_level("WARNING"):
        assert load_number_model(broken) is None
    assert "read by the splitter alone" in caplog.records[-1].getMessage()


@pytest.fixture(scope="module")
def pen_writers(tmp_path_factory):
    """The dev writers of the tests' own pen file (tests/pen_data.py): writers no bundled model saw."""
    from pen_data import write_pen_file

    from training.numbers import writers_of
    from training.pen_digits import load_pen_digits

    pen = load_pen_digits(write_pen_file(tmp_path_factory.mktemp("pen") / "pen_digits.npz", seed=5))
    return writers_of(pen.split("dev"))


def test_numbers_composed_of_pen_writers_digits_are_read(reader, pen_writers):
    """Numbers of 2-5 digits, each of one writer, written as the number synthesis writes them (digits
    distorted, on a wobbling baseline, some touching), drawn with a round pen: read exactly by the app's
    reader (the bundled digit model and number reader), as images and as the pad's strokes."""
    from training.numbers import compose_pen, write_number
    from training.pen_digits import on_pad

    rng = np.random.default_rng(0)
    texts, images, pads = [], [], []
    for k in range(30):
        digits, labels = pen_writers[k % len(pen_writers)]
        pick = rng.choice(len(labels), size=2 + k % 4, replace=False)
        texts.append("".join(str(d) for d in labels[pick]))
        ink = compose_pen([digits[i] for i in pick], rng)  # cropped to the number: put it on a canvas
        images.append(np.pad(ink, ((ink.shape[0], ink.shape[0]), (ink.shape[0] // 2, ink.shape[0] // 2))))
        pads.append(parse_strokes(on_pad(write_number([digits[i] for i in pick], rng, height=10.0))))
    by_image = [r.text for r in reader.read_many(images)]
    by_strokes = [r.text for r in reader.read_many(pads)]
    assert sum(a == b for a, b in zip(by_image, texts)) >= 27, list(zip(texts, by_image))
    assert sum(a == b for a, b in zip(by_strokes, texts)) >= 27, list(zip(texts, by_strokes))


@pytest.mark.parametrize("text", ["314159265358", "202612052026"])
def test_a_twelve_digit_number_across_the_pad_is_read(reader, text):
    value = parse_strokes(pad_value(text))  # the app's 900x600 pad
    assert reader.read(value).text == text
    assert reader.read(np.asarray(draw_on_paper(value, 20))).text == text  # the same drawing as an image


def test_a_thirteenth_digit_gets_a_clear_message(reader):
    value = parse_strokes(pad_value("3141592653589"))
    for drawing in (value, np.asarray(draw_on_paper(value, 20))):
        reading = reader.read(drawing)
        assert reading.empty and reading.message == "That is more than 12 digits: write a number of at most 12 digits."


def test_thirteen_touching_digits_split_apart_get_the_same_message(reader, monkeypatch):
    """Touching digits count as one piece until they are split: 13 touching columns of zigzags (the
    worst-case benchmark's payload, once read as '1111111111111') are refused as a 13-digit number is."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from worst_case import columns

    value = {"width": 2000, "height": 2000, "strokes": columns(2000, 13, 64, 156)}
    reading = reader.read(parse_strokes(value))
    assert reading.empty and reading.message == "That is more than 12 digits: write a number of at most 12 digits."
