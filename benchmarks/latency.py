"""Latency of reading one drawing: preprocess + predict on an 800x800 RGBA canvas, and the pad's strokes.

Prints p50 / p99 for one canvas at a time and for batches of 32, for the
app's path (`DigitReader`: a traced forward function over three views of the
drawing, and the number reader over the whole image) next to the same reader
without the number reader, with one view, and to the same preprocessing
followed by `model.predict`, in the same run. Then the pad's strokes of a digit and
of a 4-digit number, as the app reads them (with the path model, `--path-model`) and
as the reader before read them (the digit CNN alone), the two called in turn so that a drift in the
machine's speed slows both alike.

    python benchmarks/latency.py [--model model/mnist.h5] [--number-model model/numbers.h5]
                                 [--path-model model/trajectory.h5] [--repeats 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mnist_sketch.example_digits import pad_value  # noqa: E402
from mnist_sketch.model import load_model_file  # noqa: E402
from mnist_sketch.number_model import load_number_model_file  # noqa: E402
from mnist_sketch.predict import DigitReader  # noqa: E402
from mnist_sketch.preprocess import preprocess  # noqa: E402
from mnist_sketch.strokes import parse_strokes  # noqa: E402
from mnist_sketch.trajectory import load_path_model_file  # noqa: E402

BATCH = 32


def sketch_canvas() -> np.ndarray:
    """An 800x800 RGBA Sketchpad layer: a '4' in black ink, 16 px brush, on transparency."""
    layer = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    pen = ImageDraw.Draw(layer)
    for stroke in ([(480, 180), (260, 470), (590, 470)], [(500, 330), (500, 640)]):
        pen.line(stroke, fill=(0, 0, 0, 255), width=32, joint="curve")
    return np.asarray(layer)


def timed(fn: Callable[[], object], repeats: int) -> np.ndarray:
    """Milliseconds per call of `fn`, after 10 warm-up calls."""
    return timed_in_turn([fn], repeats)[0]


def timed_in_turn(fns: list[Callable[[], object]], repeats: int) -> list[np.ndarray]:
    """Milliseconds per call of each of `fns`, called in turn (one call of each, `repeats` times), after 10
    warm-up rounds: a machine whose speed drifts slows them alike."""
    for _ in range(10):
        for fn in fns:
            fn()
    out = [np.empty(repeats) for _ in fns]
    for i in range(repeats):
        for fn, times in zip(fns, out):
            start = time.perf_counter()
            fn()
            times[i] = (time.perf_counter() - start) * 1000
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "mnist.h5")
    parser.add_argument("--number-model", type=Path, default=ROOT / "model" / "numbers.h5")
    parser.add_argument("--path-model", type=Path, default=ROOT / "model" / "trajectory.h5")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()

    model = load_model_file(args.model)
    reader = DigitReader(model, number_model=load_number_model_file(args.number_model))
    digits_only, one_view = DigitReader(model), DigitReader(model, rotations=(0.0,))
    canvas = sketch_canvas()
    batch = [canvas] * BATCH

    def predict_baseline(values: list) -> np.ndarray:
        x = np.stack([preprocess(v) for v in values])[..., None]
        return model.predict(x, verbose=0)

    views = len(reader.rotations)
    cases = [  # (name, canvases per call, call)
        ("preprocess only, 1 canvas", 1, lambda: preprocess(canvas)),
        (f"DigitReader.read, 1 canvas, {views} views + number reader", 1, lambda: reader.read(canvas)),
        (f"DigitReader.read, 1 canvas, {views} views", 1, lambda: digits_only.read(canvas)),
        ("DigitReader.read, 1 canvas, 1 view", 1, lambda: one_view.read(canvas)),
        ("preprocess + model.predict, 1 canvas", 1, lambda: predict_baseline([canvas])),
        (f"DigitReader.read_many, {BATCH} canvases, {views} views + number reader", BATCH,
         lambda: reader.read_many(batch)),
        (f"DigitReader.read_many, {BATCH} canvases, {views} views", BATCH, lambda: digits_only.read_many(batch)),
        (f"preprocess + model.predict, {BATCH} canvases", BATCH, lambda: predict_baseline(batch)),
    ]
    print(f"800x800 RGBA canvas; {args.repeats} timed calls each; model {args.model}; {os.cpu_count()} CPUs")
    print(f"{'case':<66} {'p50 ms':>8} {'p99 ms':>8} {'ms/canvas':>10}")
    for name, per, fn in cases:
        report(name, timed(fn, args.repeats if per == 1 else max(30, args.repeats // 10)), per)
    # The pad's strokes, parsed as the app parses each request (its JSON value); the two readers in turn.
    fused = DigitReader(model, number_model=reader.number_model, path_model=load_path_model_file(args.path_model))
    for text in ("4", "2026"):
        value = pad_value(text)
        app, before = timed_in_turn([lambda: fused.read(parse_strokes(value)),
                                     lambda: reader.read(parse_strokes(value))], args.repeats)
        report(f"strokes '{text}', {views} views + path model (the app)", app)
        report(f"strokes '{text}', {views} views, CNN alone (before), in turn with it", before)
        p50_over = np.percentile(app, 50) - np.percentile(before, 50)
        print(f"{'':<4}the app's p50 minus the CNN alone's: {p50_over:+.2f} ms; "
              f"median of the per-round differences: {np.median(app - before):+.2f} ms")
    return 0


def report(name: str, times: np.ndarray, per: int = 1) -> None:
    """One row: p50 and p99 of `times` (ms per call), and p50 per canvas for a call of `per` canvases."""
    print(f"{name:<66} {np.percentile(times, 50):>8.2f} {np.percentile(times, 99):>8.2f} "
          f"{np.percentile(times, 50) / per:>10.2f}")


if __name__ == "__main__":
    sys.exit(main())
