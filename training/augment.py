"""Training-time augmentation that makes MNIST look like what people draw on a sketchpad.

Five kinds:

- `add_writing_styles` (once, before training, numpy + PIL): writing styles
  that MNIST, written by US Census staff and students, barely contains but
  many users write: zeros with a slash or an upright phi stroke, ones with a
  flag and a base, fives whose top bar floats free of the stem, sevens with a
  crossbar. Each styled digit goes back through the app's own framing
  (`fit_in_box`, `center_by_mass`).
- `mix_app_view` (once, before training): half the digits re-framed by the
  app's whole `preprocess` (stroke width normalised, refitted, recentred), so
  the model learns the exact look of what it reads at inference.
- `mix_pen_view` (once, before training; off in the recipe): a share of the digits thinned to
  their skeleton and redrawn with an anti-aliased round pen of a random width,
  the look of a digit drawn with a pen (uniform width, round ends) rather than
  scanned from paper.
- `mix_fat_pen_view` (once, before training; off in the recipe): a share
  redrawn with a fat pen and thinned back by the app's `preprocess`, the look
  of a fat brush on a small drawing (loops filled, close strokes merged).
- `augment_batch` (every batch, Keras ops inside tf.data): a random affine
  warp (rotation, shear, zoom, shift) applied as one transform so strokes are
  resampled once, random stroke-thickness changes, and a rescale to
  full-strength ink, as the app delivers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw
from scipy import ndimage
from skimage.morphology import skeletonize

from mnist_sketch.preprocess import EmptyDrawing, center_by_mass, fit_in_box, preprocess, stroke_width

UPSCALE = 4  # styles are drawn at 4x so the added strokes are anti-aliased like MNIST's
STYLED_CLASSES = (0, 1, 5, 7)
STYLE_PROB = 0.5  # share of zeros, ones, fives and sevens shown in their restyled form, drawn anew per batch
ROTATION_DEG = 15.0
SHEAR = 0.3  # x-shear factor
ZOOM = 0.12  # scale 1 +- ZOOM
SHIFT_PX = 2.0
THICKNESS = (-0.5, 1.0)  # blend towards a 3x3 erosion (< 0) or dilation (> 0)
APP_VIEW_PROB = 0.5  # share of digits shown as the app's preprocessing frames them
# Share of digits whose small loops are filled, as a fat brush on a small drawing does; 0.2 reads
# more drawings than 0.12 at the same MNIST accuracy (benchmarks/HISTORY.md, third search).
FILL_PROB = 0.2
PEN_PROB = 0.0  # share of digits redrawn with a round pen along their skeleton (train.py's --pen-prob)
PEN_WIDTH = (2.2, 3.4)  # pen widths drawn from, in px at 28x28: around the app's STROKE_WIDTH of 2.8
# Share of digits drawn with a fat pen and thinned back by the app (train.py's --fat-pen-prob), and the
# widths drawn from, in px at 28x28: a 32 px brush on a digit 120-200 px high (the small, off-corner
# sketch) is 3.2-5.3 px at MNIST's 20 px box.
FAT_PEN_PROB = 0.0
FAT_PEN_WIDTH = (3.5, 5.5)
ELASTIC_PROB = 0.0  # share of digits bent by a smooth random displacement field (train.py's --elastic-prob)
ELASTIC_SIGMA = 4.0  # px: the displacement field's smoothness (Simard et al., 2003)
ELASTIC_PX = 2.0  # px: the largest typical (RMS) displacement, drawn per image from 0 to this


def recipe(pen_prob: float = PEN_PROB, elastic_prob: float = ELASTIC_PROB, fill_prob: float = FILL_PROB,
           fat_pen_prob: float = FAT_PEN_PROB) -> dict[str, float]:
    """The augmentation parameters, for metrics.json and the model card."""
    return {"style_prob": STYLE_PROB, "rotation_deg": ROTATION_DEG, "shear": SHEAR, "zoom": ZOOM,
            "shift_px": SHIFT_PX, "thickness_min": THICKNESS[0], "thickness_max": THICKNESS[1],
            "fill_prob": fill_prob, "app_view_prob": APP_VIEW_PROB, "pen_prob": pen_prob,
            "pen_width_min": PEN_WIDTH[0], "pen_width_max": PEN_WIDTH[1], "elastic_prob": elastic_prob,
            "elastic_sigma": ELASTIC_SIGMA, "elastic_px": ELASTIC_PX, "fat_pen_prob": fat_pen_prob,
            "fat_pen_width_min": FAT_PEN_WIDTH[0], "fat_pen_width_max": FAT_PEN_WIDTH[1]}


def _draw_line(ink: np.ndarray, points: list[tuple[float, float]], width: float) -> np.ndarray:
    """Max-combine a round-capped polyline of `width` px (through (x, y) points) into float ink (h, w)."""
    layer = Image.new("L", (ink.shape[1], ink.shape[0]), 0)
    draw = ImageDraw.Draw(layer)
    draw.line(points, fill=255, width=max(1, round(width)), joint="curve")
    r = width / 2
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.maximum(ink, np.asarray(layer, np.float32) / 255.0)


def _style_zero(ink: np.ndarray, box: tuple[int, int, int, int], width: float, rng: np.random.Generator) -> np.ndarray:
    """A slash through the zero: from flat (a theta) through rising to the right, overshooting its
    outline or stopping short of it; or, a third of the time, an upright stroke far past the top and
    bottom of the zero (a phi, as many Scandinavian and Australian writers draw it)."""
    x0, y0, x1, y1 = box
    cx = (x0 + x1) / 2 + rng.uniform(-0.1, 0.1) * (x1 - x0)
    cy = (y0 + y1) / 2 + rng.uniform(-0.1, 0.1) * (y1 - y0)
    phi = rng.random() < 1 / 3
    angle = math.radians(rng.uniform(80, 100) if phi else rng.uniform(0, 90))
    # Half-length reaching the box edge along that direction, then past it (or short of it).
    reach = min((x1 - x0) / 2 / max(abs(math.cos(angle)), 1e-3), (y1 - y0) / 2 / max(math.sin(angle), 1e-3))
    back, forth = reach * rng.uniform(*((1.2, 2.0) if phi else (0.8, 1.8)), size=2)
    dx, dy = math.cos(angle), -math.sin(angle)  # y points down: rising to the right
    return _draw_line(ink, [(cx - back * dx, cy - back * dy), (cx + forth * dx, cy + forth * dy)], width)


def _style_one(ink: np.ndarray, box: tuple[int, int, int, int], width: float, rng: np.random.Generator) -> np.ndarray:
    """A flag from the top of the one down to the left, and often a base."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    top_x = float(np.mean(np.flatnonzero(ink[y0 + 1] > 0.5) if (ink[y0 + 1] > 0.5).any() else [(x0 + x1) / 2]))
    length, angle = rng.uniform(0.2, 0.7) * h, math.radians(rng.uniform(15, 60))
    out = _draw_line(ink, [(top_x, y0), (top_x - length * math.cos(angle), y0 + length * math.sin(angle))], width)
    if rng.random() < 0.5:
        row = ink[y1 - 1] > 0.5
        bottom_x = float(np.mean(np.flatnonzero(row))) if row.any() else (x0 + x1) / 2
        half = rng.uniform(0.15, 0.5) * h
        out = _draw_line(out, [(bottom_x - half, y1), (bottom_x + half * rng.uniform(0.8, 1.2), y1)], width)
    return out


