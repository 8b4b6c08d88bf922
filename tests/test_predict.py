"""The prediction core on real MNIST digits and on drawings, and the meaning of a Reading."""

from __future__ import annotations

import numpy as np
import pytest
from drawing import DIGIT_STROKES, draw_digit
from PIL import Image

from mnist_sketch.predict import UNCERTAIN_BELOW, DigitReader, Reading, rotate
from mnist_sketch.preprocess import EMPTY_MESSAGE, InvalidDrawing


def as_sketch(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 MNIST digit enlarged onto a 600x600 white canvas at a random size and place, black ink."""
    size = int(rng.integers(120, 400))
    big = Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR)
    canvas = Image.new("L", (600, 600), 0)
    x, y = rng.integers(0, 600 - size, size=2)
    canvas.paste(big, (int(x), int(y)))
    return 255 - np.asarray(canvas)


def test_model_reads_mnist(reader, mnist_digits):
    x, y = mnist_digits
    probs = reader.predict_batch(x[:1000].astype(np.float32) / 255.0)
    assert probs.shape == (1000, 10)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (probs.argmax(axis=1) == y[:1000]).mean() > 0.98


def test_pipeline_reads_mnist_digits_drawn_large_anywhere(reader, mnist_digits):
    x, y = mnist_digits
    rng = np.random.default_rng(1)
    readings = reader.read_many([as_sketch(d, rng) for d in x[1000:1400]])
    assert np.mean([r.text == str(label) for r, label in zip(readings, y[1000:1400])]) > 0.97


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_drawn_digits_are_read(reader, digit):
    reading = reader.read(draw_digit(digit, background=None))
    assert reading.text == str(digit) and not reading.uncertain
    assert reading.top(3)[0][0] == str(digit) and len(reading.top(3)) == 3
    assert len(reading.inputs) == 1 and reading.inputs[0].shape == (28, 28)
    assert str(digit) in reading.message


def test_read_many_matches_read_and_keeps_blanks(reader):
    values = [draw_digit(7), np.full((50, 50, 3), 255, np.uint8), draw_digit(0, background=None)]
    many = reader.read_many(values)
    assert [r.empty for r in many] == [False, True, False]
    for one, value in zip(many, values):
        single = reader.read(value)
        assert single.empty == one.empty
        if not single.empty:
            assert np.allclose(single.probabilities[0], one.probabilities[0], atol=1e-5)
    assert reader.read_many([]) == []


def test_read_many_raises_for_a_value_that_is_not_a_drawing_or_keeps_it_in_its_place(reader, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("a text file with an image's name\n")
    values = [draw_digit(7), str(text), draw_digit(3, background=None)]
    with pytest.raises(InvalidDrawing, match="not an image"):
        reader.read_many(values)
    kept = reader.read_many(values, invalid="keep")
    assert isinstance(kept[1], InvalidDrawing) and "not an image" in str(kept[1])
    assert [r.text for r in (kept[0], kept[2])] == ["7", "3"]
    assert np.allclose(kept[2].probabilities[0], reader.read(values[2]).probabilities[0], atol=1e-5)


def test_rotate_turns_clockwise_about_the_centre():
    import tensorflow as tf

    line = np.zeros((1, 28, 28, 1), np.float32)
    line[0, 4:24, 14, 0] = 1.0  # a vertical stroke through the centre
    turned = rotate(tf.constant(line), 20.0).numpy()[0, ..., 0]
    top_x, bottom_x = (np.flatnonzero(turned[row] > 0.3).mean() for row in (6, 21))
    assert top_x > 15 and bottom_x < 13  # the top went right, the bottom left
    assert abs(turned.sum() - line.sum()) < 0.5  # nothing lost off the edges
    assert np.array_equal(rotate(tf.constant(line), 0.0).numpy(), line)


def test_reader_averages_the_model_over_turned_views(reader, mnist_digits):
    import tensorflow as tf

    x = mnist_digits[0][:8].astype(np.float32) / 255.0
    views = [x[..., None]] + [rotate(tf.constant(x[..., None]), a).numpy() for a in (-10.0, 10.0)]
    expected = np.mean([reader.model(v, training=False).numpy() for v in views], axis=0)
    assert reader.rotations == (0.0, -10.0, 10.0)
    assert np.allclose(reader.predict_batch(x), expected, atol=1e-5)
    # Each drawing is averaged over its own views only, whatever the batch holds.
    assert np.allclose(reader.predict_batch(x[3:4]), expected[3:4], atol=1e-5)
    plain = DigitReader(reader.model, rotations=(0.0,))
    assert np.allclose(plain.predict_batch(x), reader.model(x[..., None], training=False).numpy(), atol=1e-5)


def test_large_batches_are_read_in_chunks(reader, mnist_digits, monkeypatch):
    import mnist_sketch.predict as predict

    x = mnist_digits[0][:50].astype(np.float32) / 255.0
    whole = reader.predict_batch(x)
    monkeypatch.setattr(predict, "CHUNK", 16)
    assert np.allclose(reader.predict_batch(x), whole, atol=1e-5)
    assert reader.predict_batch(x[:0]).shape == (0, 10)


def test_requests_do_not_use_model_predict(reader):
    """model.predict builds a data pipeline per call (tens of ms): the reader calls the model directly."""

    class NoPredict:
        def __init__(self, model):
            self._model = model

        def __call__(self, *args, **kwargs):
            return self._model(*args, **kwargs)

        def predict(self, *args, **kwargs):
            raise AssertionError("model.predict called on the request path")

    assert DigitReader(NoPredict(reader.model)).read(draw_digit(4)).text == "4"


def test_reading_semantics():
    confident = Reading((np.array([0.01, 0.9, 0.05, 0.04, 0, 0, 0, 0, 0, 0]),), (np.zeros((28, 28)),))
    assert confident.text == "1" and not confident.uncertain
    assert confident.top(3) == [("1", pytest.approx(0.9)), ("2", pytest.approx(0.05)), ("3", pytest.approx(0.04))]
    assert confident.message.startswith("It's a 1")

    unsure_p = np.full(10, (1 - UNCERTAIN_BELOW + 0.1) / 9)
    unsure_p[7] = UNCERTAIN_BELOW - 0.1
    unsure_p[1] += 0.01
    unsure_p /= unsure_p.sum()
    unsure = Reading((unsure_p,), (np.zeros((28, 28)),))
    assert unsure.uncertain and "Not sure" in unsure.message and "7" in unsure.message

    # A number's unlikely readings can be left out; a digit's never are, and the first always stays.
    sure, torn = np.eye(10)[2] * 0.995 + 0.0005, np.array([0, 0.6, 0, 0, 0, 0, 0, 0.4, 0, 0])
    assert [text for text, _ in Reading((sure, torn), (np.zeros((28, 28)),) * 2).top(3, least=0.01)] == ["21", "27"]
    assert len(Reading((sure, sure), (np.zeros((28, 28)),) * 2).top(3, least=0.01)) == 1
    assert len(confident.top(3, least=0.5)) == 3 and len(Reading((sure, torn), (None, None)).top(3)) == 3

    empty = Reading()
    assert empty.empty and empty.text is None and empty.top() == [] and empty.message == EMPTY_MESSAGE
    assert not empty.uncertain
    assert Reading(empty_message="That is only a dot.").message == "That is only a dot."
