"""How well are real pen-drawn digits read? Top-1 / top-3 accuracy on UNIPEN renderings.

Renders every sample of ../shared/data/unipen_dev_strokes.npz in the six
`standard_variants` of ../shared/tools/render_sketch.py (the way a sketchpad
delivers drawings: big canvases, thin and thick brushes, off-centre, RGBA or
white RGB), reads each with the app's full pipeline (`mnist_sketch.preprocess`
+ `DigitReader`), and prints the accuracy per variant and overall, next to two
baselines in the same run: the same pipeline with the model run once per drawing
(no turned views), and a naive resize of the whole canvas to 28x28.

    python benchmarks/sketch_accuracy.py [--model model/mnist.h5] [--every 1] [--workers 2] [--stroke-width W]

UNIPEN is a measuring set only: nothing trains on it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mnist_sketch.preprocess import STROKE_WIDTH, EmptyDrawing, ink_map, preprocess  # noqa: E402

SHARED = ROOT.parent / "shared"
STROKES = SHARED / "data" / "unipen_dev_strokes.npz"
_data: dict | None = None
_stroke_width = STROKE_WIDTH


def naive_resize(image: np.ndarray) -> np.ndarray:
    """The baseline: the whole canvas's ink, area-averaged down to (28, 28) float in [0, 1]."""
    ink = Image.fromarray(ink_map(image)).resize((28, 28), Image.Resampling.BOX)
    return np.asarray(ink, np.float32) / 255.0


def _render_and_prepare(i: int) -> list[tuple[str, np.ndarray | None, np.ndarray]]:
    """Sample i -> [(variant, pipeline 28x28 or None if read as empty, naive 28x28)]."""
    from render_sketch import standard_variants, strokes_of

    out = []
    for name, image in standard_variants(strokes_of(_data, i), seed=i):
        try:
            prepared = preprocess(image, _stroke_width)
        except EmptyDrawing:
            prepared = None
        out.append((name, prepared, naive_resize(image)))
    return out


def _init_worker(path: str, stroke_width: float) -> None:
    global _data, _stroke_width
    _stroke_width = stroke_width
    sys.path.insert(0, str(SHARED / "tools"))
    with np.load(path) as z:
        _data = {k: z[k] for k in z.files}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "mnist.h5")
    parser.add_argument("--strokes", type=Path, default=STROKES)
    parser.add_argument("--every", type=int, default=1, help="use every Nth sample (faster, less precise)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--stroke-width", type=float, default=STROKE_WIDTH,
                        help="normalise strokes to this width (px at 28x28) instead of the app's (for tuning)")
    args = parser.parse_args()
    if not args.strokes.is_file():
        print(f"error: no stroke data at {args.strokes} (see ../shared/data/README.md)", file=sys.stderr)
        return 1

    with np.load(args.strokes) as z:
        labels = z["labels"]
    indices = list(range(0, len(labels), args.every))
    start = time.perf_counter()
    with Pool(args.workers, _init_worker, (str(args.strokes), args.stroke_width)) as pool:  # before TensorFlow is imported
        rendered = pool.map(_render_and_prepare, indices, chunksize=16)
    prep_seconds = time.perf_counter() - start

    from mnist_sketch.model import load_model_file
    from mnist_sketch.predict import UNCERTAIN_BELOW, DigitReader

    model = load_model_file(args.model)
    reader, single_view = DigitReader(model), DigitReader(model, rotations=(0.0,))
    names, truth, ours, naive, empty = [], [], [], [], 0
    for i, variants in zip(indices, rendered):
        for name, prepared, baseline in variants:
            names.append(name)
            truth.append(labels[i])
            empty += prepared is None
            ours.append(np.zeros((28, 28), np.float32) if prepared is None else prepared)
            naive.append(baseline)
    names, truth = np.array(names), np.array(truth)
    p_ours, p_naive = reader.predict_batch(np.stack(ours)), reader.predict_batch(np.stack(naive))
    p_single = single_view.predict_batch(np.stack(ours))

    def topk(probs: np.ndarray, mask: np.ndarray, k: int) -> float:
        best = np.argsort(probs[mask], axis=1)[:, ::-1][:, :k]
        return float((best == truth[mask, None]).any(axis=1).mean())

    print(f"{len(indices)} UNIPEN samples x 6 variants = {len(truth)} drawings; model {args.model}; "
          f"strokes normalised to {args.stroke_width} px; rendering + preprocessing {prep_seconds:.0f} s "
          f"with {args.workers} workers")
    print(f"views averaged: {reader.rotations} degrees; 'one view' runs the model once per drawing")
    print(f"{'variant':<16} {'top-1':>7} {'top-3':>7}   {'one view top-1':>14}   {'naive top-1':>11} {'naive top-3':>11}")
    rows = defaultdict(list)
    for name in dict.fromkeys(names):
        m = names == name
        row = (topk(p_ours, m, 1), topk(p_ours, m, 3), topk(p_single, m, 1), topk(p_naive, m, 1), topk(p_naive, m, 3))
        rows["mean"].append(row)
        print(f"{name:<16} {row[0]:>7.2%} {row[1]:>7.2%}   {row[2]:>14.2%}   {row[3]:>11.2%} {row[4]:>11.2%}")
    mean = np.mean(rows["mean"], axis=0)
    print(f"{'mean':<16} {mean[0]:>7.2%} {mean[1]:>7.2%}   {mean[2]:>14.2%}   {mean[3]:>11.2%} {mean[4]:>11.2%}")
    print(f"worst variant top-1: {min(r[0] for r in rows['mean']):.2%}; drawings read as empty: {empty}")

    correct = p_ours.argmax(axis=1) == truth
    print(f"uncertainty threshold (the app uses {UNCERTAIN_BELOW}): share marked uncertain, top-1 of the rest, "
          "top-1 and top-3 of the uncertain ones")
    for threshold in sorted({0.5, 0.6, 0.7, 0.8, 0.9, UNCERTAIN_BELOW}):
        unsure = p_ours.max(axis=1) < threshold
        print(f"  < {threshold:.2f}: {unsure.mean():6.2%} uncertain; confident {correct[~unsure].mean():.2%} right; "
              f"uncertain {correct[unsure].mean():.2%} right, {topk(p_ours, unsure, 3):.2%} in top 3")
    confusions = defaultdict(int)
    for t, p in zip(truth[~correct], p_ours[~correct].argmax(axis=1)):
        confusions[(int(t), int(p))] += 1
    worst = sorted(confusions.items(), key=lambda kv: -kv[1])[:8]
    print("most frequent misreadings (true->read: count): " + ", ".join(f"{t}->{p}: {n}" for (t, p), n in worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
