"""Real pen-drawn digits as training data (`training.pen_digits`), on a small stroke file the tests make."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_sketch.segment import split
from mnist_sketch.strokes import parse_strokes
from training.pen_digits import (PenDataUnavailable, canvas_image, hold_out_writers, image_view, load_pen_digits,
                                 on_pad, prepare, render_views, stroke_view)


def test_the_file_loads_with_its_splits_writers_and_sources(pen, pen_file):
    assert len(pen) == 240 and pen.origin == str(pen_file) and len(pen.sha256) == 64
    assert set(pen.splits) == {"train", "dev"} and set(pen.datasets) == {"unipen", "pendigits", "uji"}
    train, dev = pen.split("train"), pen.split("dev")
    assert not set(train.writers) & set(dev.writers)  # split by writer
    assert train.counts() == {"pendigits": {"digits": 60, "writers": 3}, "uji": {"digits": 40, "writers": 2},
                              "unipen": {"digits": 60, "writers": 3}}
    assert all(s.ndim == 2 and s.shape[1] == 2 for digit in pen.strokes for s in digit)
    assert len(pen.strokes[4 * 2]) == 2 and pen.labels[8] == 4  # the examples' 4 is written in two strokes


def test_validation_writers_are_held_out_from_each_source(pen):
    train = pen.split("train")
    held = hold_out_writers(train, share=0.1, seed=3)
    assert set(train.writers[held]).isdisjoint(train.writers[~held])
    assert {str(d): len(set(train.writers[held & (train.datasets == d)])) for d in set(train.datasets)} == \
        {"unipen": 1, "pendigits": 1, "uji": 1}  # at least one writer of each source
    np.testing.assert_array_equal(held, hold_out_writers(train, share=0.1, seed=3))


def test_a_training_sample_is_the_apps_reading_of_the_same_strokes(pen):
    """The plain stroke view is what the app's reader gets from these strokes drawn on its pad (the pad's
    JSON value, parsed and split as `DigitReader.read` does), pixel for pixel."""
    for strokes in pen.strokes[::17]:
        pieces = split(parse_strokes(on_pad(strokes))).pieces
        assert len(pieces) == 1 and len(pieces[0]) == 1 and len(pieces[0][0].inputs) == 1
        app = np.rint(pieces[0][0].inputs[0] * 255.0).astype(np.uint8)
        np.testing.assert_array_equal(stroke_view(strokes), app)


def test_distorted_views_differ_but_stay_framed_and_readable(pen, reader):
    rng = np.random.default_rng(0)
    for index in range(0, 20, 2):  # writer 0's digits 0-9
        strokes, label = pen.strokes[index], int(pen.labels[index])
        views = [stroke_view(strokes, rng) for _ in range(3)] + [image_view(strokes, rng) for _ in range(3)]
        plain = stroke_view(strokes)
        for view in views:
            assert view.shape == (28, 28) and view.dtype == np.uint8 and view.max() >= 250  # full-strength ink
            rows, cols = np.flatnonzero(view.max(axis=1) > 48), np.flatnonzero(view.max(axis=0) > 48)
            assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # fitted in MNIST's 20x20 box
            assert not np.array_equal(view, plain)
        # Written differently, still the same digit: the bundled reader reads nearly all of them so.
        read = reader.predict_batch(np.stack(views) / 255.0).argmax(axis=1)
        assert (read == label).sum() >= 5, (label, read)


def test_canvas_images_are_what_clients_send(pen):
    rng = np.random.default_rng(1)
    kinds = set()
    for _ in range(40):
        image = canvas_image(pen.strokes[5], rng)
        if image.shape[2] == 4:
            kinds.add("transparent")
            assert (image[..., :3] == 0).all() and image[..., 3].max() == 255
        else:
            kinds.add("white" if np.median(image) == 255 else "dark")
    assert kinds == {"transparent", "white", "dark"}


def test_views_are_repeatable_whatever_the_worker_count(pen):
    some = pen.subset(np.arange(0, 240, 9))
    one = render_views(some, 2, 1, seed=4, workers=1)
    assert one.shape == (len(some), 3, 28, 28)
    np.testing.assert_array_equal(one, render_views(some, 2, 1, seed=4, workers=2))


def test_a_run_trains_on_train_writers_and_never_on_dev(pen):
    pen_set = prepare(pen, 2, 1, seed=0)
    assert len(pen_set.labels) + len(pen_set.val_labels) == 160  # the 160 train digits, none of the 80 dev ones
    assert pen_set.views.shape == (len(pen_set.labels), 3, 28, 28)
    assert pen_set.val_strokes.shape == pen_set.val_images.shape == (len(pen_set.val_labels), 28, 28)
    counts = [pen_set.summary[part][source] for part in ("train", "validation") for source in pen_set.summary[part]]
    assert sum(c["digits"] for c in counts) == 160 and sum(c["writers"] for c in counts) == 8  # the train writers


def test_the_training_pipeline_shows_pen_views_as_rendered(pen, mnist_digits):
    """Each epoch shows MNIST's images and `repeat` views of each pen digit, the views untouched by the
    MNIST augmentation (they are already framed as the app frames them)."""
    from training.data import Mnist
    from training.train import make_datasets

    x, y = mnist_digits
    data = Mnist(x[:300], y[:300], x[300:350], y[300:350], x[350:400], y[350:400], "0" * 64)
    pen_set = prepare(pen, 2, 1, seed=0)
    train, val = make_datasets(data, batch_size=64, augment=True, seed=0, pen=pen_set, pen_repeat=1.5)
    pool = {view.tobytes() for digit in pen_set.views for view in digit}
    shown = pen_views = 0
    for images, labels in train:
        as_uint8 = np.rint(images.numpy()[..., 0] * 255.0).astype(np.uint8)
        shown += len(as_uint8)
        pen_views += sum(image.tobytes() in pool for image in as_uint8)
    assert shown == 300 + round(1.5 * len(pen_set.labels))
    assert pen_views == round(1.5 * len(pen_set.labels))
    assert sum(len(batch[0]) for batch in val) == 50 + 2 * len(pen_set.val_labels)  # MNIST's, and the strokes + images


@pytest.mark.parametrize("source, needle", [
    ("missing.npz", "No pen data file"),
    ("not_an_npz.npz", "not an .npz archive"),
    ("wrong_keys.npz", "lacks the arrays"),
])
def test_unusable_pen_data_gives_one_clear_message(tmp_path, source, needle):
    (tmp_path / "not_an_npz.npz").write_text("hello")
    np.savez(tmp_path / "wrong_keys.npz", images=np.zeros((3, 28, 28)))
    with pytest.raises(PenDataUnavailable, match=needle):
        load_pen_digits(tmp_path / source)


def bad_pen_file(pen_file, path, **changes) -> str:
    """`pen_file`'s arrays with `changes` (name: new array, or a function of the old one), saved at `path`."""
    with np.load(pen_file) as z:
        arrays = {k: z[k] for k in z.files}
    for key, change in changes.items():
        arrays[key] = change(arrays[key]) if callable(change) else change
    np.savez(path, **arrays)
    return str(path)


