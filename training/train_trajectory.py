"""Train the path model (`mnist_sketch.trajectory`) on pen-drawn digits' strokes.

    python -m training.train_trajectory --pen-data ../shared/data/pen_digits.npz --out runs/path
    python -m training.train_trajectory --pen-data mnist-sketch/pen-digits --out model   # beside mnist.h5
    python -m training.train_trajectory --pen-data ../shared/data/pen_digits.npz --out runs/tC2 --seed 2 \
        --workers 1   # the bundled model/trajectory.h5

The digits are those of `training.train --pen-data` (a local .npz or a Hub dataset repo): the `train`
split only, a tenth of each source's writers held out to validate (`hold_out_writers`); `dev` is never
read. With --extra-data, visitors' corrections (their records keep the strokes) train it too. Every
digit reaches the model as the app would read it: placed on the pad (`on_pad`), parsed by the app's
`parse_strokes`, and turned into `path_features`; before that, each training view is written a little
differently (`distort_path`). The temperature is fitted on the held-out writers and folded into the last
layer. Writes trajectory.h5 and trajectory_metrics.json into --out (and re-renders the model card there
when --out holds the digit model's metrics.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from training.data import DataUnavailable

VIEWS = 16  # distorted views rendered per training digit before training; each epoch shows one of them
CHUNK = 400  # digits per worker task
# How `distort_path` rewrites a digit, beside `pen_digits.distort`'s turn, slant, aspect, bend, tremor and
# resampling: the chance that each stroke is drawn backwards, that the strokes come in another order, that
# a stroke is lifted halfway (split in two) or that two strokes are drawn without lifting (joined).
REVERSE_PROB = 0.1
REORDER_PROB = 0.1
SPLIT_PROB = 0.1
JOIN_PROB = 0.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_trajectory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pen-data", metavar="PATH_OR_DATASET_REPO", required=True,
                        help="pen-drawn digits: a local .npz or a Hub dataset repo such as mnist-sketch/pen-digits")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--extra-data", metavar="PATH_OR_DATASET_REPO",
                        help="visitors' corrections (a folder or a Hub dataset repo) to train on as well")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="Adam's initial rate, cosine-decayed")
    parser.add_argument("--views", type=int, default=VIEWS, help=f"views per training digit (default: {VIEWS})")
    for name in ("reverse_prob", "reorder_prob", "split_prob", "join_prob"):  # see REVERSE_PROB ...
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=globals()[name.upper()],
                            help=f"the chance of each rewriting of the strokes (default: {globals()[name.upper()]})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="processes rendering the views (default: all cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace trajectory.h5 if --out holds one")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.views < 1:
        parser.error("--epochs and --views must be at least 1")
    return args


def rewrite_strokes(strokes: list[np.ndarray], rng: np.random.Generator, reverse: float, reorder: float,
                    split: float, join: float) -> list[np.ndarray]:
    """Strokes as another pen might have drawn them: some backwards, in another order, lifted halfway
    through (split at a random point), or drawn on without lifting (one joined to the next)."""
    out = [s[::-1] if len(s) > 1 and rng.random() < reverse else s for s in strokes]
    if len(out) > 1 and rng.random() < reorder:
        out = [out[i] for i in rng.permutation(len(out))]
    if rng.random() < split:
        k = int(rng.integers(len(out)))
        if len(out[k]) >= 4:
            at = int(rng.integers(2, len(out[k]) - 1))
            out[k : k + 1] = [out[k][:at], out[k][at:]]
    if len(out) > 1 and rng.random() < join:
        k = int(rng.integers(len(out) - 1))
        out[k : k + 2] = [np.concatenate([out[k], out[k + 1]])]
    return out


def pad_features(strokes: list[np.ndarray]) -> np.ndarray:
    """A digit's features as the app computes them from the pad: (POINTS, CHANNELS) float32."""
    from mnist_sketch.strokes import parse_strokes
    from mnist_sketch.trajectory import path_features
    from training.pen_digits import on_pad

    return path_features(parse_strokes(on_pad(strokes)).strokes)


def distort_path(strokes: list[np.ndarray], rng: np.random.Generator, probs: tuple[float, float, float, float]
                 ) -> list[np.ndarray]:
    """A digit written a little differently: `pen_digits.distort`, then `rewrite_strokes` with `probs`."""
    from training.pen_digits import distort

    return rewrite_strokes(distort(strokes, rng), rng, *probs)


def _views(task: tuple[list[list[np.ndarray]], int, tuple[float, float, float, float], int]) -> np.ndarray:
    """float16 (n, views, POINTS, CHANNELS) features of a chunk of digits, from its own seed."""
    from mnist_sketch.preprocess import EmptyDrawing
    from mnist_sketch.strokes import InvalidStrokes

    digits, views, probs, seed = task
    rng = np.random.default_rng(seed)
    out = []
    for strokes in digits:
        row = []
        for _ in range(views):
            try:
                row.append(pad_features(distort_path(strokes, rng, probs)))
            except (EmptyDrawing, InvalidStrokes):  # distorted to nothing, or past the pad's limits
                row.append(pad_features(strokes))
        out.append(np.stack(row))
    return np.stack(out).astype(np.float16)


def render_views(digits: list[list[np.ndarray]], views: int, probs: tuple[float, float, float, float], seed: int,
                 workers: int | None = None) -> np.ndarray:
    """`views` distorted views of each digit's features: float16 (n, views, POINTS, CHANNELS), deterministic
    for a seed whatever `workers`."""
    from training.pen_digits import in_chunks

    return np.concatenate(in_chunks(_views, digits, (views, probs), seed, workers, CHUNK))


