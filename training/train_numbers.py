"""Train the number reader (a CTC CRNN, `mnist_sketch.number_model`) on synthetic numbers.

    python -m training.train_numbers --data ../shared/data/mnist.npz \
        --pen-data ../shared/data/pen_digits.npz --out model

Numbers are made by `training.numbers` from MNIST's training digits (the last
5,000 of them, --validation-size, make the validation numbers) and, with
--pen-data (a local .npz or a Hub dataset repo, as `training.train` takes it),
--pen-share of them from one writer's pen-drawn digits of the train split (a
tenth of each source's writers held out for the validation numbers; the dev
split is never read). The model is scored on numbers made of MNIST's test
digits, and on pen numbers of the held-out writers. Writes numbers.h5 and
numbers_metrics.json into --out, beside the digit model, and re-renders the
model card there (README.md) when --out holds the digit model's metrics.json.
The app loads only the weights (`mnist_sketch.number_model.load_number_model_file`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from training.data import VALIDATION_SIZE, DataUnavailable, load_mnist

if TYPE_CHECKING:  # TensorFlow is imported only once the data has loaded
    import tensorflow as tf

PEN_SHARE = 0.5  # with --pen-data, the share of the training numbers written with pen digits
PEN_CHECK_NUMBERS = 2000  # pen numbers of the held-out writers, scored after training


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_numbers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("MNIST_NPZ") or None,
                        help="local MNIST .npz; default: $MNIST_NPZ, else keras.datasets.mnist.load_data()")
    parser.add_argument("--out", type=Path, default=Path("model"), help="output folder (default: model/)")
    parser.add_argument("--numbers", type=int, default=600_000, help="training numbers (default: 600,000)")
    parser.add_argument("--test-numbers", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="Adam's rate for the first two epochs, halved every epoch after")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validation-size", type=int, default=VALIDATION_SIZE,
                        help="training images held out to make the validation numbers (default: 5,000)")
    parser.add_argument("--pen-data", metavar="PATH_OR_DATASET_REPO",
                        help="real pen-drawn digits (a local .npz, or a Hub dataset repo such as "
                             "mnist-sketch/pen-digits): numbers written with its train split's digits join MNIST's")
    parser.add_argument("--pen-share", type=float, default=None,
                        help=f"with --pen-data: share of the numbers written with pen digits (default: {PEN_SHARE})")
    parser.add_argument("--initial-weights", type=Path, metavar="NUMBERS_H5",
                        help="start from this number reader's weights (fine-tuning) instead of random ones")
    parser.add_argument("--overwrite", action="store_true", help="replace numbers.h5 if --out holds one")
    args = parser.parse_args(argv)
    if args.pen_share is not None and not args.pen_data:
        parser.error("--pen-share needs --pen-data")
    if args.pen_share is not None and not 0.0 <= args.pen_share <= 1.0:
        parser.error("--pen-share must be between 0 and 1")
    return args


def ctc_loss(targets, logits):
    """Keras loss: CTC of (batch, MAX_LENGTH) digit + 1 targets (0-padded) under (batch, FRAMES, 11) logits."""
    from keras import ops

    targets = ops.cast(targets, "int32")
    target_lengths = ops.sum(ops.cast(targets > 0, "int32"), axis=1)
    logit_lengths = ops.full((ops.shape(logits)[0],), ops.shape(logits)[1], dtype="int32")
    return ops.ctc_loss(targets, logits, target_lengths, logit_lengths, mask_index=0)


def batches(strips: np.ndarray, targets: np.ndarray, batch_size: int, shuffle: bool) -> tf.data.Dataset:
    """A tf.data pipeline of (batch, 32, 160, 1) float strips in [0, 1] and their targets.

    The strips stay uint8 in memory and are scaled a batch at a time: as floats,
    300,000 of them would take 6 GB, and Keras may copy what `fit` is given.
    """
    import tensorflow as tf

    x, y = tf.constant(strips), tf.constant(targets)
    order = tf.data.Dataset.range(len(strips))
    if shuffle:
        order = order.shuffle(len(strips), reshuffle_each_iteration=True)
    return order.batch(batch_size).map(
        lambda i: (tf.cast(tf.gather(x, i), tf.float32)[..., None] / 255.0, tf.gather(y, i)),
        num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def read_strips(model, strips: np.ndarray) -> list[str]:
    """uint8 strips (n, 32, 160) -> the numbers the model reads in them (greedy CTC decoding)."""
    from mnist_sketch.number_strip import strip_digits

    logits = model.predict(strips[..., None].astype(np.float32) / 255.0, batch_size=512, verbose=0)
    return ["".join(str(int(d.probabilities.argmax())) for d in strip_digits(row)) for row in logits]


def read_exactly(model, strips: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(n,) bool: whether the model reads each number of `strips` (with CTC `targets`) exactly."""
    from training.numbers import texts

    return np.array([r == t for r, t in zip(read_strips(model, strips), texts(targets))])


