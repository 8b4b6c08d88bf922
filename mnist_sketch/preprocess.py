"""Turn whatever a sketchpad or API client sends into the 28x28 image the model expects.

The model was trained on MNIST, whose digits were made by one recipe: crop to
the ink, fit the box in 20x20 keeping the aspect ratio, anti-alias, and put the
centre of mass at the centre of a 28x28 field. A browser drawing is nothing
like that (a large canvas, any brush, anywhere), so `preprocess` applies the
same recipe, plus one step MNIST did not need: strokes are thinned or thickened
to one width near MNIST's typical one, so a thin pen and a fat brush both look
like MNIST.

Pipeline (each step is one function below):

    value --load_image--> HxW[x3|4] uint8 --ink_map--> HxW uint8 ink (255 = ink)    = ink_of
    ink --crop_to_ink--> --resize_longer_side--> working-size float ink
        --normalise_stroke_width--> --fit_in_box--> <=20x20 --center_by_mass--> 28x28  = frame_ink

A drawing of several digits is split into single-digit ink maps between the two
halves (`mnist_sketch.segment`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

MNIST_SIZE = 28
BOX_SIZE = 20  # MNIST fits each digit's bounding box in 20x20
WORK_SCALE = 4  # stroke widths are measured and changed at 4x the box size
WORK_SIZE = BOX_SIZE * WORK_SCALE
# Stroke width, in pixels of the 28x28 image, that drawings are normalised to.
# MNIST's median is 2.58 (5th-95th percentile 1.99-3.89; `stroke_width` on 3,000
# training images); a little thicker reads pen-drawn digits best (2.8 against
# 2.2-3.4 on benchmarks/sketch_accuracy.py, see benchmarks/HISTORY.md), as the
# training augmentation thickens strokes more often than it thins them.
STROKE_WIDTH = 2.8
MAX_SIDE = 2048  # larger images are box-averaged down first: same result, bounded cost
MAX_PIXELS = 25_000_000  # larger encoded images (e.g. 6000x6000) are refused before they are decoded
INK_LEVEL = 48  # 0-255: pixels at least this inked count when cropping and testing for emptiness
MIN_INK_PIXELS = 3  # fewer inked pixels than this is an empty canvas (stray clicks, noise)
FAINT_LEVEL = 8  # 0-255: ink this strong (3 % contrast) but under INK_LEVEL is a drawing too faint to read...
MIN_FAINT_PIXELS = 20  # ...when there are at least this many such pixels (not a few specks of noise)
# Share of an image's pixels inked, above which it is not a drawing (a photo, noise, a filled area): pen
# drawings on a pad stay under 0.27, MNIST's own 28x28 digits under 0.34 (benchmarks/HISTORY.md).
MAX_COVERAGE = 0.36
TOO_FAINT = ("The drawing is too faint to read: draw with darker ink, or send an image with more contrast "
             "between the ink and the paper.")
NOT_A_DRAWING = ("This image is {:.0%} ink: it does not look like a drawing on plain paper. Send a digit or a "
                 "number drawn in dark ink on a light background (or light ink on a dark one).")


class InvalidDrawing(ValueError):
    """The value is not a drawing the app can read; the message says what is wrong with it."""


class InvalidImage(InvalidDrawing):
    """The value is not an image the app can read (wrong type, undecodable bytes, bad dict)."""


EMPTY_MESSAGE = "Draw a digit (0-9), or a whole number, on the pad."


class EmptyDrawing(ValueError):
    """Nothing (or nothing readable, such as a dot) was drawn; the message says what to do."""

    def __init__(self, message: str = EMPTY_MESSAGE):
        super().__init__(message)


def load_image(value: Any) -> np.ndarray:
    """Decode any supported input into a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4).

    Accepts a Gradio Sketchpad/ImageEditor value (a dict with "composite",
    "layers" and "background", each any of the other kinds), a numpy array (L,
    RGB or RGBA; uint8 or float in [0, 1]), a PIL image, a file path, or
    encoded image bytes. Files and bytes larger than MAX_PIXELS are refused
    before they are decoded.
    """
    if isinstance(value, Mapping):
        return _load_editor_value(value)
    if isinstance(value, Image.Image):
        return _from_pil(value)
    if isinstance(value, (str, Path)):
        return _decode(value, f"The file sent ({Path(value).name})")
    if isinstance(value, (bytes, bytearray)):
        return _decode(io.BytesIO(value), "The bytes sent")
    if isinstance(value, np.ndarray):
        return _from_array(value)
    if value is None:
        raise InvalidImage("No image was sent.")
    raise InvalidImage(f"Cannot read an image from a {type(value).__name__}.")


def _decode(source: str | Path | io.BytesIO, what: str) -> np.ndarray:
    """An encoded image (a file or bytes) -> uint8 array; InvalidImage when it is no image, or too large."""
    try:
        with Image.open(source) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise InvalidImage(f"The image is too large ({width}x{height} pixels): send at most "
                                   f"{MAX_PIXELS // 1_000_000} megapixels, e.g. 900x600 like the app's pad.")
            return _from_pil(img)
    except Image.DecompressionBombError as exc:  # PIL's own limit, when the size is lied about in a header
        raise InvalidImage(f"The image is too large: send at most {MAX_PIXELS // 1_000_000} megapixels.") from exc
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        if isinstance(exc, InvalidImage):
            raise
        raise InvalidImage(f"{what} is not an image PIL can read ({exc.__class__.__name__}): "
                           "send a PNG or JPEG of a digit.") from exc


def _load_editor_value(value: Mapping) -> np.ndarray:
    """A Sketchpad value: its composite, else its layers merged, else its background.

    A Sketchpad value without any image (a cleared canvas) is an EmptyDrawing.
    """
    if value.get("composite") is not None:
        return load_image(value["composite"])
    layers = [layer for layer in value.get("layers") or [] if layer is not None]
    if layers:
        maps = [ink_map(load_image(layer)) for layer in layers]
        if len({m.shape for m in maps}) != 1:
            raise InvalidImage("The Sketchpad layers have different sizes.")
        return 255 - np.maximum.reduce(maps)  # dark ink on white, like the composite
    if value.get("background") is not None:
        return load_image(value["background"])
    if {"composite", "layers", "background"} & set(value):
        raise EmptyDrawing()  # what a cleared Sketchpad sends
    raise InvalidImage(f'Expected a Sketchpad value {{"background", "layers", "composite"}}; '
                       f"got a dict with keys {sorted(value)}.")


def _from_pil(img: Image.Image) -> np.ndarray:
    """PIL image -> uint8 array, keeping alpha where the image has any."""
    img.load()
    if img.mode in ("I", "I;16", "F"):  # 16/32-bit greyscale: rescale to 8 bits
        return _from_array(np.asarray(img))
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    mode = "RGBA" if has_alpha else ("L" if img.mode in ("1", "L") else "RGB")
    return np.asarray(img.convert(mode))


def _from_array(arr: np.ndarray) -> np.ndarray:
    """numpy image -> uint8 (H, W[, C]); floats are read as [0, 1] when at most 1, else [0, 255]."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidImage(f"Expected an image array of shape (H, W), (H, W, 3) or (H, W, 4); got {arr.shape}.")
    if arr.size == 0:
        raise InvalidImage("The image is empty (zero pixels).")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidImage(f"Expected numeric pixels; got dtype {arr.dtype}.")
    is_float = np.issubdtype(arr.dtype, np.floating)
    arr = np.nan_to_num(arr.astype(np.float64))
    peak = arr.max()
    if is_float and 0 <= peak <= 1.0:  # floats in [0, 1]
        scale = 255.0
    elif peak > 255:  # 16-bit and other wide ranges
        scale = 255.0 / peak
    else:
        scale = 1.0
    return np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)


