"""Preprocessing: every input form and polarity, invariance, and bad or blank input."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from drawing import draw_digit
from PIL import Image

from mnist_sketch.preprocess import (
    EmptyDrawing,
    STROKE_WIDTH,
    InvalidImage,
    center_by_mass,
    ink_map,
    load_image,
    normalise_stroke_width,
    preprocess,
    resize_longer_side,
    stroke_width,
)


def close(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two 28x28 ink images in [0, 1]."""
    return float(np.abs(a - b).mean())


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return preprocess(draw_digit(7))


def test_output_is_mnist_like(reference):
    assert reference.shape == (28, 28) and reference.dtype == np.float32
    assert 0.0 <= reference.min() and reference.max() <= 1.0
    rows, cols = np.flatnonzero(reference.max(axis=1) > 0.1), np.flatnonzero(reference.max(axis=0) > 0.1)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # fitted in the 20x20 box
    ys, xs = np.indices(reference.shape)
    com = ((ys * reference).sum() / reference.sum(), (xs * reference).sum() / reference.sum())
    assert np.allclose(com, (13.5, 13.5), atol=0.75)  # centre of mass at the centre
    assert stroke_width(reference) == pytest.approx(2.6, abs=0.6)  # MNIST-like strokes


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


INPUT_FORMS = {
    "rgb white background": lambda: draw_digit(7),
    "rgba transparent (RGB 0 under transparent)": lambda: draw_digit(7, background=None),
    "rgba opaque (browser composite)": lambda: np.dstack([draw_digit(7), np.full((400, 400), 255, np.uint8)]),
    "greyscale L": lambda: np.asarray(Image.fromarray(draw_digit(7)).convert("L")),
    "greyscale (H, W, 1)": lambda: np.asarray(Image.fromarray(draw_digit(7)).convert("L"))[..., None],
    "float in [0, 1]": lambda: draw_digit(7).astype(np.float32) / 255.0,
    "light ink on dark": lambda: draw_digit(7, ink=(255, 255, 255), background=(0, 0, 0)),
    "white ink on transparent": lambda: draw_digit(7, ink=(255, 255, 255), background=None),
    "coloured ink on grey paper": lambda: draw_digit(7, ink=(20, 40, 160), background=(200, 200, 200)),
    "PIL RGBA image": lambda: Image.fromarray(draw_digit(7, background=None)),
    "PIL palette image": lambda: Image.fromarray(draw_digit(7)).convert("P"),
    "PNG bytes": lambda: _png_bytes(draw_digit(7, background=None)),
    "sketchpad dict, opaque composite": lambda: {
        "background": np.full((400, 400, 4), 255, np.uint8),
        "layers": [draw_digit(7, background=None)],
        "composite": np.dstack([draw_digit(7), np.full((400, 400), 255, np.uint8)]),
    },
    "sketchpad dict, layers only": lambda: {
        "background": None, "layers": [draw_digit(7, background=None)], "composite": None},
}


@pytest.mark.parametrize("form", INPUT_FORMS)
def test_every_input_form_gives_the_same_image(form, reference):
    assert close(preprocess(INPUT_FORMS[form]()), reference) < 0.03


def test_file_path_and_sketchpad_dict_of_paths(tmp_path, reference):
    path = tmp_path / "seven.png"
    Image.fromarray(draw_digit(7, background=None)).save(path)
    assert close(preprocess(str(path)), reference) < 0.03
    assert close(preprocess(path), reference) < 0.03
    assert close(preprocess({"composite": str(path), "layers": [], "background": None}), reference) < 0.03


def test_a_path_inside_a_dict_is_never_opened(tmp_path):
    """Only the app's file inputs turn uploads into paths; a FileData-like dict is not a file to the core."""
    path = tmp_path / "seven.png"
    Image.fromarray(draw_digit(7)).save(path)
    with pytest.raises(InvalidImage, match="Expected a Sketchpad value"):
        preprocess({"path": str(path), "meta": {"_type": "gradio.FileData"}})