def _style_five(ink: np.ndarray, box: tuple[int, int, int, int], width: float, rng: np.random.Generator) -> np.ndarray:
    """The top bar lifted off the stem: a five written in two strokes that do not meet. Half the
    time the stem is cut short as well, leaving a hooked bowl under a floating bar."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    band = slice(y0, min(y1, y0 + round(1.5 * width)))
    cols = np.flatnonzero(ink[band].max(axis=0) > 0.5)
    stem_x = float(cols[0]) if cols.size else float(x0)
    bar_end = float(cols[-1]) if cols.size else float(x1)
    cut = round(stem_x + width)
    out = ink.copy()
    out[band, cut:] = 0.0  # keep the stem's top, erase the bar
    gap = rng.uniform(0.5, 3.0) * width
    if rng.random() < 0.5:
        out[y0 : y0 + round(rng.uniform(0.15, 0.35) * h), :cut] = 0.0
        gap = rng.uniform(-1.0, 2.0) * width
    lift = rng.uniform(0.0, 0.2) * h
    y_bar = y0 + width / 2 - lift
    tilt = rng.uniform(-0.06, 0.06) * h
    right = bar_end + rng.uniform(-0.1, 0.15) * h
    return _draw_line(out, [(cut + gap, y_bar + tilt), (max(right, cut + gap + width), y_bar - tilt)], width)


def _style_seven(ink: np.ndarray, box: tuple[int, int, int, int], width: float, rng: np.random.Generator) -> np.ndarray:
    """A short crossbar through the seven's stem, a little below the middle."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    y = round(y0 + rng.uniform(0.45, 0.65) * h)
    row = ink[y] > 0.5
    stem_x = float(np.mean(np.flatnonzero(row))) if row.any() else (x0 + x1) / 2
    half = rng.uniform(0.15, 0.3) * h
    tilt = rng.uniform(-0.08, 0.08) * h
    return _draw_line(ink, [(stem_x - half, y + tilt), (stem_x + half, y - tilt)], width)


