"""How well are real pen-drawn digits read? Top-1 / top-3 accuracy on UNIPEN drawings.

Each sample of ../shared/data/unipen_dev_strokes.npz is read two ways:

- as images: rendered in the six `standard_variants` of
  ../shared/tools/render_sketch.py (the way a sketchpad or an API client
  delivers a drawing: big canvases, thin and thick brushes, off-centre, RGBA or
  white RGB), then read as the app reads an image: split into digits
  (`mnist_sketch.segment`), framed (`mnist_sketch.preprocess`), read by
  `DigitReader` with the number reader (`--number-model`), as the app reads them;
- as strokes: the pen's path, as the app's stroke pad sends it, split and
  framed from the strokes (`mnist_sketch.strokes`), read by the same reader.

A drawing read as two or more digits is wrong, and counted. Baselines printed
in the same run: the same pipeline with the model run once per drawing (no
turned views), the images read without the number reader, and a naive resize
of the whole canvas to 28x28.

    python benchmarks/sketch_accuracy.py [--model model/mnist.h5 ...] [--number-model model/numbers.h5]
                                         [--ensemble] [--record]
                                         [--every 1] [--workers 2] [--stroke-width W] [--cache]

With several --model files each is scored on the same inputs; --ensemble also
scores the mean of their probabilities. --record writes the figures of the
(one) model into its folder's metrics.json under "pen_drawn" and re-renders
the model card README.md beside it. --cache keeps the rendered inputs in
benchmarks/out/ (keyed by the code and data that made them, not by the models' code), so scoring
another model takes a minute instead of five.

UNIPEN is a measuring set only: nothing trains on it.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import pickle
import sys
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from mnist_sketch.preprocess import STROKE_WIDTH, EmptyDrawing, ink_map  # noqa: E402
from mnist_sketch.segment import Drawing, split  # noqa: E402
from mnist_sketch.strokes import PEN_WIDTH, parse_strokes  # noqa: E402

SHARED = ROOT.parent / "shared"
STROKES = SHARED / "data" / "unipen_dev_strokes.npz"
CACHE_DIR = ROOT / "benchmarks" / "out"
PAD = (900, 600)  # the stroke pad's canvas (app.CANVAS): strokes are placed on it as a visitor draws
PAD_HEIGHT = 0.6  # share of the pad's height a digit is drawn at
_data: dict | None = None
_stroke_width: float | None = None


def naive_resize(image: np.ndarray) -> np.ndarray:
    """The baseline: the whole canvas's ink, area-averaged down to (28, 28) float in [0, 1]."""
    ink = Image.fromarray(ink_map(image)).resize((28, 28), Image.Resampling.BOX)
    return np.asarray(ink, np.float32) / 255.0


def pad_value(strokes: list[np.ndarray]) -> dict:
    """A sample's strokes as the stroke pad sends them: canvas pixels, the digit PAD_HEIGHT of the pad high."""
    points = np.concatenate(strokes)
    lo, extent = points.min(axis=0), np.ptp(points, axis=0)
    scale = PAD_HEIGHT * PAD[1] / max(extent[1], extent[0] / 1.4, 1e-6)
    offset = (np.array(PAD) - extent * scale) / 2
    return {"width": PAD[0], "height": PAD[1],
            "strokes": [np.round((s - lo) * scale + offset, 1).tolist() for s in strokes]}


def _split(value) -> Drawing | EmptyDrawing:
    """The drawing split and framed as the app does it (`segment.split`), or why it reads as empty."""
    try:
        return split(value, _stroke_width)
    except EmptyDrawing as exc:
        return exc


def _prepare(i: int) -> tuple[list[tuple[str, list | EmptyDrawing, np.ndarray]], list | EmptyDrawing]:
    """Sample i -> ([(variant, its pieces, naive 28x28)], the pieces of its strokes)."""
    from render_sketch import standard_variants, strokes_of

    strokes = strokes_of(_data, i)
    images = [(name, _split(image), naive_resize(image)) for name, image in standard_variants(strokes, seed=i)]
    return images, _split(parse_strokes(pad_value(strokes)))


