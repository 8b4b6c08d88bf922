"""How well are real pen-drawn digits read? Top-1 / top-3 accuracy on the dev writers of three sources.

Each sample of the dev split of ../shared/data/pen_digits.npz (6,248 digits of
68 writers, from UNIPEN, UCI pendigits and UJI Pen Characters; nothing trains on
them) is read two ways:

- as images: rendered in the six `standard_variants` of
  ../shared/tools/render_sketch.py (the way a sketchpad or an API client
  delivers a drawing: big canvases, thin and thick brushes, off-centre, RGBA or
  white RGB), then read as the app reads an image: split into digits
  (`mnist_sketch.segment`), framed (`mnist_sketch.preprocess`), read by
  `DigitReader` with the number reader (`--number-model`), as the app reads them;
- as strokes: the pen's path, as the app's stroke pad sends it (`training.pen_digits.on_pad`),
  split and framed from the strokes (`mnist_sketch.strokes`), read by the same reader; and, with the
  path model (`--path-model`, default model/trajectory.h5), read by it alone and fused with the CNN
  as the app reads the pad (`DigitReader(path_model=...)`), beside the CNN alone, the reader before.

Figures are given per source dataset and over all dev digits. A drawing read as
two or more digits is wrong, and counted. Baselines printed in the same run: the
same pipeline with the model run once per drawing (no turned views), the images
read without the number reader, and a naive resize of the whole canvas to 28x28;
with several --model files (e.g. the previous bundled model), a table puts them
side by side.

    python benchmarks/sketch_accuracy.py [--model model/mnist.h5 ...] [--number-model model/numbers.h5]
                                         [--path-model model/trajectory.h5] [--path-weights 0.3 0.5 ...]
                                         [--ensemble] [--record] [--strokes-only]
                                         [--every 1] [--workers 2] [--stroke-width W] [--cache]

With several --model files each is scored on the same inputs; --ensemble also
scores the mean of their probabilities. --record writes the figures of the
(one) model into its folder's metrics.json under "pen_drawn" and re-renders
the model card README.md beside it, and the stroke figures of the CNN alone, the path model alone and
fused into the path model's trajectory_metrics.json (its section of the card); with --strokes-only
(the images are neither rendered nor read) only the latter. --path-weights scores other weights of the
fusion (`predict.PATH_WEIGHT`) on the strokes. --cache keeps the rendered inputs in
benchmarks/out/ (keyed by the code and data that made them, not by the models' code), so scoring
another model takes a minute instead of ten. `--strokes` takes another stroke file: without a
`split` column all its samples are read (e.g. unipen_dev_strokes.npz, for earlier figures).

The dev split is a measuring set only: nothing trains on it.
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
from training import pen_digits  # noqa: E402
from training.pen_digits import on_pad  # noqa: E402

SHARED = ROOT.parent / "shared"
STROKES = SHARED / "data" / "pen_digits.npz"
SPLIT = "dev"
CACHE_DIR = ROOT / "benchmarks" / "out"
_data: dict | None = None
_stroke_width: float | None = None
_strokes_only = False


def naive_resize(image: np.ndarray) -> np.ndarray:
    """The baseline: the whole canvas's ink, area-averaged down to (28, 28) float in [0, 1]."""
    ink = Image.fromarray(ink_map(image)).resize((28, 28), Image.Resampling.BOX)
    return np.asarray(ink, np.float32) / 255.0


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
    images = [] if _strokes_only else [(name, _split(image), naive_resize(image))
                                       for name, image in standard_variants(strokes, seed=i)]
    return images, _split(parse_strokes(on_pad(strokes)))