_STYLERS = {0: _style_zero, 1: _style_one, 5: _style_five, 7: _style_seven}


def style_digit(image: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """One (28, 28) uint8 MNIST digit of a class in STYLED_CLASSES redrawn in the other style; uint8 (28, 28)."""
    big = np.asarray(Image.fromarray(image).resize((28 * UPSCALE,) * 2, Image.Resampling.BILINEAR), np.float32) / 255.0
    rows, cols = np.flatnonzero(big.max(axis=1) > 0.5), np.flatnonzero(big.max(axis=0) > 0.5)
    box = (int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1]))
    width = stroke_width(big) * rng.uniform(0.8, 1.1)
    styled = _STYLERS[label](big, box, width, rng)
    return np.rint(center_by_mass(fit_in_box(styled)) * 255.0).astype(np.uint8)


def add_writing_styles(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Styled copies of uint8 images (n, 28, 28): the STYLED_CLASSES restyled, the rest unchanged."""
    rng = np.random.default_rng(seed)
    styled = x.copy()
    for i in np.flatnonzero(np.isin(y, STYLED_CLASSES)):
        if (x[i] > 127).sum() >= 3:  # skip the rare near-empty digit
            styled[i] = style_digit(x[i], int(y[i]), rng)
    return styled


def app_view(x: np.ndarray) -> np.ndarray:
    """uint8 images (n, 28, 28) re-framed by the app's own `preprocess`; uint8 (n, 28, 28)."""
    out = x.copy()
    for i, image in enumerate(x):
        try:
            out[i] = np.rint(preprocess(image) * 255.0).astype(np.uint8)
        except EmptyDrawing:  # the rare near-empty MNIST digit stays as it is
            pass
    return out


def mix_app_view(x: np.ndarray, seed: int, prob: float = APP_VIEW_PROB) -> np.ndarray:
    """`x` with a random `prob` share of its images replaced by their `app_view`."""
    pick = np.random.default_rng(seed).random(len(x)) < prob
    out = x.copy()
    out[pick] = app_view(x[pick])
    return out


def _pen_ink(image: np.ndarray, width: float) -> np.ndarray | None:
    """A uint8 (28, 28) digit's skeleton redrawn with a round pen `width` px wide (at 28x28 scale), at
    UPSCALE x: float (112, 112) in {0, 1}; None for the rare near-empty digit (no skeleton)."""
    size = 28 * UPSCALE
    inked = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)) > 127
    skeleton = skeletonize(inked)
    if not skeleton.any():
        return None
    distance = ndimage.distance_transform_edt(~skeleton)
    return (distance <= width * UPSCALE / 2).astype(np.float32)


def pen_redraw(image: np.ndarray, width: float) -> np.ndarray:
    """One uint8 (28, 28) digit thinned to its skeleton and redrawn with a round pen `width` px wide.

    The skeleton is taken at UPSCALE x; every pixel within width / 2 of it is
    inked there, and area-averaging back to 28x28 anti-aliases the strokes.
    The result is framed like MNIST again (20x20 box, centred by mass): uint8 (28, 28).
    """
    pen = _pen_ink(image, width)
    if pen is None:  # the rare near-empty digit stays as it is
        return image
    small = pen.reshape(28, UPSCALE, 28, UPSCALE).mean(axis=(1, 3))
    return np.rint(center_by_mass(fit_in_box(small)) * 255.0).astype(np.uint8)