def ink_map(image: np.ndarray) -> np.ndarray:
    """(H, W[, 3|4]) uint8 image -> (H, W) uint8 ink, 0 = background, 255 = full ink.

    Transparency carries the drawing when there is any (a Sketchpad layer or a
    transparent PNG: RGB is meaningless, often 0, under transparent pixels).
    An opaque image is read by luminance; the border decides the polarity, so
    dark ink on light paper and light ink on a dark screen both work, and a
    grey background is subtracted.
    """
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[..., 3]
        if alpha.min() < 255:
            return alpha
        image = image[..., :3]
    gray = np.asarray(Image.fromarray(image).convert("L")) if image.ndim == 3 else image
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = int(np.median(border))
    if background >= 128:  # light background, dark ink
        ink = background - gray.astype(np.int16)
        span = background
    else:  # dark background, light ink
        ink = gray.astype(np.int16) - background
        span = 255 - background
    if span <= 0:
        return np.zeros(gray.shape, np.uint8)
    return np.clip(ink * (255.0 / span), 0, 255).astype(np.uint8)


def check_looks_drawn(ink: np.ndarray) -> None:
    """Raise EmptyDrawing for an (H, W) uint8 ink map that is mostly ink: not a drawing on plain paper."""
    coverage = np.count_nonzero(ink >= INK_LEVEL) / ink.size
    if coverage > MAX_COVERAGE:
        raise EmptyDrawing(NOT_A_DRAWING.format(coverage))