VARIANTS = {
    "shifted to a corner": dict(height=0.4, center=(0.25, 0.75)),
    "small and off-centre": dict(height=0.15, center=(0.8, 0.2)),
    "large": dict(height=0.95),
    "thin pen": dict(brush=3),
    "fat brush": dict(brush=40),
    "wide canvas": dict(canvas=(1200, 500), center=(0.7, 0.5)),
    "tiny canvas": dict(canvas=(64, 64), brush=3),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("digit", [0, 1, 4, 7])
def test_same_drawing_anywhere_any_size_any_brush(digit, variant, reader):
    base = preprocess(draw_digit(digit))
    moved = preprocess(draw_digit(digit, **VARIANTS[variant]))
    assert close(moved, base) < 0.07  # mean |difference| per pixel; widths: test_stroke_width_is_normalised
    assert reader.read(draw_digit(digit, **VARIANTS[variant])).text == str(digit)


@pytest.mark.parametrize("brush", [2, 4, 8, 16, 30, 50])
def test_stroke_width_is_normalised(brush):
    assert stroke_width(preprocess(draw_digit(4, brush=brush))) == pytest.approx(STROKE_WIDTH, abs=0.7)


def test_stroke_width_measures_lines():
    line = np.zeros((60, 60), np.float32)
    line[10:50, 20:26] = 1.0
    assert stroke_width(line) == pytest.approx(6.0, rel=0.25)
    assert stroke_width(np.zeros((5, 5), np.float32)) == 0.0


def test_normalise_thickens_and_thins():
    thin = resize_longer_side(np.asarray(Image.fromarray(draw_digit(1, brush=2)).convert("L")) < 128, 80)
    assert stroke_width(normalise_stroke_width(thin, 10.0)) == pytest.approx(10.0, abs=2.5)
    fat = resize_longer_side((np.asarray(Image.fromarray(draw_digit(1, brush=60)).convert("L")) < 128) * 255, 80)
    assert stroke_width(normalise_stroke_width(fat, 10.0)) < stroke_width(fat)


def test_normalised_width_follows_the_target_smoothly():
    """Fractional steps: each 0.5 px more of target gives a wider stroke, not 2 px jumps."""
    thin = resize_longer_side(np.asarray(Image.fromarray(draw_digit(3, brush=2)).convert("L")) < 128, 80)
    widths = [stroke_width(normalise_stroke_width(thin, t)) for t in np.arange(8.0, 14.1, 0.5)]
    assert all(0.0 < b - a < 1.5 for a, b in zip(widths, widths[1:])), widths
    fat = resize_longer_side((np.asarray(Image.fromarray(draw_digit(3, brush=60)).convert("L")) < 128) * 255, 80)
    widths = [stroke_width(normalise_stroke_width(fat, t)) for t in np.arange(8.0, 12.1, 0.5)]
    assert all(0.0 < b - a < 1.5 for a, b in zip(widths, widths[1:])), widths


def test_ink_map_reads_alpha_only_when_it_carries_something():
    opaque = np.dstack([draw_digit(7), np.full((400, 400), 255, np.uint8)])
    assert ink_map(opaque).max() == 255 and ink_map(opaque)[0, 0] == 0
    transparent = draw_digit(7, background=None)
    assert np.array_equal(ink_map(transparent), transparent[..., 3])


def test_center_by_mass_keeps_ink_on_canvas():
    corner = np.zeros((20, 20), np.float32)
    corner[0:3, 0:3] = 1.0
    placed = center_by_mass(corner)
    assert placed.sum() == pytest.approx(corner.sum())


@pytest.mark.parametrize(
    "blank",
    {
        "all white": np.full((400, 400, 3), 255, np.uint8),
        "all black": np.zeros((400, 400, 3), np.uint8),
        "transparent": np.zeros((400, 400, 4), np.uint8),
        "opaque white RGBA": np.full((400, 400, 4), 255, np.uint8),
        "1x1 pixel": np.zeros((1, 1), np.uint8),
        "1x1 white": np.full((1, 1, 3), 255, np.uint8),
        "grey": np.full((50, 50), 128, np.uint8),
        "faint noise": np.random.default_rng(0).integers(245, 256, (300, 300, 3)).astype(np.uint8),
    }.items(),
    ids=lambda kv: kv[0],
)
def test_blank_images_are_empty(blank, reader):
    with pytest.raises(EmptyDrawing):
        preprocess(blank[1])
    reading = reader.read(blank[1])
    assert reading.empty and reading.top() == [] and "draw a digit" in reading.message.lower()


def test_cleared_sketchpad_value_is_empty(reader):
    assert reader.read({"background": None, "layers": [], "composite": None}).empty


def test_empty_sketchpad_value(reader):
    value = {"background": np.full((800, 800, 4), 255, np.uint8), "layers": [np.zeros((800, 800, 4), np.uint8)],
             "composite": np.full((800, 800, 4), 255, np.uint8)}
    assert reader.read(value).empty


def test_huge_image_is_read(reader):
    huge = np.full((6000, 6000), 255, np.uint8)
    huge[1000:5000, 2950:3250] = 0  # a "1", 300 px wide
    assert reader.read(huge).text == "1"
    with pytest.raises(EmptyDrawing):
        preprocess(np.full((6000, 6000, 3), 255, np.uint8))


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {},
        {"composite": 42},
        {"layers": [np.zeros((10, 10, 4), np.uint8), np.zeros((20, 20, 4), np.uint8)]},
        "not/a/file.png",
        b"definitely not an image",
        np.zeros((10, 10, 5), np.uint8),
        np.zeros((0, 0), np.uint8),
        np.array([["a", "b"]]),
        12345,
        [1, 2, 3],
    ],
    ids=repr,
)
def test_malformed_input_gives_a_clear_error(bad):
    with pytest.raises(InvalidImage) as info:
        preprocess(bad)
    message = str(info.value)
    assert message and "Traceback" not in message and len(message) < 300


