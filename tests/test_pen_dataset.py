"""The pen digits as a Parquet dataset (`training.pen_dataset`, `training.push_pen_data --no-push`), on a
stroke file the tests make; the Hub side is in test_hub.py."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from datasets import ClassLabel, Dataset, Features, List, Value, load_dataset
from huggingface_hub import DatasetCard
from pen_data import write_pen_file

from training.pen_dataset import FEATURES, shard_path
from training.pen_digits import PenDataUnavailable, load_pen_digits, prepare, render_views, stroke_view
from training.push_pen_data import main as push_main


@pytest.fixture(scope="module")
def pen_file(tmp_path_factory):
    return write_pen_file(tmp_path_factory.mktemp("pen") / "pen_digits.npz", seed=2)


@pytest.fixture(scope="module")
def folder(pen_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset") / "pen-digits"
    assert push_main([str(pen_file), "user/pen-digits", "--out", str(out), "--no-push"]) == 0
    return out


def shuffled_splits(pen_file, tmp_path):
    """The stroke file with its digits' order changed so that train and dev rows alternate, as in the real file."""
    with np.load(pen_file) as z:
        data = {k: z[k] for k in z.files}
    order = np.argsort(np.random.default_rng(0).random(len(data["labels"])), kind="stable")
    starts, ends = data["sample_offsets"][:-1], data["sample_offsets"][1:]
    digits = [[data["points"][data["stroke_offsets"][k]:data["stroke_offsets"][k + 1]] for k in range(a, b)]
              for a, b in zip(starts, ends)]
    strokes = [s for i in order for s in digits[i]]
    counts = [len(digits[i]) for i in order]
    np.savez(tmp_path / "shuffled.npz", points=np.concatenate(strokes),
             stroke_offsets=np.r_[0, np.cumsum([len(s) for s in strokes])].astype(np.int64),
             sample_offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
             **{k: data[k][order] for k in ("labels", "writers", "split", "dataset", "groups", "sources")})
    return tmp_path / "shuffled.npz"


def test_the_folder_holds_two_parquet_splits_and_a_card_that_describes_them(folder):
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == \
        ["README.md", shard_path("dev"), shard_path("train")]
    card = DatasetCard.load(folder / "README.md").data
    assert card.configs == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/train-*.parquet"}, {"split": "dev", "path": "data/dev-*.parquet"}]}]
    info = card.dataset_info
    assert [(s["name"], s["num_examples"]) for s in info["splits"]] == [("train", 160), ("dev", 80)]
    assert [f["name"] for f in info["features"]] == list(FEATURES)


@pytest.mark.parametrize("how", ["folder", "parquet data_dir"])
def test_load_dataset_reads_both_splits_with_typed_features_and_pictures(folder, pen_file, how):
    loaded = load_dataset(str(folder)) if how == "folder" else load_dataset("parquet", data_dir=str(folder))
    assert sorted(loaded) == ["dev", "train"] and (len(loaded["train"]), len(loaded["dev"])) == (160, 80)
    assert loaded["train"].features == FEATURES and isinstance(loaded["train"].features["label"], ClassLabel)
    pen = load_pen_digits(pen_file).split("train")
    row = loaded["train"][9]
    assert row["label"] == pen.labels[9] and row["writer"] == pen.writers[9] and row["group"] == pen.datasets[9]
    assert [np.array(s, np.float32).tolist() for s in row["strokes"]] == [s.tolist() for s in pen.strokes[9]]
    image = row["image"]
    assert image.size == (28, 28) and image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), stroke_view(pen.strokes[9]))  # the app's reading


@pytest.mark.parametrize("order", ["train first", "splits interleaved"])
def test_parquet_and_npz_give_the_same_digits_and_training_inputs(pen_file, tmp_path, order):
    source = pen_file if order == "train first" else shuffled_splits(pen_file, tmp_path)
    assert push_main([str(source), "--out", str(tmp_path / "out"), "--no-push"]) == 0
    npz, parquet = load_pen_digits(source), load_pen_digits(tmp_path / "out")
    assert parquet.origin == str(tmp_path / "out") and len(parquet) == len(npz) == 240
    for split in ("train", "dev"):
        a, b = npz.split(split), parquet.split(split)
        for column in ("labels", "writers", "splits", "datasets"):
            np.testing.assert_array_equal(getattr(a, column), getattr(b, column))
        assert [[s.tolist() for s in d] for d in a.strokes] == [[s.tolist() for s in d] for d in b.strokes]
        assert all(s.dtype == np.float32 for d in b.strokes for s in d)
        np.testing.assert_array_equal(render_views(a, 2, 1, seed=5, workers=1), render_views(b, 2, 1, seed=5, workers=1))
    one, other = prepare(npz, 1, 1, seed=3), prepare(parquet, 1, 1, seed=3)  # what a run trains and validates on
    for name in ("views", "labels", "val_strokes", "val_images", "val_labels"):
        np.testing.assert_array_equal(getattr(one, name), getattr(other, name))
    assert (npz.sha256 == parquet.sha256) == (order == "train first")  # the digest follows the rows' order