def downscale_huge(ink: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Box-average an ink map whose longer side exceeds `max_side` (bounds time and memory)."""
    factor = -(-max(ink.shape) // max_side)  # ceil
    if factor <= 1:
        return ink
    return np.asarray(Image.fromarray(ink).reduce(factor))


def crop_to_ink(ink: np.ndarray, level: int = INK_LEVEL) -> np.ndarray:
    """Crop an (H, W) uint8 ink map to the bounding box of pixels inked at least `level`.

    Raises EmptyDrawing when fewer than MIN_INK_PIXELS pixels are inked, saying
    whether the canvas is blank or the drawing too faint.
    """
    inked = ink >= level
    rows = np.flatnonzero(inked.any(axis=1))
    if rows.size == 0 or np.count_nonzero(inked[rows[0] : rows[-1] + 1]) < MIN_INK_PIXELS:
        raise EmptyDrawing(TOO_FAINT if np.count_nonzero(ink >= FAINT_LEVEL) >= MIN_FAINT_PIXELS else EMPTY_MESSAGE)
    cols = np.flatnonzero(inked[rows[0] : rows[-1] + 1].any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def resize_longer_side(ink: np.ndarray, size: int) -> np.ndarray:
    """Resize an (h, w) ink map so its longer side is `size`, keeping the aspect ratio.

    Takes uint8 or float ink and returns float32 in [0, 1]. Shrinking averages
    areas (anti-aliasing, as MNIST did); enlarging interpolates bilinearly.
    """
    h, w = ink.shape
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = Image.fromarray(ink.astype(np.float32) / 255.0 if ink.dtype == np.uint8 else ink.astype(np.float32), mode="F")
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    return np.clip(np.asarray(img.resize(new, resample)), 0.0, 1.0)


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width, in pixels, of a float (h, w) ink map in [0, 1].

    A stroke of width w and length L has area w*L and outline length 2*L, so
    w = 2 * area / outline; the outline length is the total gradient magnitude.
    Sub-pixel accurate on anti-aliased ink; returns 0 for an empty map.
    """
    if min(ink.shape) < 2:  # a one-pixel line: np.gradient needs two samples along each axis
        ink = np.pad(ink, 1)
    gy, gx = np.gradient(ink)
    outline = float(np.hypot(gx, gy).sum())
    return 2.0 * float(ink.sum()) / outline if outline > 0 else 0.0


def _step(ink: np.ndarray, i: int, op: Any) -> np.ndarray:
    """Step i of a grey-level dilation (op=np.maximum) or erosion (op=np.minimum) by one pixel.

    Steps alternate 3x3 square and plus-shaped neighbourhoods, which approximates
    a round brush (a square alone fattens diagonal strokes more than straight ones).
    """
    p = np.pad(ink, 1)
    neighbours = [p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]]
    if i % 2 == 0:
        neighbours += [p[:-2, :-2], p[:-2, 2:], p[2:, :-2], p[2:, 2:]]
    return op.reduce(neighbours)


def _partial(before: np.ndarray, after: np.ndarray, fraction: float) -> np.ndarray:
    """The map `fraction` (in [0, 1)) of the way from one step to the next: a fractional step, so the
    width changes smoothly rather than in 2 px jumps."""
    return before + fraction * (after - before) if fraction else after


