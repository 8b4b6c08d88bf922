"""How well are whole numbers read? Exact-number accuracy on numbers written with real pen-drawn digits.

Numbers of 2-5 digits are built from the dev split of ../shared/data/pen_digits.npz
(writers nothing trains on), source by source (unipen, pendigits, uji), by
../shared/tools/compose_number.py: each number's digits come from one writer,
laid out as people write a number (baseline wobble, uneven gaps, 10 % of
neighbours touching). Each is read:

- as images, in the three `number_variants` renderings (pad: the 800x800 white
  canvas, wide: 1200x500 transparent, thin_rgba: a thin pen), by the app's
  image path (split into digits, framed, read, and read whole by the number
  reader), and, as the baseline in the same run, by the splitter alone;
- as strokes, as the app's pad sends them (the number placed on the 900x600 pad), read by the digit CNN
  alone (the reader before) and, with the path model (`--path-model`, default model/trajectory.h5), as
  the app reads them: each digit option's strokes read by it too, fused with the CNN.

A reading is right when it is the number exactly: every digit right, nothing
extra or missing. Printed in the same run, the oracle: each digit read alone
(its own strokes framed, or rendered alone on the same canvas with the same
brush), so no segmentation error is possible: the ceiling set by per-digit
accuracy. Segmentation's cost is the oracle minus the app. With several
--model / --number-model pairs (e.g. the previous ones), each is scored on the
same numbers and a table puts them side by side.

    python benchmarks/number_accuracy.py [--numbers 200] [--seed 0] [--workers 2] [--cache]
                                         [--model model/mnist.h5 ...] [--number-model model/numbers.h5 ...]
                                         [--path-model model/trajectory.h5] [--record]

--record writes the first pair's figures into numbers_metrics.json beside its number model, and
re-renders the model card there.
"""

from __future__ import annotations

import argparse
import copy
import os
import pickle
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import sketch_accuracy  # noqa: E402
from sketch_accuracy import CACHE_DIR, SHARED, STROKES, cache_key  # noqa: E402

from mnist_sketch.preprocess import EmptyDrawing, preprocess  # noqa: E402
from mnist_sketch.segment import Drawing, split  # noqa: E402
from mnist_sketch.strokes import frame_strokes, parse_strokes  # noqa: E402
from training.pen_digits import on_pad  # noqa: E402

LENGTHS = (2, 3, 4, 5)
NUMBERS = 200  # numbers of each length per source, by default
# How number_variants renders each variant: (canvas, brush radius, background, the digits' height share)
# for drawing a digit alone in the oracle, at the middle of the variant's range of heights.
VARIANTS = {"pad": ((800, 800), 18, (255, 255, 255), 0.275), "wide": ((1200, 500), 10, "transparent", 0.575),
            "thin_rgba": ((800, 800), 5, "transparent", 0.275)}
INPUTS = ("strokes", *VARIANTS)  # the pad's strokes, then the images
WITH_PATH = "strokes, path"  # the pad's strokes read with the path model
_sources: dict[str, dict] | None = None  # per source dataset, its dev digits in the stroke file's layout


def dev_digits(data: dict, source: str) -> dict:
    """The dev split's digits of one `source` of a loaded stroke file, in the file's own layout (so
    compose_number reads them as it reads a whole file): points, offsets, labels and writers."""
    samples = np.flatnonzero((data["split"] == sketch_accuracy.SPLIT) & (data["dataset"] == source))
    so, po = data["sample_offsets"], data["stroke_offsets"]
    strokes = [k for i in samples for k in range(so[i], so[i + 1])]
    lengths = po[np.array(strokes) + 1] - po[strokes]
    return {"points": np.concatenate([data["points"][po[k] : po[k + 1]] for k in strokes]),
            "stroke_offsets": np.concatenate([[0], np.cumsum(lengths)]),
            "sample_offsets": np.concatenate([[0], np.cumsum(so[samples + 1] - so[samples])]),
            "labels": data["labels"][samples], "writers": data["writers"][samples]}


def _init_worker(path: str) -> None:
    global _sources
    sys.path.insert(0, str(SHARED / "tools"))
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    _sources = {source: dev_digits(data, source) for source in sorted(set(data["dataset"]))}


def digit_samples(data: dict, rng: np.random.Generator, n_digits: int) -> np.ndarray:
    """The sample indices `compose_number(data, rng, n_digits)` will pick, from a copy of its generator.

    compose_number returns only the strokes and the label; its first draws pick the writer and the
    samples, so replaying them on a copy tells which strokes belong to which digit.
    """
    from compose_number import _writer_index  # the tool's own index of writers (not part of its API)

    replay = copy.deepcopy(rng)
    index = _writer_index(data)
    names = sorted(index)
    writer = names[int(replay.integers(len(names)))]
    return replay.choice(index[writer], size=n_digits, replace=False)