def write_split(folder, rows: dict, features=FEATURES, split="train"):
    path = folder / shard_path(split)
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(rows, features=features).to_parquet(str(path))


def rows(**changes) -> dict:
    good = {"label": [3, 4], "strokes": [[[[0.0, 0.0], [1.0, 2.0]]], [[[0.0, 1.0], [1.0, 0.0]], [[0.5, 0.5]]]],
            "image": [None, None], "writer": ["a", "b"], "source": ["uji", "uji"], "group": ["uji", "uji"]}
    return {**good, **changes}


@pytest.mark.parametrize("change, features, needle", [
    ({}, None, None),
    ({"label": [3, -1]}, None, "labels must be digits 0-9"),
    ({"strokes": [[[[0.0, float("nan")]]], [[[0.0, 1.0]]]]}, None, "not finite"),
    ({"strokes": [[], [[[0.0, 1.0]]]]}, None, "at least one stroke"),
    ({"strokes": [[[]], [[[0.0, 1.0]]]]}, None, "at least one stroke of at least one point"),
    ({"strokes": [[[[0.0, 0.0]]] * 65, [[[0.0, 1.0]]]]}, None, "64 strokes"),
    ({"strokes": [[[[float(i), 0.0] for i in range(2001)]], [[[0.0, 1.0]]]]}, None, "2000 points"),
    ({"writer": ["", "b"]}, None, "writer and source names"),
    ({"writer": [None, "b"]}, None, r"missing \(null\)"),
    ({"strokes": [[[[0.0, 0.0, 1.0]]], [[[0.0, 1.0, 1.0]]]]},
     {"strokes": List(List(List(Value("float32"))))}, "should be"),  # points of three numbers
    ({"label": [3, 12]}, {"label": Value("int64")}, "should be"),  # a plain number, not a ClassLabel
])
def test_parquet_that_is_not_pen_data_gets_one_clear_message(tmp_path, change, features, needle):
    write_split(tmp_path, rows(**change), Features({**FEATURES, **(features or {})}))
    if needle is None:
        pen = load_pen_digits(tmp_path)
        assert len(pen) == 2 and [len(d) for d in pen.strokes] == [1, 2] and pen.labels.tolist() == [3, 4]
        return
    with pytest.raises(PenDataUnavailable, match=needle):
        load_pen_digits(tmp_path)


def test_a_folder_with_other_splits_or_no_data_says_what_it_expects(tmp_path):
    write_split(tmp_path / "other", rows(), split="validation")
    with pytest.raises(PenDataUnavailable, match=r"expected the splits train, dev, found \['validation'\]"):
        load_pen_digits(tmp_path / "other")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PenDataUnavailable, match="holds no Parquet splits.*push_pen_data --out"):
        load_pen_digits(tmp_path / "empty")
    for nothing in (tmp_path / "no-such-folder", "not a repo id", f"{tmp_path}/pen.npz/.."):
        with pytest.raises(PenDataUnavailable, match="is neither a file or folder here nor a Hub dataset repo id"):
            load_pen_digits(nothing)
    (tmp_path / "broken" / "data").mkdir(parents=True)
    (tmp_path / "broken" / shard_path("train")).write_bytes(b"PAR1 not parquet at all")
    with pytest.raises(PenDataUnavailable, match="Cannot read pen digits from the folder"):
        load_pen_digits(tmp_path / "broken")


def test_writing_refuses_a_folder_in_use_and_a_missing_file(pen_file, folder, tmp_path, capsys):
    assert push_main([str(pen_file), "--out", str(folder), "--no-push"]) == 1
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert push_main([str(tmp_path / "nothing.npz"), "--out", str(tmp_path / "x"), "--no-push"]) == 1
    assert "No pen data file" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_without_the_datasets_package_a_folder_asks_for_the_training_requirements(folder, pen_file, monkeypatch):
    monkeypatch.delitem(sys.modules, "training.pen_dataset")
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed: importing it fails
    with pytest.raises(PenDataUnavailable, match="needs the `datasets` package: pip install -r requirements-training"):
        load_pen_digits(folder)
    assert len(load_pen_digits(pen_file)) == 240  # an .npz needs no `datasets`
