"""The path model: its features, its training, its fusion with the CNN in DigitReader, and its fallback."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from drawing import draw_digit

from mnist_sketch import model_source
from mnist_sketch.example_digits import pad_value
from mnist_sketch.model_source import ModelSource, bundled_source, load_path_model
from mnist_sketch.predict import CHUNK, DigitReader, fuse
from mnist_sketch.segment import split
from mnist_sketch.strokes import parse_strokes
from mnist_sketch.trajectory import CHANNELS, POINTS, path_features
from training.pen_digits import on_pad
from training.train_trajectory import pad_features, rewrite_strokes


@pytest.fixture(scope="module")
def trained(pen_file, tmp_path_factory, reader):
    """A small path model trained on the made-up writers' train split and two visitors' corrections:
    (folder, its metrics)."""
    from space.feedback import SAVED, FeedbackStore, ReadDrawing
    from training.train_trajectory import main

    store = FeedbackStore(tmp_path_factory.mktemp("corrections"))
    for drawn, answer in (("7", "1"), ("42", "47")):
        strokes = parse_strokes(pad_value(drawn))
        assert store.save("a", ReadDrawing.of(strokes, reader.read(strokes)), answer, bundled_source()) == SAVED
    out = tmp_path_factory.mktemp("path-run")
    assert main(["--pen-data", str(pen_file), "--out", str(out), "--epochs", "12", "--views", "4",
                 "--workers", "1", "--seed", "3", "--extra-data", str(store.folder)]) == 0
    return out, json.loads((out / "trajectory_metrics.json").read_text())


@pytest.fixture(scope="module")
def path_model(trained):
    from mnist_sketch.trajectory import load_path_model_file

    return load_path_model_file(trained[0] / "trajectory.h5")


def test_a_training_sample_has_the_features_the_app_reads(pen):
    """Training's features of a digit are those the reader computes from the same strokes on the pad: the
    pad's JSON value parsed and split as `DigitReader.read` does, the option's own strokes."""
    for strokes in pen.strokes[::13]:
        pieces = split(parse_strokes(on_pad(strokes))).pieces
        assert len(pieces) == 1 and len(pieces[0]) == 1
        digit, = pieces[0][0].strokes
        np.testing.assert_array_equal(pad_features(strokes), path_features(digit))


def test_features_follow_the_path_in_the_digits_box():
    four = [np.array([[62.0, 0], [8, 68], [95, 68]]), np.array([[68.0, 30], [68, 100]])]  # two strokes
    features = path_features(four)
    assert features.shape == (POINTS, CHANNELS) and features.dtype == np.float32
    assert np.abs(features[:, :2]).max() <= 1.0 + 1e-6 and features[:, 1].max() == pytest.approx(1.0)
    np.testing.assert_allclose(features[[0, -1], :2], [[(62 - 51.5) / 50, -1.0], [(68 - 51.5) / 50, 1.0]], atol=1e-6)
    np.testing.assert_allclose(np.hypot(features[:, 2], features[:, 3]), 1.0, atol=1e-6)  # unit directions
    pen = features[:, 4]
    assert set(pen) == {0.0, 1.0} and pen[0] == pen[-1] == 1.0
    assert np.count_nonzero(np.diff(pen)) == 2  # down, lifted once between the strokes, down again
    # The same drawing bigger, elsewhere: the same features.
    np.testing.assert_allclose(path_features([s * 3.5 + 200 for s in four]), features, atol=1e-5)
    # Drawn the other way round, it is another path.
    assert not np.allclose(path_features([s[::-1] for s in four[::-1]]), features)


def test_a_dot_and_a_repeated_point_have_features():
    dot = path_features([np.array([[5.0, 5.0]])])
    assert dot.shape == (POINTS, CHANNELS) and np.all(dot[:, 4] == 1.0) and not dot[:, 2:4].any()
    line = path_features([np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0]])])
    assert np.isfinite(line).all() and np.allclose(line[:, 2], 1.0)


def test_rewritten_strokes_keep_the_ink():
    rng = np.random.default_rng(0)
    strokes = [np.arange(20.0).reshape(10, 2), np.arange(20.0, 40.0).reshape(10, 2)]
    ink = np.sort(np.concatenate(strokes), axis=0)
    for _ in range(20):
        out = rewrite_strokes(strokes, rng, 0.5, 0.5, 0.5, 0.5)
        np.testing.assert_array_equal(np.sort(np.concatenate(out), axis=0), ink)
    assert len(rewrite_strokes(strokes, rng, 0, 0, 1.0, 0)) == 3
    assert len(rewrite_strokes(strokes, rng, 0, 0, 0, 1.0)) == 1
    np.testing.assert_array_equal(rewrite_strokes(strokes, rng, 1.0, 0, 0, 0)[0], strokes[0][::-1])


def test_fuse_weighs_the_two_readings():
    cnn, path = np.array([[0.7, 0.2, 0.1]]), np.array([[0.1, 0.8, 0.1]])
    np.testing.assert_allclose(fuse(cnn, path, 0.0), cnn)
    np.testing.assert_allclose(fuse(cnn, path, 1.0), path)
    half = fuse(cnn, path, 0.5)
    np.testing.assert_allclose(half, np.sqrt(cnn * path) / np.sqrt(cnn * path).sum())  # sums to 1
    assert half.argmax() == 1  # the surer of the two on its digit wins


@pytest.mark.training
def test_a_small_path_model_trained_here_reads_unseen_writers(trained, path_model, pen, reader):
    out, metrics = trained
    assert metrics["validation_accuracy"] >= 0.8 and metrics["temperature"] > 0
    assert set(metrics["pen_data"]["train"]) == {"unipen", "pendigits", "uji"}
    assert metrics["extra_data"]["records"] == 2 and metrics["extra_data"]["digits"] == 3  # "1", "4", "7"
    dev = pen.split("dev")  # writers the run never saw (it reads the train split only)
    alone = DigitReader(reader.model, path_model=path_model, path_weight=1.0)
    readings = alone.read_many([parse_strokes(on_pad(s)) for s in dev.strokes])
    right = np.mean([r.text == str(label) for r, label in zip(readings, dev.labels)])
    assert right >= 0.9, right


@pytest.mark.training
def test_a_run_beside_a_digit_model_gets_its_card_section(trained, tmp_path):
    import shutil

    from training.card import PATH_METRICS, rewrite_card

    out, metrics = trained
    for name in ("mnist.h5", "metrics.json"):
        shutil.copy(model_source.BUNDLED_DIR / name, tmp_path / name)
    shutil.copy(out / PATH_METRICS, tmp_path / PATH_METRICS)
    rewrite_card(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert f"`trajectory.h5` ({metrics['parameters']:,} weights" in card
    for name, row in metrics["pen_data"]["train"].items():  # the training data, by source
        held = metrics["pen_data"]["validation"][name]
        assert f"| {name} | {row['digits']:,} | {row['writers']} | {held['digits']:,} | {held['writers']} |" in card


@pytest.mark.training
def test_the_reader_fuses_stroke_digits_and_numbers_but_not_images(path_model, reader):
    fused = DigitReader(reader.model, number_model=reader.number_model, path_model=path_model)
    value = parse_strokes(pad_value("2047"))
    reading, before = fused.read(value), reader.read(value)
    assert reading.text == "2047" and len(reading.inputs) == 4
    digits = [d for piece in split(value).pieces for d in piece[0].strokes]
    expected = fuse(reader.predict_batch(np.stack([i for p in split(value).pieces for i in p[0].inputs])),
                    fused.path_probs(np.stack([path_features(d) for d in digits])))
    np.testing.assert_allclose(np.stack(reading.probabilities), expected, atol=1e-5)
    assert not np.allclose(np.stack(reading.probabilities), np.stack(before.probabilities))
    image = draw_digit(4)  # an image has no path: read as before
    np.testing.assert_array_equal(fused.read(image).probabilities[0], reader.read(image).probabilities[0])


def test_images_and_paths_read_together_as_apart(path_model, reader):
    fused = DigitReader(reader.model, path_model=path_model)
    rng = np.random.default_rng(0)
    images = rng.random((5, 28, 28), np.float32)
    paths = np.stack([path_features([rng.random((9, 2))]) for _ in range(3)])
    for n, m in ((5, 3), (1, 1), (5, 0), (0, 3), (CHUNK + 1, 3)):  # one call, and the cases read apart
        x = np.resize(images, (n, 28, 28))
        cnn, path = fused.predict_with_paths(x, paths[:m])
        np.testing.assert_allclose(cnn, fused.predict_batch(x), atol=1e-5)
        np.testing.assert_allclose(path, fused.path_probs(paths[:m]), atol=1e-5)
        assert cnn.shape == (n, 10) and path.shape == (m, 10)


def test_without_a_path_model_the_reader_reads_as_before_and_says_so_once(tmp_path, monkeypatch, caplog, reader):
    (tmp_path / "trajectory.h5").write_bytes(b"not an HDF5 file\n")  # the bundled file, corrupt
    monkeypatch.setattr(model_source, "BUNDLED_DIR", tmp_path)
    missing = ModelSource(tmp_path / "mnist.h5", "local", path_model_path=tmp_path / "nowhere" / "trajectory.h5")
    for source in (missing, bundled_source()):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mnist_sketch.model_source"):
            assert load_path_model(source) is None
        assert len(caplog.records) == 1, caplog.text
        line = caplog.records[0].getMessage()
        assert "No path model could be loaded" in line and "read by the digit CNN alone" in line
        assert str(tmp_path / "trajectory.h5") in line and "Traceback" not in caplog.text
    value = parse_strokes(pad_value("4"))
    plain = DigitReader(reader.model, number_model=reader.number_model, path_model=None)
    np.testing.assert_array_equal(plain.read(value).probabilities[0], reader.read(value).probabilities[0])


def test_the_bundled_path_model_loads_beside_any_source(caplog):
    with caplog.at_level(logging.WARNING):
        assert load_path_model(bundled_source()) is not None
        assert load_path_model(ModelSource(bundled_source().path, "local")) is not None  # none beside: bundled
    assert not caplog.records