def _thicken(ink: np.ndarray, steps: float) -> np.ndarray:
    """Dilate a float ink map by `steps` >= 0 pixels, a fraction included; padded first so that the
    strokes have room to grow."""
    out = previous = np.pad(ink, math.ceil(steps))
    for i in range(math.ceil(steps)):
        previous, out = out, _step(out, i, np.maximum)
    return _partial(previous, out, steps - int(steps))


def normalise_stroke_width(ink: np.ndarray, target: float) -> np.ndarray:
    """Thicken or thin the strokes of a float ink map so their mean width is about `target` px.

    Each dilation or erosion step changes the width by about 2 px, so the map
    is grown or shrunk by half the difference, a fraction of a step included.
    Erosion never removes the drawing entirely.
    """
    steps = (target - stroke_width(ink)) / 2.0
    if steps > 0:
        # A stroke thinner than a pixel is only partly inked wherever it falls between
        # pixels; make half-covered pixels full first, or it would stay faint when grown.
        return _thicken(np.clip(ink * 2.0, 0.0, 1.0), steps)
    return _thin(ink, -steps)


def _thin(ink: np.ndarray, steps: float) -> np.ndarray:
    """Erode a float ink map by `steps` >= 0 pixels, a fraction included, or by the most whole steps fewer
    that leave ink; the map itself when even the smallest erosion would erase it.

    Each erosion only removes ink, so the steps are taken one by one and the
    last that leaves ink is kept: linear in `steps`, for any blot.
    """
    fraction = steps - int(steps)
    kept, current = ink, ink
    for i in range(math.ceil(steps)):
        thinner = _step(current, i, np.minimum)
        candidate = _partial(current, thinner, fraction)
        if (candidate >= INK_LEVEL / 255.0).sum() < MIN_INK_PIXELS:
            break
        kept, current = candidate, thinner
    return kept


def fit_in_box(ink: np.ndarray, box: int = BOX_SIZE) -> np.ndarray:
    """Crop a float ink map to its ink and fit it in box x box keeping the aspect ratio."""
    as_uint8 = np.rint(ink * 255.0).astype(np.uint8)
    rows = np.flatnonzero(as_uint8.max(axis=1) >= INK_LEVEL)
    cols = np.flatnonzero(as_uint8.max(axis=0) >= INK_LEVEL)
    cropped = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return resize_longer_side(cropped, box)


def center_by_mass(ink: np.ndarray, size: int = MNIST_SIZE) -> np.ndarray:
    """Paste a float (h, w) ink map (h, w <= size) into size x size with its centre of mass at the centre."""
    h, w = ink.shape
    total = ink.sum()
    ys, xs = np.indices(ink.shape)
    cy = (ys * ink).sum() / total if total > 0 else (h - 1) / 2
    cx = (xs * ink).sum() / total if total > 0 else (w - 1) / 2
    # Integer offset that moves the centre of mass nearest (size-1)/2, kept on the canvas.
    top = int(np.clip(round((size - 1) / 2 - cy), 0, size - h))
    left = int(np.clip(round((size - 1) / 2 - cx), 0, size - w))
    out = np.zeros((size, size), np.float32)
    out[top : top + h, left : left + w] = ink
    return out


def ink_of(value: Any) -> np.ndarray:
    """Any supported input (see `load_image`) -> its (H, W) uint8 ink map, at most MAX_SIDE on a side."""
    return downscale_huge(ink_map(load_image(value)))


def frame_ink(ink: np.ndarray, stroke_width: float = STROKE_WIDTH) -> np.ndarray:
    """An (H, W) uint8 ink map of one digit -> (28, 28) float32 MNIST-like ink in [0, 1].

    `stroke_width` (px at 28x28) is the width strokes are normalised to.
    Raises EmptyDrawing when the map holds no ink.
    """
    work = resize_longer_side(crop_to_ink(ink), WORK_SIZE)
    work = normalise_stroke_width(work, stroke_width * WORK_SCALE)
    return center_by_mass(fit_in_box(work))


def preprocess(value: Any, stroke_width: float = STROKE_WIDTH) -> np.ndarray:
    """Any supported input (see `load_image`), read as one digit -> (28, 28) float32 MNIST-like ink in [0, 1].

    Raises InvalidImage for input that is not an image and EmptyDrawing for an
    image with nothing drawn on it.
    """
    return frame_ink(ink_of(value), stroke_width)