def _init_worker(path: str, stroke_width: float | None) -> None:
    global _data, _stroke_width
    _stroke_width = stroke_width
    sys.path.insert(0, str(SHARED / "tools"))
    with np.load(path) as z:
        _data = {k: z[k] for k in z.files}


def package_sources(module: str) -> list[Path]:
    """The source files of `module` (e.g. "mnist_sketch.segment") and of every module of the package it
    imports, directly or not (the package imports its own modules as `from mnist_sketch.x import ...`):
    the code the inputs are made with. The models' code (`predict`) is not among them, so changing how
    drawings are read keeps the cached inputs."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            tree = ast.parse(module_path(name).read_text())
            todo += [node.module for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnist_sketch.")]
    return [module_path(name) for name in sorted(seen)]


def module_path(name: str) -> Path:
    """"mnist_sketch.segment" -> ROOT/mnist_sketch/segment.py"""
    return ROOT / f"{name.replace('.', '/')}.py"


def cache_key(strokes: Path, options: str, scripts: list[Path]) -> str:
    """A hash of everything the inputs depend on: the data, the tools and code that make them, the options."""
    digest = hashlib.sha256(options.encode())
    sources = [strokes, *sorted((SHARED / "tools").glob("*.py")), *scripts, *package_sources("mnist_sketch.segment")]
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def prepare_inputs(args: argparse.Namespace, indices: list[int]) -> dict:
    """Every input the benchmark reads: {"variant", "label", "image" (pieces per drawing), "naive",
    "strokes" (pieces per sample), "strokes_label"}, made in worker processes (or loaded from the cache)."""
    key = cache_key(args.strokes, f"{args.every} {args.stroke_width}", [Path(__file__)])
    cached = CACHE_DIR / f"sketch_inputs_{key}.pickle"
    if args.cache and cached.is_file():
        print(f"inputs from the cache {cached.relative_to(ROOT)}")
        return pickle.loads(cached.read_bytes())
    with np.load(args.strokes) as z:
        labels = z["labels"]
    start = time.perf_counter()
    with Pool(args.workers, _init_worker, (str(args.strokes), args.stroke_width)) as pool:  # before TensorFlow
        prepared = pool.map(_prepare, indices, chunksize=16)
    print(f"rendering + splitting + framing {time.perf_counter() - start:.0f} s with {args.workers} workers")
    rows = [(name, labels[i], split, naive) for i, (images, _) in zip(indices, prepared)
            for name, split, naive in images]
    inputs = {
        "variant": np.array([r[0] for r in rows]),
        "label": np.array([r[1] for r in rows]),
        "image": [r[2] for r in rows],
        "naive": np.stack([r[3] for r in rows]),
        "strokes": [split for _, split in prepared],
        "strokes_label": labels[indices],
    }
    if args.cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(pickle.dumps(inputs, protocol=pickle.HIGHEST_PROTOCOL))
    return inputs


def as_probs(readings: list) -> np.ndarray:
    """(n, 10) pseudo-probabilities of single-digit readings, for top-k: a drawing read as several
    digits, or as none, gets zeros (wrong whatever k)."""
    return np.stack([r.probabilities[0] if len(r.probabilities) == 1 else np.zeros(10) for r in readings])


def hits(probs: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """(n,) bool: the true label is among the row's k most probable; a row of zeros (no one-digit
    reading) is never a hit, whatever its label."""
    best = np.argsort(probs, axis=1)[:, ::-1][:, :k]
    return (best == truth[:, None]).any(axis=1) & (probs.max(axis=1) > 0)


def topk(probs: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of rows whose true label is among the k most probable."""
    return float(hits(probs, truth, k).mean()) if len(truth) else float("nan")


def misreadings(truth: np.ndarray, probs: np.ndarray, n: int = 8) -> str:
    """The n commonest (true label -> top-1 reading) pairs of misread rows, as "4->1: 152, ..."; a row
    with no one-digit reading (a drawing read as several digits) reads "?"."""
    read = [str(d) if row.max() > 0 else "?" for d, row in zip(probs.argmax(axis=1), probs)]
    pairs = Counter(zip(truth.tolist(), read))
    return ", ".join(f"{t}->{p}: {count}" for (t, p), count in pairs.most_common(n))