def _split(value) -> Drawing | EmptyDrawing:
    try:
        return split(value)
    except EmptyDrawing as exc:
        return exc


def _prepare(job: tuple[str, int, int]) -> dict:
    """Number k of length n of a source: its label, the pieces of its strokes and of each rendering, and the
    oracle's per-digit inputs."""
    from compose_number import compose_number, number_variants
    from render_sketch import render, strokes_of

    source, n, k = job
    data = _sources[source]
    rng = np.random.default_rng([n, k, sorted(_sources).index(source)])
    samples = digit_samples(data, rng, n)
    strokes, label = compose_number(data, rng, n_digits=n)
    counts = [len(strokes_of(data, int(i))) for i in samples]
    per_digit = np.split(np.arange(len(strokes)), np.cumsum(counts)[:-1])
    digits = [[strokes[j] for j in idx] for idx in per_digit]
    pad = on_pad(strokes)
    out = {"source": source, "label": label, "found": {"strokes": _split(parse_strokes(pad))},
           "oracle": {"strokes": [frame_strokes(parse_strokes(on_pad(d))) for d in digits]}}
    for name, image in number_variants(strokes, seed=1000 * n + k):
        out["found"][name] = _split(image)
        canvas, radius, background, height = VARIANTS[name]
        out["oracle"][name] = [preprocess(render(d, canvas, height, (0.5, 0.5), radius, background=background))
                               for d in digits]
    return out


def prepare(args: argparse.Namespace) -> list[dict]:
    """Every number read, made in worker processes (or loaded from the cache)."""
    with np.load(args.strokes) as z:
        sources = sorted(set(z["dataset"][z["split"] == sketch_accuracy.SPLIT]))
    jobs = [(source, n, k + args.seed * 100_000) for source in sources for n in LENGTHS for k in range(args.numbers)]
    scripts = [Path(__file__), Path(__file__).with_name("sketch_accuracy.py")]
    key = cache_key(args.strokes, f"{args.numbers} {args.seed} {sketch_accuracy.SPLIT}", scripts)
    cached = CACHE_DIR / f"number_inputs_{key}.pickle"
    if args.cache and cached.is_file():
        print(f"inputs from the cache {cached.relative_to(ROOT)}")
        return pickle.loads(cached.read_bytes())
    start = time.perf_counter()
    with Pool(args.workers, _init_worker, (str(args.strokes),)) as pool:  # before TensorFlow is imported
        prepared = pool.map(_prepare, jobs, chunksize=8)
    print(f"composing + rendering + splitting {time.perf_counter() - start:.0f} s with {args.workers} workers")
    if args.cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL))
    return prepared


def score(reader, splitter, numbers: list[dict], path_reader=None) -> dict:
    """Per input (strokes, then each rendering) and per number: is the app right, is the splitter alone
    right (images), is the oracle right, is the number among the app's top 3, digits found minus written;
    with `path_reader` (a reader with the path model), the strokes read by it too (WITH_PATH)."""
    out = {}
    for name in INPUTS:
        oracle = [x["oracle"][name] for x in numbers]
        probs = iter(reader.predict_batch(np.stack([d for digits in oracle for d in digits])))
        rows = {"oracle": [], "app": [], "top3": [], "miscount": []}
        for x, digits in zip(numbers, oracle):
            rows["oracle"].append("".join(str(int(next(probs).argmax())) for _ in digits) == x["label"])
        found = [x["found"][name] for x in numbers]
        for x, reading in zip(numbers, reader.choose(found)):
            rows["app"].append(reading.text == x["label"])
            rows["top3"].append(x["label"] in [t for t, _ in reading.top(3)])
            rows["miscount"].append(len(reading.probabilities) - len(x["label"]))
        if name != "strokes":  # the pad's strokes never go to the number reader
            rows["splitter_alone"] = [r.text == x["label"] for x, r in zip(numbers, splitter.choose(found))]
        out[name] = {key: np.array(value) for key, value in rows.items()}
    if path_reader is not None:
        pairs = list(zip(numbers, path_reader.choose([x["found"]["strokes"] for x in numbers])))
        out[WITH_PATH] = {"oracle": out["strokes"]["oracle"],  # each digit's image alone, read by the CNN
                          "app": np.array([r.text == x["label"] for x, r in pairs]),
                          "top3": np.array([x["label"] in [t for t, _ in r.top(3)] for x, r in pairs]),
                          "miscount": np.array([len(r.probabilities) - len(x["label"]) for x, r in pairs])}
    return out