def _mix_redrawn(x: np.ndarray, seed: int, prob: float, redraw: Callable[[np.ndarray, float], np.ndarray],
                 widths: tuple[float, float]) -> np.ndarray:
    """`x` (n, 28, 28) uint8 with a random `prob` share replaced by `redraw(image, width)`, widths
    uniform in `widths`."""
    rng = np.random.default_rng(seed)
    pick = np.flatnonzero(rng.random(len(x)) < prob)
    out = x.copy()
    for i, width in zip(pick, rng.uniform(*widths, size=len(pick))):
        out[i] = redraw(x[i], width)
    return out


def mix_pen_view(x: np.ndarray, seed: int, prob: float = PEN_PROB) -> np.ndarray:
    """`x` (n, 28, 28) uint8 with a random `prob` share redrawn by `pen_redraw`, pen widths uniform in PEN_WIDTH."""
    return _mix_redrawn(x, seed, prob, pen_redraw, PEN_WIDTH)


def fat_pen_view(image: np.ndarray, width: float) -> np.ndarray:
    """One uint8 (28, 28) digit redrawn with a fat round pen `width` px wide, then read by the app's own
    `preprocess`, which thins the strokes back to STROKE_WIDTH: uint8 (28, 28).

    A fat brush on a small drawing merges what a thin one keeps apart (loops fill, close strokes
    touch, ends round off) and thinning cannot undo it; this is the look such drawings reach the model in.
    """
    pen = _pen_ink(image, width)
    if pen is None:
        return image
    try:
        return np.rint(preprocess(np.rint(pen * 255.0).astype(np.uint8)) * 255.0).astype(np.uint8)
    except EmptyDrawing:
        return image


def mix_fat_pen_view(x: np.ndarray, seed: int, prob: float = FAT_PEN_PROB) -> np.ndarray:
    """`x` (n, 28, 28) uint8 with a random `prob` share replaced by `fat_pen_view`, widths uniform in FAT_PEN_WIDTH."""
    return _mix_redrawn(x, seed, prob, fat_pen_view, FAT_PEN_WIDTH)


