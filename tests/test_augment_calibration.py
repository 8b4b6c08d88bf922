"""Training building blocks: writing-style synthesis, batch augmentation, temperature calibration."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import (apply_temperature, cross_entropy, expected_calibration_error,
                                  fit_temperature, fold_temperature)


@pytest.mark.parametrize("digit", [0, 1, 5, 7])
def test_styles_add_ink_and_keep_mnist_framing(mnist_digits, digit):
    from training.augment import style_digit

    x, y = mnist_digits
    rng = np.random.default_rng(0)
    for image in x[y == digit][:20]:
        styled = style_digit(image, digit, rng)
        assert styled.shape == (28, 28) and styled.dtype == np.uint8
        rows, cols = np.flatnonzero(styled.max(axis=1) > 25), np.flatnonzero(styled.max(axis=0) > 25)
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) <= 21  # refitted in the 20x20 box
        # A stroke was added, and the digit was shrunk to fit, not lost.
        assert not np.array_equal(styled, image)
        assert 0.6 < (styled > 127).sum() / (image > 127).sum() < 3.0


def test_many_zeros_get_an_upright_phi_stroke():
    """A phi's stroke runs well past the top and bottom of the zero without widening it.

    Slashes at any angle from flat to upright alone do this about 17 % of the time.
    """
    from PIL import Image, ImageDraw

    from training.augment import _style_zero

    ring = Image.new("L", (112, 112), 0)
    ImageDraw.Draw(ring).ellipse((36, 16, 76, 96), outline=255, width=10)
    ink = np.asarray(ring, np.float32) / 255.0

    def extent(image: np.ndarray) -> tuple[int, int]:
        rows, cols = np.flatnonzero(image.max(axis=1) > 0.5), np.flatnonzero(image.max(axis=0) > 0.5)
        return rows[-1] - rows[0], cols[-1] - cols[0]

    height, width = extent(ink)
    rng = np.random.default_rng(0)
    extents = [extent(_style_zero(ink, (36, 16, 76, 96), 10.0, rng)) for _ in range(300)]
    assert np.mean([h > 1.25 * height and w < 1.1 * width for h, w in extents]) > 0.3


def test_add_writing_styles_leaves_other_digits_alone(mnist_digits):
    from training.augment import STYLED_CLASSES, add_writing_styles

    x, y = mnist_digits
    styled = add_writing_styles(x[:300], y[:300], seed=0)
    other = ~np.isin(y[:300], STYLED_CLASSES)
    assert np.array_equal(styled[other], x[:300][other])
    assert (styled[~other] != x[:300][~other]).any(axis=(1, 2)).mean() > 0.9


def test_augment_batch_is_repeatable_and_in_range(mnist_digits):
    import tensorflow as tf

    from training.augment import augment_batch

    x, _ = mnist_digits
    batch = tf.constant(x[:64, ..., None] / 255.0, tf.float32)
    a = augment_batch(batch, batch, tf.constant([1, 2], tf.int64)).numpy()
    b = augment_batch(batch, batch, tf.constant([1, 2], tf.int64)).numpy()
    c = augment_batch(batch, batch, tf.constant([3, 4], tf.int64)).numpy()
    assert a.shape == (64, 28, 28, 1) and a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.5 < a.sum() / batch.numpy().sum() < 1.6  # warped, thickened or thinned, not destroyed
    assert np.allclose(a.max(axis=(1, 2, 3)), 1.0)  # full-strength ink, as the app's preprocessing delivers


def test_app_view_is_the_apps_preprocessing(mnist_digits):
    from mnist_sketch.preprocess import preprocess
    from training.augment import app_view, mix_app_view

    x, _ = mnist_digits
    framed = app_view(x[:20])
    assert framed.dtype == np.uint8 and framed.shape == (20, 28, 28)
    assert all(np.abs(framed[i] / 255.0 - preprocess(x[i])).max() <= 0.5 / 255 + 1e-6 for i in range(20))
    mixed = mix_app_view(x[:400], seed=0, prob=0.5)
    changed = (mixed != x[:400]).any(axis=(1, 2)).mean()
    assert 0.35 < changed <= 0.65  # about half re-framed (a few already look exactly like the app's view)
    assert np.array_equal(mix_app_view(x[:400], seed=0, prob=0.5), mixed)


def _uniform_width(image: np.ndarray) -> float:
    """Relative spread of a uint8 digit's local stroke widths: the distance-to-background at skeleton pixels."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    inked = image > 127
    radii = ndimage.distance_transform_edt(inked)[skeletonize(inked)]
    return float(radii.std() / radii.mean())


def test_pen_redraw_gives_uniform_strokes_of_the_pens_width(mnist_digits):
    from mnist_sketch.preprocess import stroke_width
    from training.augment import mix_pen_view, pen_redraw

    x, _ = mnist_digits
    for image in x[:30]:
        thin, wide = pen_redraw(image, 2.2), pen_redraw(image, 3.4)
        assert thin.dtype == np.uint8 and thin.shape == (28, 28)
        assert stroke_width(thin / 255.0) < stroke_width(wide / 255.0)
    spread = np.median([_uniform_width(pen_redraw(image, 3.0)) for image in x[:30]])
    assert spread < np.median([_uniform_width(image) for image in x[:30]])  # a pen's width, not a scan's
    mixed = mix_pen_view(x[:400], seed=0, prob=0.25)
    assert 0.15 < (mixed != x[:400]).any(axis=(1, 2)).mean() < 0.35
    assert np.array_equal(mix_pen_view(x[:400], seed=0, prob=0.25), mixed)
    assert np.array_equal(mix_pen_view(x[:400], seed=0, prob=0.0), x[:400])


