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