def correction_digits(source: str) -> tuple[list[list[np.ndarray]], np.ndarray, dict]:
    """The corrections' digits as strokes, with their labels and what the card says of them."""
    from training.corrections import REPEAT, load_corrections, summary

    corrections = load_corrections(source)
    return corrections.strokes, corrections.y, summary(corrections, REPEAT)


def run(args: argparse.Namespace) -> dict:
    """Render, train, calibrate, score and write trajectory.h5 and trajectory_metrics.json; returns the metrics."""
    from training.pen_digits import hold_out_writers, load_pen_digits

    target = args.out / "trajectory.h5"
    if target.exists() and not args.overwrite:
        raise FileExistsError(f"{target} exists: pass --overwrite to replace it, or choose another --out.")
    train = load_pen_digits(args.pen_data).split("train")
    if not len(train):
        raise DataUnavailable(f"{args.pen_data} holds no digits of the train split (split == 'train').")
    extra = correction_digits(args.extra_data) if args.extra_data else None
    held = hold_out_writers(train, seed=args.seed)
    fit, val = train.subset(~held), train.subset(held)
    digits, labels = list(fit.strokes), fit.labels
    if extra is not None:
        from training.corrections import REPEAT

        digits += [s for s in extra[0] for _ in range(REPEAT)]  # shown REPEAT times as often, as the CNN does
        labels = np.concatenate([labels, np.repeat(extra[1], REPEAT)])
    args.out.mkdir(parents=True, exist_ok=True)

    import keras

    from mnist_sketch.trajectory import CHANNELS, POINTS, build_path_model
    from training.card import PATH_METRICS, rewrite_card
    from training.calibration import (apply_temperature, cross_entropy, expected_calibration_error,
                                      fit_temperature, fold_temperature)

    keras.utils.set_random_seed(args.seed)
    probs = (args.reverse_prob, args.reorder_prob, args.split_prob, args.join_prob)
    start = time.perf_counter()
    views = render_views(digits, args.views, probs, args.seed, args.workers)
    x_val = np.stack([pad_features(s) for s in val.strokes]) if len(val) else np.zeros((0, POINTS, CHANNELS))
    render_seconds = time.perf_counter() - start
    print(f"{len(digits)} training digits x {args.views} views, {len(val)} validation digits rendered in "
          f"{render_seconds:.0f} s", flush=True)

    model = build_path_model()
    steps = args.epochs * math.ceil(len(digits) / args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(args.seed)
    history: dict[str, list[float]] = {"loss": [], "val_accuracy": []}
    start = time.perf_counter()
    for epoch in range(args.epochs):  # each epoch one random view of every digit
        x = views[np.arange(len(views)), rng.integers(args.views, size=len(views))].astype(np.float32)
        h = model.fit(x, labels, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0,
                      validation_data=(x_val, val.labels) if len(val) else None)
        history["loss"].append(round(float(h.history["loss"][-1]), 4))
        history["val_accuracy"].append(round(float(h.history.get("val_accuracy", [math.nan])[-1]), 4))
        print(f"epoch {epoch + 1}/{args.epochs}: loss {history['loss'][-1]:.4f}, "
              f"validation accuracy {history['val_accuracy'][-1]:.4f}, {time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start

    val_probs = model.predict(x_val, batch_size=1024, verbose=0) if len(val) else np.zeros((0, 10))
    temperature = fit_temperature(val_probs, val.labels) if len(val) else 1.0
    fold_temperature(model, temperature)
    calibrated = apply_temperature(val_probs, temperature)
    right = val_probs.argmax(axis=1) == val.labels
    metrics = {
        "validation_accuracy": float(right.mean()) if len(val) else None,
        "validation_accuracy_by_source": {str(d): float(right[val.datasets == d].mean())
                                          for d in sorted(np.unique(val.datasets))},
        "temperature": temperature,
        "validation_loss": cross_entropy(calibrated, val.labels) if len(val) else None,
        "ece": {"validation_before": expected_calibration_error(val_probs, val.labels),
                "validation_after": expected_calibration_error(calibrated, val.labels)} if len(val) else None,
        "pen_data": {"source": train.origin, "sha256": train.sha256, "train": fit.counts(),
                     "validation": val.counts()},
        "extra_data": extra[2] if extra is not None else None,
        "input": {"points": POINTS, "channels": CHANNELS},
        "augmentation": {"views": args.views, "reverse_prob": args.reverse_prob, "reorder_prob": args.reorder_prob,
                         "split_prob": args.split_prob, "join_prob": args.join_prob, **distortion()},
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "history": history,
        "parameters": int(model.count_params()),
        "rendering_seconds": round(render_seconds, 1),
        "training_seconds": round(seconds, 1),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    model.save(target, include_optimizer=False)
    (args.out / PATH_METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    rewrite_card(args.out)
    return metrics


def distortion() -> dict:
    """`pen_digits.distort`'s settings, as metrics.json records them."""
    from training import pen_digits as p

    return {"rotation_deg": p.ROTATION_DEG, "shear": p.SHEAR, "aspect": p.ASPECT, "bend": p.BEND,
            "noise": p.NOISE, "resample_prob": p.RESAMPLE_PROB, "resample_spacing": list(p.RESAMPLE_SPACING)}


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    try:
        metrics = run(args)
    except (DataUnavailable, FileExistsError) as exc:  # PenDataUnavailable and CorrectionsUnavailable are too
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Done: {metrics['validation_accuracy']:.2%} of the held-out writers' digits read right, "
          f"T={metrics['temperature']:.3f}, {metrics['training_seconds']:.0f} s; wrote {args.out}/trajectory.h5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