def print_pair(title: str, result: dict, sources: np.ndarray, lengths: np.ndarray) -> None:
    """One pair's exact-number accuracy, app / oracle (each digit alone), per source and per length."""
    groups = [(s, sources == s) for s in dict.fromkeys(sources)] + [(f"{n} digits", lengths == n) for n in LENGTHS] \
        + [("all", np.ones(len(sources), bool))]
    print(f"\n== {title}: exact numbers, app / each digit alone (the ceiling)")
    print(f"{'input':<26} " + " ".join(f"{name:>17}" for name, _ in groups) + f" {'top-3':>7} {'too many/few':>12}")
    for name, rows in result.items():
        for kind in ("app", "splitter_alone"):
            if kind not in rows:
                continue
            cells = " ".join(f"{rows[kind][m].mean():>7.1%} /{rows['oracle'][m].mean():>7.1%}" for _, m in groups)
            label = name if kind == "app" else f"{name}, splitter alone"
            extra = (f" {rows['top3'].mean():>7.1%} {(rows['miscount'] > 0).sum():>5}/{(rows['miscount'] < 0).sum():<6}"
                     if kind == "app" else "")
            print(f"{label:<26} {cells}{extra}")


def figures(result: dict, sources: np.ndarray) -> dict:
    """What --record keeps: per input, exact accuracy of the app, the splitter alone and the oracle, over
    all numbers and per source."""
    def rates(rows: dict, mask: np.ndarray) -> dict:
        return {kind: float(rows[kind][mask].mean()) for kind in ("app", "splitter_alone", "oracle") if kind in rows}

    everything = np.ones(len(sources), bool)
    return {name: {**rates(rows, everything), "sources": {s: rates(rows, sources == s) for s in dict.fromkeys(sources)}}
            for name, rows in result.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, nargs="+", default=[ROOT / "model" / "mnist.h5"])
    parser.add_argument("--number-model", type=Path, nargs="+", default=[ROOT / "model" / "numbers.h5"],
                        help="the number reader paired with each --model (one for all, or one each)")
    parser.add_argument("--path-model", type=lambda v: Path(v) if v else None, default=ROOT / "model" / "trajectory.h5",
                        help="the path model the app fuses with the CNN on the pad's strokes ('' for none)")
    parser.add_argument("--strokes", type=Path, default=STROKES)
    parser.add_argument("--numbers", type=int, default=NUMBERS,
                        help=f"numbers of each length (2, 3, 4, 5 digits) per source (default: {NUMBERS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", action="store_true", help="keep and reuse the inputs in benchmarks/out/")
    parser.add_argument("--record", action="store_true",
                        help="write the first pair's figures into its number model's numbers_metrics.json and "
                             "re-render the model card beside it")
    args = parser.parse_args()
    if not args.strokes.is_file():
        print(f"error: no stroke data at {args.strokes} (see ../shared/data/README.md)", file=sys.stderr)
        return 1
    if len(args.number_model) not in (1, len(args.model)):
        parser.error("give one --number-model, or one per --model")
    pairs = list(zip(args.model, args.number_model * len(args.model) if len(args.number_model) == 1
                     else args.number_model))
    numbers = prepare(args)

    from mnist_sketch.model import load_model_file
    from mnist_sketch.number_model import load_number_model_file
    from mnist_sketch.predict import DigitReader
    from mnist_sketch.trajectory import load_path_model_file

    sources = np.array([x["source"] for x in numbers])
    lengths = np.array([len(x["label"]) for x in numbers])
    print(f"\n{len(numbers)} numbers ({args.numbers} each of {', '.join(map(str, LENGTHS))} digits per source: "
          f"{', '.join(dict.fromkeys(sources))}) written with the dev writers' digits of {args.strokes.name}")
    path_model = load_path_model_file(args.path_model) if args.path_model else None
    results = []
    for model_path, number_path in pairs:
        model = load_model_file(model_path)
        reader = DigitReader(model, number_model=load_number_model_file(number_path))
        path_reader = DigitReader(model, number_model=reader.number_model, path_model=path_model) \
            if path_model is not None else None
        results.append(score(reader, DigitReader(model), numbers, path_reader))
        print_pair(f"{model_path} + {number_path}", results[-1], sources, lengths)
    if len(pairs) > 1:
        print("\n== side by side: exact numbers, app (ceiling), per input; all sources")
        print(f"{'input':<12} " + " ".join(f"{f'{m.parent.name}/{m.name} + {n.parent.name}/{n.name}':>40}"
                                          for m, n in pairs))
        for name in results[0]:
            cells = [f"{r[name]['app'].mean():.1%} ({r[name]['oracle'].mean():.1%})" for r in results]
            print(f"{name:<12} " + " ".join(f"{cell:>40}" for cell in cells))
    if args.record:
        from training.card import NUMBERS_METRICS, record_pen_drawn

        record_pen_drawn(pairs[0][1].parent / NUMBERS_METRICS,
                         {"numbers": len(numbers), "data": f"{args.strokes.name}, {sketch_accuracy.SPLIT} split",
                          "digit_model": str(pairs[0][0].name), "inputs": figures(results[0], sources)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