def run(args: argparse.Namespace) -> dict:
    """Synthesize, train, score and write numbers.h5 and numbers_metrics.json; returns the metrics."""
    target = args.out / "numbers.h5"
    if target.exists() and not args.overwrite:
        raise FileExistsError(f"{target} exists: pass --overwrite to replace it, or choose another --out.")
    data = load_mnist(args.data, args.validation_size)  # fails fast, before TensorFlow is imported
    pen_train = pen_val = None
    if args.pen_data:
        from training.pen_digits import hold_out_writers, load_pen_digits

        train = load_pen_digits(args.pen_data).split("train")
        held = hold_out_writers(train, seed=args.seed)
        pen_train, pen_val = train.subset(~held), train.subset(held)
    args.out.mkdir(parents=True, exist_ok=True)

    import keras

    from mnist_sketch.number_model import build_number_model, load_number_model_file
    from training.card import NUMBERS_METRICS, rewrite_card
    from training.numbers import recipe, synthesize, texts

    keras.utils.set_random_seed(args.seed)
    start = time.time()
    share = (PEN_SHARE if args.pen_share is None else args.pen_share) if pen_train is not None else 0.0
    x, y = synthesize(data.x_train, data.y_train, args.numbers, seed=args.seed, pen=pen_train, pen_share=share)
    x_val, y_val = synthesize(data.x_val, data.y_val, args.test_numbers // 2, seed=args.seed + 1000, pen=pen_val,
                              pen_share=share)
    x_test, y_test = synthesize(data.x_test, data.y_test, args.test_numbers, seed=args.seed + 2000)
    if pen_val is not None:
        x_pen, y_pen = synthesize(data.x_val, data.y_val, PEN_CHECK_NUMBERS, seed=args.seed + 3000, pen=pen_val,
                                  pen_share=1.0)
    print(f"Synthesized {len(x)} training, {len(x_val)} validation and {len(x_test)} test numbers "
          f"({share:.0%} of training and validation written with pen digits) in {time.time() - start:.0f} s",
          flush=True)

    # Weights only, as the app loads them: a wrong or corrupt file fails here with ModelFileError's message.
    model = load_number_model_file(args.initial_weights) if args.initial_weights else build_number_model()
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=ctc_loss)
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: args.learning_rate * 0.5 ** max(0, epoch - 1))
    start = time.time()
    history = model.fit(batches(x, y, args.batch_size, shuffle=True), epochs=args.epochs,
                        validation_data=batches(x_val, y_val, args.batch_size, shuffle=False),
                        callbacks=[schedule], verbose=2)
    seconds = time.time() - start

    right = read_exactly(model, x_test, y_test)
    lengths = np.array([len(t) for t in texts(y_test)])
    metrics = {
        "test_exact": float(right.mean()),
        "test_exact_by_length": {str(n): float(right[lengths == n].mean()) for n in np.unique(lengths)},
        "test_numbers": len(x_test),
        "train_numbers": len(x),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "initial_weights": str(args.initial_weights) if args.initial_weights else None,
        "val_loss": [round(float(v), 4) for v in history.history["val_loss"]],
        "synthesis": recipe(),
        "data_sha256": data.sha256,
        "pen_data": {"source": pen_train.origin, "sha256": pen_train.sha256, "share": share,
                     "train": pen_train.counts(), "validation": pen_val.counts(),
                     "validation_exact": float(read_exactly(model, x_pen, y_pen).mean()),
                     "validation_numbers": len(x_pen)} if pen_train is not None else None,
        "parameters": int(model.count_params()),
        "training_seconds": round(seconds, 1),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    model.save(target, include_optimizer=False)
    (args.out / NUMBERS_METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    rewrite_card(args.out)  # beside a digit model: its card gains the number reader's section
    return metrics


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    from mnist_sketch.model import ModelFileError  # imports Keras: after the arguments are checked

    try:
        metrics = run(args)
    except (DataUnavailable, FileExistsError, ModelFileError) as exc:  # PenDataUnavailable is a DataUnavailable
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Done: {metrics['test_exact']:.2%} of {metrics['test_numbers']} test numbers read exactly, "
          f"{metrics['training_seconds']:.0f} s; wrote {args.out}/numbers.h5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