def test_a_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(InvalidImage, match=r"The file sent \(notes.png\) is not an image"):
        load_image(str(path))


def test_a_huge_image_is_refused_before_it_is_decoded(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (6000, 6000), 255).save(path)
    with pytest.raises(InvalidImage, match=r"too large \(6000x6000 pixels\)"):
        load_image(path)


def test_thinning_keeps_the_largest_erosion_that_leaves_ink():
    """`_thin` takes erosion steps one by one; it must keep what retrying from scratch with one whole step
    fewer, until ink is left, keeps (the definition, quadratic in the steps)."""
    from scipy import ndimage

    from mnist_sketch.preprocess import INK_LEVEL, MIN_INK_PIXELS, _partial, _step, _thin

    def eroded(ink: np.ndarray, steps: float) -> np.ndarray:  # from scratch, by `steps` pixels
        out = previous = ink
        for i in range(math.ceil(steps)):
            previous, out = out, _step(out, i, np.minimum)
        return _partial(previous, out, steps - int(steps))

    def by_definition(ink: np.ndarray, steps: float) -> np.ndarray:
        while steps > 0:
            thinned = eroded(ink, steps)
            if (thinned >= INK_LEVEL / 255.0).sum() >= MIN_INK_PIXELS:
                return thinned
            steps -= 1
        return ink

    rng = np.random.default_rng(0)
    for _ in range(60):
        ink = (rng.random(tuple(rng.integers(4, 40, size=2))) < rng.uniform(0.05, 0.9)).astype(np.float32)
        ink = ndimage.uniform_filter(ndimage.grey_dilation(ink, size=int(rng.integers(1, 6))), 2)
        steps = float(rng.choice([rng.uniform(0, 12), float(rng.integers(0, 12))]))
        np.testing.assert_array_equal(_thin(ink, steps), by_definition(ink, steps))