def _init_worker(path: str, stroke_width: float | None, strokes_only: bool) -> None:
    global _data, _stroke_width, _strokes_only
    _stroke_width, _strokes_only = stroke_width, strokes_only
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
    sources = [strokes, *sorted((SHARED / "tools").glob("*.py")), *scripts, Path(pen_digits.__file__),
               *package_sources("mnist_sketch.segment")]
    for path in sources:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def dev_samples(path: Path, every: int = 1) -> tuple[np.ndarray, np.ndarray, str]:
    """The indices of the measured samples of a stroke file (its SPLIT rows, or all when it has no split
    column), every `every`th of them; each one's source dataset ("unipen" when the file does not say); and
    a description of them."""
    with np.load(path) as z:
        count = len(z["labels"])
        has_split = "split" in z.files
        chosen = np.flatnonzero(z["split"] == SPLIT) if has_split else np.arange(count)
        datasets = z["dataset"] if "dataset" in z.files else np.full(count, "unipen")
    chosen = chosen[::every]
    return chosen, datasets[chosen].astype(str), f"{path.name}, {SPLIT} split" if has_split else path.name


def prepare_inputs(args: argparse.Namespace, indices: np.ndarray, sources: np.ndarray) -> dict:
    """Every input the benchmark reads: {"variant", "label", "source", "image" (pieces per drawing), "naive",
    "strokes" (pieces per sample), "strokes_label", "strokes_source"}, made in worker processes (or loaded
    from the cache)."""
    key = cache_key(args.strokes, f"{args.every} {args.stroke_width} {SPLIT} {args.strokes_only}", [Path(__file__)])
    cached = CACHE_DIR / f"sketch_inputs_{key}.pickle"
    if args.cache and cached.is_file():
        print(f"inputs from the cache {cached.relative_to(ROOT)}")
        return pickle.loads(cached.read_bytes())
    with np.load(args.strokes) as z:
        labels = z["labels"]
    start = time.perf_counter()
    # Worker processes are started before TensorFlow is imported.
    with Pool(args.workers, _init_worker, (str(args.strokes), args.stroke_width, args.strokes_only)) as pool:
        prepared = pool.map(_prepare, indices.tolist(), chunksize=16)
    print(f"rendering + splitting + framing {time.perf_counter() - start:.0f} s with {args.workers} workers")
    rows = [(name, labels[i], source, split, naive) for i, source, (images, _) in zip(indices, sources, prepared)
            for name, split, naive in images]
    inputs = {
        "variant": np.array([r[0] for r in rows]),
        "label": np.array([r[1] for r in rows]),
        "source": np.array([r[2] for r in rows]),
        "image": [r[3] for r in rows],
        "naive": np.stack([r[4] for r in rows]) if rows else np.zeros((0, 28, 28), np.float32),
        "strokes": [split for _, split in prepared],
        "strokes_label": labels[indices],
        "strokes_source": sources,
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


def accuracies(probs: dict[str, np.ndarray], inputs: dict, source: str | None = None) -> dict:
    """Top-1 and top-3 of one source's drawings (all sources when None): per rendering, their mean and
    worst, and of the strokes; each top-1 also with one view ("top1_one_view")."""
    images = np.ones(len(inputs["label"]), bool) if source is None else inputs["source"] == source
    strokes = np.ones(len(inputs["strokes_label"]), bool) if source is None else inputs["strokes_source"] == source

    def rates(p: np.ndarray, one_view: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        return {"top1": topk(p, truth, 1), "top3": topk(p, truth, 3), "top1_one_view": topk(one_view, truth, 1)}

    variants = {}
    for variant in dict.fromkeys(inputs["variant"]):
        m = images & (inputs["variant"] == variant)
        variants[str(variant)] = rates(probs["image"][m], probs["image_one_view"][m], inputs["label"][m])
    mean = {key: float(np.mean([v[key] for v in variants.values()])) for key in ("top1", "top3", "top1_one_view")}
    return {"samples": int(strokes.sum()), "variants": variants, "mean": mean,
            "worst_variant": min(variants, key=lambda v: variants[v]["top1"]),
            "strokes": rates(probs["strokes"][strokes], probs["strokes_one_view"][strokes],
                             inputs["strokes_label"][strokes])}


def print_table(name: str, figures: dict) -> None:
    """One model's top-1 per source: strokes, each rendering, their mean and worst (top-3 and one view beside)."""
    variants = list(figures["variants"])
    print(f"\n== {name}: top-1 (top-3, one view), strokes and images")
    print(f"{'source':<10} {'samples':>7}  {'strokes':>24}  " + " ".join(f"{v[:12]:>12}" for v in variants)
          + f"  {'images mean':>24} {'worst':>7}")
    for source, row in [*figures["sources"].items(), ("all", figures)]:
        s, m = row["strokes"], row["mean"]
        cells = " ".join(f"{row['variants'][v]['top1']:>12.2%}" for v in variants)
        print(f"{source:<10} {row['samples']:>7}  {s['top1']:>7.2%} ({s['top3']:.2%}, {s['top1_one_view']:.2%})  "
              f"{cells}  {m['top1']:>7.2%} ({m['top3']:.2%}, {m['top1_one_view']:.2%}) "
              f"{row['variants'][row['worst_variant']]['top1']:>7.2%}")


def uncertainty(probs: np.ndarray, truth: np.ndarray, what: str) -> np.ndarray:
    """Print, for thresholds around the app's UNCERTAIN_BELOW, how many readings (n, 10) it marks uncertain
    and how often those and the rest are right; return which readings are right (top-1)."""
    from mnist_sketch.predict import UNCERTAIN_BELOW

    correct = hits(probs, truth, 1)
    print(f"uncertainty threshold{what} (the app uses {UNCERTAIN_BELOW}): share marked uncertain, top-1 of the "
          "rest, top-1 and top-3 of the uncertain ones")
    for threshold in sorted({0.5, 0.6, 0.7, 0.8, 0.9, UNCERTAIN_BELOW}):
        unsure = probs.max(axis=1) < threshold
        print(f"  < {threshold:.2f}: {unsure.mean():6.2%} uncertain; confident {correct[~unsure].mean():.2%} right; "
              f"uncertain {correct[unsure].mean():.2%} right, {topk(probs[unsure], truth[unsure], 3):.2%} in top 3")
    return correct


def score(name: str, probs: dict[str, np.ndarray], inputs: dict, writers: dict[str, int], data: str) -> dict:
    """Print one model's figures; return them as recorded in metrics.json's "pen_drawn" (`data` names the
    samples measured)."""
    variants, truth, p_ours, p_naive = inputs["variant"], inputs["label"], probs["image"], probs["naive"]
    figures = accuracies(probs, inputs)
    figures["sources"] = {source: {**accuracies(probs, inputs, source), "writers": writers[source]}
                          for source in sorted(set(inputs["strokes_source"]))}
    print_table(name, figures)
    naive = (topk(p_naive, truth, 1), topk(p_naive, truth, 3))
    print(f"naive resize of the canvas (all sources): top-1 {naive[0]:.2%}, top-3 {naive[1]:.2%}; "
          f"drawings read as empty: {probs['image_empty']}, as two digits or more: {probs['image_split']}; "
          f"strokes read as empty: {probs['strokes_empty']}, as two digits or more: {probs['strokes_split']}")
    alone = np.mean([topk(probs["image_alone"][variants == v], truth[variants == v], 1) for v in figures["variants"]])
    print(f"images without the number reader: mean top-1 {alone:.2%}, as two digits or more: "
          f"{probs['image_alone_split']}")

    correct = uncertainty(p_ours, truth, "")
    print(f"most frequent misreadings (true->read: count): {misreadings(truth[~correct], p_ours[~correct])}")
    s_correct = hits(probs["strokes"], inputs["strokes_label"], 1)
    print("strokes' misreadings: " + misreadings(inputs["strokes_label"][~s_correct], probs["strokes"][~s_correct]))
    # Rows are sample-major (each sample's renderings in turn): a sample misread in all of them is
    # hard for the model itself, one misread in some only is hurt by a rendering.
    by_sample = correct.reshape(-1, len(figures["variants"]))
    always = np.repeat(~by_sample.any(axis=1), len(figures["variants"])) & (variants == variants[0])
    print(f"samples misread in every rendering: {always.sum()} of {len(by_sample)} (as the first rendering reads "
          f"them: {misreadings(truth[always], p_ours[always])}); in some renderings only: "
          f"{int((~by_sample).any(axis=1).sum() - always.sum())}")
    figures.update({"data": data, "drawings": len(truth),
                    "naive_top1": naive[0],
                    "read_as_several_digits": {"image": probs["image_split"], "strokes": probs["strokes_split"]}})
    return figures


def compare(names: list[str], all_figures: list[dict]) -> None:
    """The models side by side: per source, strokes top-1, the renderings' mean and worst top-1, strokes top-3."""
    print(f"\n== side by side (top-1; strokes top-3 last)\n{'source':<10} {'measure':<14} "
          + " ".join(f"{Path(n).parent.name + '/' + Path(n).name:>22}" for n in names))
    for source in [*all_figures[0]["sources"], "all"]:
        rows = [f["sources"][source] if source != "all" else f for f in all_figures]
        for measure, value in (("strokes", lambda r: r["strokes"]["top1"]),
                               ("images mean", lambda r: r["mean"]["top1"]),
                               ("images worst", lambda r: r["variants"][r["worst_variant"]]["top1"]),
                               ("strokes top-3", lambda r: r["strokes"]["top3"])):
            print(f"{source:<10} {measure:<14} " + " ".join(f"{value(r):>22.2%}" for r in rows))


def stroke_rates(probs: np.ndarray, inputs: dict) -> dict:
    """Top-1 and top-3 of stroke readings (n, 10) (`as_probs`), per source and over all: {"all": {...}, src: ...}."""
    truth, sources = inputs["strokes_label"], inputs["strokes_source"]
    rows = {"all": np.ones(len(truth), bool), **{str(s): sources == s for s in sorted(set(sources))}}
    return {name: {"samples": int(m.sum()), "top1": topk(probs[m], truth[m], 1), "top3": topk(probs[m], truth[m], 3)}
            for name, m in rows.items()}


def score_paths(readers: dict[str, np.ndarray], inputs: dict) -> dict:
    """Print the strokes' top-1 (top-3) per source for each reading of them (`readers`: name -> (n, 10)
    `as_probs`), and the uncertainty threshold on the fused readings; return the figures by reading."""
    figures = {name: stroke_rates(probs, inputs) for name, probs in readers.items()}
    print(f"\n== the pad's strokes: top-1 (top-3)\n{'source':<10} {'samples':>7} "
          + " ".join(f"{name:>22}" for name in readers))
    for source, row in figures[next(iter(readers))].items():
        print(f"{source:<10} {row['samples']:>7} " + " ".join(
            f"{figures[n][source]['top1']:>12.2%} ({figures[n][source]['top3']:.2%})" for n in readers))
    fused, truth = readers["fused"], inputs["strokes_label"]
    correct = uncertainty(fused, truth, " on the fused strokes")
    print("fused strokes' misreadings: " + misreadings(truth[~correct], fused[~correct]))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, nargs="+", default=[ROOT / "model" / "mnist.h5"])
    parser.add_argument("--number-model", type=Path, default=ROOT / "model" / "numbers.h5",
                        help="the number reader the app runs beside each model on images")
    parser.add_argument("--path-model", type=lambda v: Path(v) if v else None, default=ROOT / "model" / "trajectory.h5",
                        help="the path model the app fuses with the CNN on the pad's strokes ('' for none)")
    parser.add_argument("--path-weights", type=float, nargs="*", default=[],
                        help="also score the strokes fused with these path model weights")
    parser.add_argument("--strokes-only", action="store_true", help="read the strokes only, not the images")
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
    if args.record and (len(args.model) != 1 or args.ensemble or args.every != 1 or args.stroke_width
                        or args.strokes != STROKES):
        parser.error("--record takes one --model, every sample of the default stroke file and the app's stroke width")
    path_model_file = args.path_model
    if (args.strokes_only or args.path_weights) and path_model_file is None:
        parser.error("--strokes-only and --path-weights score the path model: give --path-model")

    indices, sources, data = dev_samples(args.strokes, args.every)
    with np.load(args.strokes) as z:
        writers = {s: len(np.unique(z["writers"][indices][sources == s])) for s in np.unique(sources)}
    inputs = prepare_inputs(args, indices, sources)

    from mnist_sketch.model import load_model_file
    from mnist_sketch.number_model import load_number_model_file
    from mnist_sketch.predict import PATH_WEIGHT, DigitReader
    from mnist_sketch.trajectory import load_path_model_file

    widths = (f"{args.stroke_width} px" if args.stroke_width else
              f"the app's: images' strokes normalised to {STROKE_WIDTH} px, strokes drawn at {PEN_WIDTH} px")
    counts = ", ".join(f"{s}: {(sources == s).sum()} by {writers[s]} writers" for s in writers)
    print(f"{len(indices)} samples of {data} ({counts}) x 6 variants = {len(inputs['label'])} drawings, and "
          f"{len(indices)} stroke drawings; widths {widths}")
    number_model = load_number_model_file(args.number_model)
    path_figures = None
    if path_model_file is not None:  # the first model's strokes, with the path model
        path_model = load_path_model_file(path_model_file)
        model = load_model_file(args.model[0])
        strokes = inputs["strokes"]
        readers = {"CNN alone (before)": as_probs(DigitReader(model).choose(strokes)),
                   "path model alone": as_probs(DigitReader(model, path_model=path_model, path_weight=1.0)
                                                .choose(strokes))}
        for weight in args.path_weights:
            readers[f"fused, weight {weight:g}"] = as_probs(
                DigitReader(model, path_model=path_model, path_weight=weight).choose(strokes))
        app = DigitReader(model, number_model=number_model, path_model=path_model)  # as the app reads the pad
        readers["fused"] = as_probs(app.choose(strokes))
        print(f"\npath model {path_model_file}, fused with {args.model[0]} at weight {PATH_WEIGHT} ('fused')")
        path_figures = score_paths(readers, inputs)
        path_figures = {"cnn": path_figures["CNN alone (before)"], "path": path_figures["path model alone"],
                        "fused": path_figures["fused"], "path_weight": PATH_WEIGHT, "data": data}
    if args.strokes_only:
        if args.record:
            from training.card import PATH_METRICS, record_pen_drawn

            record_pen_drawn(path_model_file.with_name(PATH_METRICS), path_figures)
        return 0
    all_probs, all_figures = [], []
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
        all_figures.append(score(str(path), all_probs[-1], inputs, writers, data))
    names = [str(p) for p in args.model]
    if args.ensemble:  # the mean of the models' single-digit readings
        mean = {key: np.mean([p[key] for p in all_probs], axis=0) for key in all_probs[0]}
        mean.update({key: round(float(value), 1) for key, value in mean.items() if np.ndim(value) == 0})  # counts
        names.append(f"ensemble of {len(args.model)}")
        all_figures.append(score(f"{names[-1]}: mean of their probabilities", mean, inputs, writers, data))
    if len(all_figures) > 1:
        compare(names, all_figures)
    if args.record:
        from training.card import PATH_METRICS, record_pen_drawn

        record_pen_drawn(args.model[0].parent / "metrics.json", all_figures[0])
        if path_figures is not None:
            record_pen_drawn(path_model_file.with_name(PATH_METRICS), path_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