def test_fat_pen_view_fills_loops_and_is_thinned_back_to_the_apps_width(mnist_digits):
    from scipy import ndimage

    from mnist_sketch.preprocess import STROKE_WIDTH, preprocess, stroke_width
    from training.augment import fat_pen_view, mix_fat_pen_view

    def holes(image: np.ndarray) -> int:
        """Background regions not touching the border: the digit's closed loops."""
        labels, n = ndimage.label(image <= 127)
        return n - len(set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])) - {0})

    x, y = mnist_digits
    eights = x[y == 8][:40]
    fat = [fat_pen_view(image, 5.5) for image in eights]
    assert all(image.dtype == np.uint8 and image.shape == (28, 28) for image in fat)
    assert sum(map(holes, fat)) < 0.8 * sum(holes(preprocess(image) * 255) for image in eights)  # 47 of 73 here
    widths = [stroke_width(image / 255.0) for image in fat]
    assert abs(np.median(widths) - STROKE_WIDTH) < 0.6  # the app's thinning, not the fat pen's 5.5 px
    mixed = mix_fat_pen_view(x[:400], seed=1, prob=0.25)
    assert 0.15 < (mixed != x[:400]).any(axis=(1, 2)).mean() < 0.35
    assert np.array_equal(mix_fat_pen_view(x[:400], seed=0, prob=0.0), x[:400])


def test_fill_prob_fills_loops_in_that_share_of_a_batch(mnist_digits):
    import tensorflow as tf

    from training.augment import _fill_small_loops

    x, y = mnist_digits
    batch = tf.constant(x[y == 0][:200, ..., None] / 255.0, tf.float32)
    seed = tf.constant([5, 6], tf.int64)
    assert np.array_equal(_fill_small_loops(batch, seed, 0.0).numpy(), batch.numpy())
    for prob in (0.2, 0.6):
        filled = (_fill_small_loops(batch, seed, prob).numpy() != batch.numpy()).any(axis=(1, 2, 3)).mean()
        assert abs(filled - prob) < 0.1


def test_distiller_trains_only_the_student_towards_the_teachers(reader, mnist_digits):
    import keras

    from mnist_sketch.model import build_model
    from training.distill import Distiller, soften

    x, y = mnist_digits
    images, labels = x[:256, ..., None].astype(np.float32) / 255.0, np.eye(10, dtype=np.float32)[y[:256]]
    teacher = build_model()
    teacher.set_weights(reader.model.get_weights())
    teacher.trainable = False
    before = [w.copy() for w in teacher.get_weights()]
    student = build_model()
    keras.utils.set_random_seed(0)
    trainer = Distiller(student, [teacher], alpha=0.1, temperature=2.0)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    def agree() -> float:
        """Share of the images the student reads as the teacher does."""
        read = [model.predict(images, verbose=0).argmax(axis=1) for model in (student, teacher)]
        return float((read[0] == read[1]).mean())

    start = agree()
    trainer.fit(images, labels, epochs=8, batch_size=64, verbose=0)
    assert agree() > max(start, 0.7)
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    probs = teacher.predict(images[:4], verbose=0)
    soft = soften(probs, 2.0).numpy()
    assert np.allclose(soft.sum(axis=1), 1.0, atol=1e-5) and (soft.max(axis=1) <= probs.max(axis=1) + 1e-6).all()


def _overconfident(n: int, temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities whose calibrated version is softmax(logits); they are softmax(logits * T)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, 10))
    calibrated = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(10, p=p) for p in calibrated])
    sharp = np.exp(logits * temperature)
    return sharp / sharp.sum(axis=1, keepdims=True), labels


def test_fit_temperature_recovers_known_overconfidence():
    probs, labels = _overconfident(20000, temperature=2.0)
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(2.0, rel=0.05)
    fixed = apply_temperature(probs, t)
    assert expected_calibration_error(fixed, labels) < 0.02 < expected_calibration_error(probs, labels)
    assert cross_entropy(fixed, labels) < cross_entropy(probs, labels)


def test_ece_of_perfect_and_of_wrong_predictions():
    labels = np.arange(10)
    assert expected_calibration_error(np.eye(10), labels) == pytest.approx(0.0)
    assert expected_calibration_error(np.roll(np.eye(10), 1, axis=1), labels) == pytest.approx(1.0)


def test_folded_temperature_equals_scaled_probabilities(reader):
    from mnist_sketch.model import build_model

    model = build_model()
    model.set_weights(reader.model.get_weights())
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)
    before = model(x, training=False).numpy()
    fold_temperature(model, 1.7)
    assert np.allclose(model(x, training=False).numpy(), apply_temperature(before, 1.7), atol=1e-5)