def _affine_transforms(batch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """(batch, 8) projective transforms mapping output to input pixels: rotate, shear, zoom, shift."""
    n = tf.shape(batch)[0]
    u = tf.random.stateless_uniform((n, 5), seed=seed, minval=-1.0, maxval=1.0)
    angle = u[:, 0] * math.radians(ROTATION_DEG)
    shear = u[:, 1] * SHEAR
    zoom = 1.0 + u[:, 2] * ZOOM  # >1 samples a larger area: the digit shrinks
    shift_x, shift_y = u[:, 3] * SHIFT_PX, u[:, 4] * SHIFT_PX
    cos, sin = tf.cos(angle) * zoom, tf.sin(angle) * zoom
    # Output->input matrix [[a0, a1], [b0, b1]] = zoom * R(angle) @ shear_x, about the centre.
    a0, a1 = cos, cos * shear - sin
    b0, b1 = sin, sin * shear + cos
    c = 13.5
    a2 = c - a0 * c - a1 * c + shift_x
    b2 = c - b0 * c - b1 * c + shift_y
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _dilate(batch: tf.Tensor, size: int) -> tf.Tensor:
    return tf.nn.max_pool2d(batch, size, 1, "SAME")


def _erode(batch: tf.Tensor, size: int) -> tf.Tensor:
    return -tf.nn.max_pool2d(-batch, size, 1, "SAME")


def _change_thickness(batch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Blend each image towards its 3x3 dilation or erosion by a random amount (thicker or thinner strokes)."""
    n = tf.shape(batch)[0]
    amount = tf.random.stateless_uniform((n, 1, 1, 1), seed=seed, minval=THICKNESS[0], maxval=THICKNESS[1])
    target = tf.where(amount > 0, _dilate(batch, 3), _erode(batch, 3))
    return batch + tf.abs(amount) * (target - batch)


def _fill_small_loops(batch: tf.Tensor, seed: tf.Tensor, prob: float) -> tf.Tensor:
    """For `prob` of the images, a morphological closing (dilate, then erode back) of size 3 or 5.

    A fat brush on a small drawing fills the small loops of 4, 6, 8 and 9 and the
    preprocessing's thinning cannot reopen them; this shows the model such digits.
    """
    u = tf.random.stateless_uniform((tf.shape(batch)[0], 1, 1, 1), seed=seed)
    closed3 = _erode(_dilate(batch, 3), 3)
    closed5 = _erode(_dilate(batch, 5), 5)
    return tf.where(u < prob / 2, closed5, tf.where(u < prob, closed3, batch))


def _gaussian_blur(fields: tf.Tensor, sigma: float) -> tf.Tensor:
    """Blur each channel of (b, h, w, c) with a Gaussian of `sigma` px (separable, zero padding)."""
    radius = int(2 * sigma)
    kernel = tf.exp(-0.5 * (tf.range(-radius, radius + 1, dtype=tf.float32) / sigma) ** 2)
    kernel /= tf.reduce_sum(kernel)
    channels = fields.shape[-1]
    rows = tf.tile(tf.reshape(kernel, (-1, 1, 1, 1)), (1, 1, channels, 1))
    cols = tf.tile(tf.reshape(kernel, (1, -1, 1, 1)), (1, 1, channels, 1))
    fields = tf.nn.depthwise_conv2d(fields, rows, (1, 1, 1, 1), "SAME")
    return tf.nn.depthwise_conv2d(fields, cols, (1, 1, 1, 1), "SAME")


def _elastic(batch: tf.Tensor, seed: tf.Tensor, prob: float) -> tf.Tensor:
    """Bend `prob` of the images by a smooth random displacement field (Simard et al., 2003): each
    pixel moves by up to ELASTIC_PX (RMS over the image), the field smooth over ELASTIC_SIGMA px.
    People's strokes bend, loops open and close; an affine warp alone moves the whole digit."""
    n, h, w = tf.shape(batch)[0], batch.shape[1], batch.shape[2]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    noise = tf.random.stateless_uniform((n, h, w, 2), seed=seeds[0], minval=-1.0, maxval=1.0)
    field = _gaussian_blur(noise, ELASTIC_SIGMA)
    rms = tf.sqrt(tf.reduce_mean(field**2, axis=[1, 2, 3], keepdims=True))
    strength = tf.random.stateless_uniform((n, 1, 1, 1), seed=seeds[1], maxval=ELASTIC_PX)
    use = tf.cast(tf.random.stateless_uniform((n, 1, 1, 1), seed=seeds[2]) < prob, tf.float32)
    field = field / rms * strength * use
    ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
    # One image at a time: map_coordinates needs the input's static shape, and a batch's size is unknown.
    bent = tf.map_fn(lambda a: keras.ops.image.map_coordinates(a[0], [ys + a[1][..., 0], xs + a[1][..., 1]], 1),
                     (batch[..., 0], field), fn_output_signature=tf.float32)
    return bent[..., None]


def _full_strength(batch: tf.Tensor) -> tf.Tensor:
    """Rescale each image so its brightest pixel is 1: warping and thinning dim the strokes, while the
    app's preprocessing always delivers full-strength ink."""
    peak = tf.reduce_max(batch, axis=[1, 2, 3], keepdims=True)
    return batch / tf.maximum(peak, 0.1)


def augment_batch(images: tf.Tensor, styled: tf.Tensor, seed: tf.Tensor, style_prob: float = STYLE_PROB,
                  elastic_prob: float = ELASTIC_PROB, fill_prob: float = FILL_PROB) -> tf.Tensor:
    """Augment a float batch (b, 28, 28, 1) in [0, 1]; `styled` holds each image's restyled copy.

    `seed` is a stateless-RNG seed of shape (2,), so a run is repeatable.
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)
    n = tf.shape(images)[0]
    use_style = tf.random.stateless_uniform((n, 1, 1, 1), seed=seeds[0]) < style_prob
    images = tf.where(use_style, styled, images)
    images = _fill_small_loops(images, seeds[3], fill_prob)
    images = _change_thickness(images, seeds[1])
    if elastic_prob > 0:  # its own stream, so the other draws are those of a run without it
        images = _elastic(images, tf.random.experimental.stateless_fold_in(seed, 4), elastic_prob)
    images = keras.ops.image.affine_transform(images, _affine_transforms(images, seeds[2]), fill_value=0)
    return _full_strength(tf.clip_by_value(images, 0.0, 1.0))