def at(index, value):
    def change(array):
        array = array.copy()
        array[index] = value
        return array
    return change


BAD_PEN_FILES = {
    "float offsets": ({"stroke_offsets": lambda a: a.astype(np.float64)}, "'stroke_offsets' must be integers"),
    "a negative offset": ({"stroke_offsets": at(3, -5)}, "'stroke_offsets' must start at 0, increase"),
    "an offset past the points": ({"stroke_offsets": at(-1, 10**9)}, "end at"),
    "repeated offsets": ({"sample_offsets": lambda a: np.concatenate([[0], np.repeat(a[1:2], len(a) - 2), a[-1:]])},
                         "'sample_offsets' must start at 0, increase at each entry"),
    "NaN points": ({"points": at((5, 1), np.nan)}, "1 values that are not finite"),
    "three-column points": ({"points": lambda a: np.concatenate([a, a[:, :1]], axis=1)}, r"numbers \(n, 2\)"),
    "label 12": ({"labels": at(0, 12)}, "'labels' must be integers 0-9; got uint8 from 0 to 12"),
    "label -1": ({"labels": lambda a: at(0, -1)(a.astype(np.int8))}, "from -1 to 9"),
    "label 256": ({"labels": lambda a: at(0, 256)(a.astype(np.uint16))}, "from 0 to 256"),
    "float labels": ({"labels": lambda a: a + 0.5}, "got float64"),
    "a label per digit short": ({"writers": lambda a: a[:-1]}, "'writers' must have one entry per digit"),
    "object labels": ({"labels": lambda a: a.astype(object)}, "'labels' is an object array"),
}


@pytest.mark.parametrize("name", BAD_PEN_FILES)
def test_every_bad_pen_file_gets_one_message_naming_what_is_wrong(pen_file, tmp_path, name):
    changes, message = BAD_PEN_FILES[name]
    with pytest.raises(PenDataUnavailable, match=message):
        load_pen_digits(bad_pen_file(pen_file, tmp_path / "bad.npz", **changes))


def test_a_zip_bomb_is_refused_from_its_headers_before_anything_is_read(pen_file, tmp_path):
    """A member whose .npy header declares 8 GB of points (its data never written): refused from the headers,
    before np.load would allocate them."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 2)})
    bomb = tmp_path / "bomb.npz"
    with np.load(pen_file) as z, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for key in z.files:
            member = io.BytesIO()
            np.save(member, z[key])
            out.writestr(f"{key}.npy", header.getvalue() if key == "points"
                         else member.getvalue())
    assert bomb.stat().st_size < 200_000
    with pytest.raises(PenDataUnavailable, match=r"would take 7,6\d\d MB once read, more than the 512 MB"):
        load_pen_digits(bomb)