def score(name: str, probs: dict[str, np.ndarray], inputs: dict[str, np.ndarray]) -> dict:
    """Print one model's figures; return them as recorded in metrics.json's "pen_drawn"."""
    variants, truth = inputs["variant"], inputs["label"]
    p_ours, p_single, p_naive, p_strokes = probs["image"], probs["image_one_view"], probs["naive"], probs["strokes"]
    print(f"\n== {name}")
    print(f"{'variant':<16} {'top-1':>7} {'top-3':>7}   {'one view top-1':>14}   "
          f"{'naive top-1':>11} {'naive top-3':>11}")
    per_variant = {}
    for variant in dict.fromkeys(variants):
        m = variants == variant
        row = (topk(p_ours[m], truth[m], 1), topk(p_ours[m], truth[m], 3), topk(p_single[m], truth[m], 1),
               topk(p_naive[m], truth[m], 1), topk(p_naive[m], truth[m], 3))
        per_variant[str(variant)] = {"top1": row[0], "top3": row[1], "top1_one_view": row[2]}
        print(f"{variant:<16} {row[0]:>7.2%} {row[1]:>7.2%}   {row[2]:>14.2%}   {row[3]:>11.2%} {row[4]:>11.2%}")
    mean = {key: float(np.mean([v[key] for v in per_variant.values()])) for key in ("top1", "top3", "top1_one_view")}
    naive = (topk(p_naive, truth, 1), topk(p_naive, truth, 3))
    print(f"{'mean':<16} {mean['top1']:>7.2%} {mean['top3']:>7.2%}   {mean['top1_one_view']:>14.2%}   "
          f"{naive[0]:>11.2%} {naive[1]:>11.2%}")
    worst = min(per_variant, key=lambda v: per_variant[v]["top1"])
    print(f"worst variant top-1: {per_variant[worst]['top1']:.2%} ({worst}); drawings read as empty: "
          f"{probs['image_empty']}, as two digits or more: {probs['image_split']}")
    alone = np.mean([topk(probs["image_alone"][variants == v], truth[variants == v], 1) for v in per_variant])
    print(f"without the number reader: mean top-1 {alone:.2%}, as two digits or more: {probs['image_alone_split']}")
    s_truth = inputs["strokes_label"]
    strokes = {"top1": topk(p_strokes, s_truth, 1), "top3": topk(p_strokes, s_truth, 3),
               "top1_one_view": topk(probs["strokes_one_view"], s_truth, 1)}
    print(f"{'strokes':<16} {strokes['top1']:>7.2%} {strokes['top3']:>7.2%}   {strokes['top1_one_view']:>14.2%}   "
          f"(the pen's path; the same {len(s_truth)} samples; read as empty: {probs['strokes_empty']}, "
          f"as two digits or more: {probs['strokes_split']})")

    from mnist_sketch.predict import UNCERTAIN_BELOW

    correct = hits(p_ours, truth, 1)
    print(f"uncertainty threshold (the app uses {UNCERTAIN_BELOW}): share marked uncertain, top-1 of the rest, "
          "top-1 and top-3 of the uncertain ones")
    for threshold in sorted({0.5, 0.6, 0.7, 0.8, 0.9, UNCERTAIN_BELOW}):
        unsure = p_ours.max(axis=1) < threshold
        print(f"  < {threshold:.2f}: {unsure.mean():6.2%} uncertain; confident {correct[~unsure].mean():.2%} right; "
              f"uncertain {correct[unsure].mean():.2%} right, {topk(p_ours[unsure], truth[unsure], 3):.2%} in top 3")
    print(f"most frequent misreadings (true->read: count): {misreadings(truth[~correct], p_ours[~correct])}")
    # Rows are sample-major (each sample's renderings in turn): a sample misread in all of them is
    # hard for the model itself, one misread in some only is hurt by a rendering.
    by_sample = correct.reshape(-1, len(per_variant))
    always = np.repeat(~by_sample.any(axis=1), len(per_variant)) & (variants == variants[0])
    print(f"samples misread in every rendering: {always.sum()} of {len(by_sample)} (as the first rendering reads "
          f"them: {misreadings(truth[always], p_ours[always])}); in some renderings only: "
          f"{int((~by_sample).any(axis=1).sum() - always.sum())}")
    return {"samples": len(s_truth), "drawings": len(truth), "variants": per_variant, "mean": mean,
            "worst_variant": worst, "strokes": strokes, "naive_top1": naive[0],
            "read_as_several_digits": {"image": probs["image_split"], "strokes": probs["strokes_split"]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, nargs="+", default=[ROOT / "model" / "mnist.h5"])
    parser.add_argument("--number-model", type=Path, default=ROOT / "model" / "numbers.h5",
                        help="the number reader the app runs beside each model on images")
    parser.add_argument("--ensemble", action="store_true", help="also score the mean of the models' probabilities")
    parser.add_argument("--record", action="store_true",
                        help="write the figures into the model's metrics.json and model card (one --model)")
    parser.add_argument("--strokes", type=Path, default=STROKES)
    parser.add_argument("--every", type=int, default=1, help="use every Nth sample (faster, less precise)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--stroke-width", type=float, default=None,
                        help="normalise images' strokes to, and draw strokes at, this width (px at 28x28) instead "
                             "of the app's (for tuning)")
    parser.add_argument("--cache", action="store_true", help="keep and reuse the rendered inputs in benchmarks/out/")
    args = parser.parse_args()
    if not args.strokes.is_file():
        print(f"error: no stroke data at {args.strokes} (see ../shared/data/README.md)", file=sys.stderr)
        return 1
    if args.record and (len(args.model) != 1 or args.ensemble or args.every != 1 or args.stroke_width):
        parser.error("--record takes one --model, every sample and the app's stroke width")

    with np.load(args.strokes) as z:
        indices = list(range(0, len(z["labels"]), args.every))
    inputs = prepare_inputs(args, indices)

    from mnist_sketch.model import load_model_file
    from mnist_sketch.number_model import load_number_model_file
    from mnist_sketch.predict import DigitReader

    widths = (f"{args.stroke_width} px" if args.stroke_width else
              f"the app's: images' strokes normalised to {STROKE_WIDTH} px, strokes drawn at {PEN_WIDTH} px")
    print(f"{len(indices)} UNIPEN samples x 6 variants = {len(inputs['label'])} drawings, and "
          f"{len(indices)} stroke drawings; widths {widths}")
    number_model = load_number_model_file(args.number_model)
    all_probs = []
    for path in args.model:
        model = load_model_file(path)
        reader = DigitReader(model, number_model=number_model)
        one_view = DigitReader(model, rotations=(0.0,), number_model=number_model)
        images, strokes = reader.choose(inputs["image"]), reader.choose(inputs["strokes"])
        alone = DigitReader(model).choose(inputs["image"])  # the baseline: no number reader
        all_probs.append({
            "image": as_probs(images), "image_one_view": as_probs(one_view.choose(inputs["image"])),
            "image_alone": as_probs(alone), "image_alone_split": sum(len(r.probabilities) > 1 for r in alone),
            "naive": reader.predict_batch(inputs["naive"]),
            "strokes": as_probs(strokes), "strokes_one_view": as_probs(one_view.choose(inputs["strokes"])),
            "image_empty": sum(r.empty for r in images), "image_split": sum(len(r.probabilities) > 1 for r in images),
            "strokes_empty": sum(r.empty for r in strokes),
            "strokes_split": sum(len(r.probabilities) > 1 for r in strokes),
        })
        if path == args.model[0]:
            print(f"views averaged: {reader.rotations} degrees; 'one view' runs the model once per drawing")
        figures = score(str(path), all_probs[-1], inputs)
    if args.ensemble:  # the mean of the models' single-digit readings
        mean = {key: np.mean([p[key] for p in all_probs], axis=0) for key in all_probs[0]}
        mean.update({key: round(float(value), 1) for key, value in mean.items() if np.ndim(value) == 0})  # counts
        score(f"ensemble of {len(args.model)}: mean of their probabilities", mean, inputs)
    if args.record:
        from training.card import record_pen_drawn

        record_pen_drawn(args.model[0].parent / "metrics.json", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
