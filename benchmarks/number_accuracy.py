"""How well are whole numbers read? Exact-number accuracy on numbers written with real pen-drawn digits.

Numbers of 2-5 digits are built from the UNIPEN dev writers' digits
(../shared/data/unipen_dev_strokes.npz) by ../shared/tools/compose_number.py:
each number's digits come from one writer, laid out as people write a number
(baseline wobble, uneven gaps, 10 % of neighbours touching). Each is read:

- as images, in the three `number_variants` renderings (pad: the 800x800 white
  canvas, wide: 1200x500 transparent, thin_rgba: a thin pen), by the app's
  image path (split into digits, framed, read, and read whole by the number
  reader), and, as the baseline in the same run, by the splitter alone;
- as strokes, as the app's pad sends them (the number placed on the 900x600 pad).

A reading is right when it is the number exactly: every digit right, nothing
extra or missing. Printed in the same run, the oracle: each digit read alone
(its own strokes framed, or rendered alone on the same canvas with the same
brush), so no segmentation error is possible: the ceiling set by per-digit
accuracy. Segmentation's cost is the oracle minus the app.

    python benchmarks/number_accuracy.py [--numbers 250] [--seed 0] [--workers 2] [--cache]
                                         [--model model/mnist.h5] [--number-model model/numbers.h5] [--record]

--record writes the image figures into numbers_metrics.json beside the number model, and
re-renders the model card there.
"""

from __future__ import annotations

import argparse
import copy
import os
import pickle
import sys
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from sketch_accuracy import CACHE_DIR, SHARED, STROKES, cache_key  # noqa: E402

from mnist_sketch.preprocess import EmptyDrawing, preprocess  # noqa: E402
from mnist_sketch.segment import Drawing, split  # noqa: E402
from mnist_sketch.strokes import frame_strokes, parse_strokes  # noqa: E402
from training.pen_digits import on_pad  # noqa: E402

LENGTHS = (2, 3, 4, 5)
# How number_variants renders each variant: (canvas, brush radius, background, the digits' height share)
# for drawing a digit alone in the oracle, at the middle of the variant's range of heights.
VARIANTS = {"pad": ((800, 800), 18, (255, 255, 255), 0.275), "wide": ((1200, 500), 10, "transparent", 0.575),
            "thin_rgba": ((800, 800), 5, "transparent", 0.275)}
_data: dict | None = None


def _init_worker(path: str) -> None:
    global _data
    sys.path.insert(0, str(SHARED / "tools"))
    with np.load(path) as z:
        _data = {k: z[k] for k in z.files}


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


def _prepare(job: tuple[int, int]) -> dict:
    """Number k of length n: its label, the pieces of each rendering and of its strokes, and the oracle's
    per-digit inputs."""
    from compose_number import compose_number, number_variants
    from render_sketch import render, strokes_of

    n, k = job
    rng = np.random.default_rng([n, k])
    samples = digit_samples(_data, rng, n)
    strokes, label = compose_number(_data, rng, n_digits=n)
    counts = [len(strokes_of(_data, int(i))) for i in samples]
    per_digit = np.split(np.arange(len(strokes)), np.cumsum(counts)[:-1])
    digits = [[strokes[j] for j in idx] for idx in per_digit]
    out = {"label": label, "images": {}, "oracle_images": {}}
    for name, image in number_variants(strokes, seed=1000 * n + k):
        out["images"][name] = _split(image)
        canvas, radius, background, height = VARIANTS[name]
        out["oracle_images"][name] = [preprocess(render(d, canvas, height, (0.5, 0.5), radius, background=background))
                                      for d in digits]
    pad = on_pad(strokes)
    out["strokes"] = _split(parse_strokes(pad))
    out["oracle_strokes"] = [frame_strokes(parse_strokes(on_pad(d))) for d in digits]
    return out


def prepare(args: argparse.Namespace) -> list[dict]:
    jobs = [(n, k) for n in LENGTHS for k in range(args.numbers)]
    scripts = [Path(__file__), Path(__file__).with_name("sketch_accuracy.py")]
    key = cache_key(args.strokes, f"{args.numbers} {args.seed}", scripts)
    cached = CACHE_DIR / f"number_inputs_{key}.pickle"
    if args.cache and cached.is_file():
        print(f"inputs from the cache {cached.relative_to(ROOT)}")
        return pickle.loads(cached.read_bytes())
    start = time.perf_counter()
    with Pool(args.workers, _init_worker, (str(args.strokes),)) as pool:  # before TensorFlow is imported
        prepared = pool.map(_prepare, [(n, k + args.seed * 100_000) for n, k in jobs], chunksize=8)
    print(f"composing + rendering + splitting {time.perf_counter() - start:.0f} s with {args.workers} workers")
    if args.cache:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(pickle.dumps(prepared, protocol=pickle.HIGHEST_PROTOCOL))
    return prepared


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "mnist.h5")
    parser.add_argument("--number-model", type=Path, default=ROOT / "model" / "numbers.h5")
    parser.add_argument("--strokes", type=Path, default=STROKES)
    parser.add_argument("--numbers", type=int, default=250, help="numbers of each length (2, 3, 4, 5 digits)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", action="store_true", help="keep and reuse the inputs in benchmarks/out/")
    parser.add_argument("--record", action="store_true",
                        help="write the image figures into the number model's numbers_metrics.json and re-render "
                             "the model card beside it")
    args = parser.parse_args()
    if not args.strokes.is_file():
        print(f"error: no stroke data at {args.strokes} (see ../shared/data/README.md)", file=sys.stderr)
        return 1
    numbers = prepare(args)

    from mnist_sketch.model import load_model_file
    from mnist_sketch.number_model import load_number_model_file
    from mnist_sketch.predict import DigitReader

    model = load_model_file(args.model)
    reader = DigitReader(model, number_model=load_number_model_file(args.number_model))
    splitter = DigitReader(model)  # the baseline: the splitter alone, as before the number reader
    lengths = [len(x["label"]) for x in numbers]
    right: dict[str, list[bool]] = defaultdict(list)  # "images pad", "images pad, splitter alone", ...
    oracle_right: dict[str, list[bool]] = defaultdict(list)  # "images pad", "strokes pad 900x600"
    top3: dict[str, list[bool]] = defaultdict(list)
    counted: dict[str, list[int]] = defaultdict(list)  # digits found minus digits written
    for source in ("images", "strokes"):
        names = VARIANTS if source == "images" else ["pad 900x600"]
        for name in names:
            found = [x[source][name] if source == "images" else x["strokes"] for x in numbers]
            oracle = [x[f"oracle_{source}"][name] if source == "images" else x["oracle_strokes"] for x in numbers]
            probs = iter(reader.predict_batch(np.stack([d for digits in oracle for d in digits])))
            for x, digits in zip(numbers, oracle):
                guess = "".join(str(int(next(probs).argmax())) for _ in digits)
                oracle_right[f"{source} {name}"].append(guess == x["label"])
            runs = {"": reader, ", splitter alone": splitter} if source == "images" else {"": reader}
            for suffix, run in runs.items():
                key = f"{source} {name}{suffix}"
                for x, reading in zip(numbers, run.choose(found)):
                    right[key].append(reading.text == x["label"])
                    top3[key].append(x["label"] in [t for t, _ in reading.top(3)])
                    counted[key].append(len(reading.probabilities) - len(x["label"]))

    print(f"\n{len(numbers)} numbers ({args.numbers} each of {', '.join(map(str, LENGTHS))} digits) written with "
          f"the UNIPEN dev writers' digits; models {args.model} and {args.number_model}; exact-number accuracy, "
          "app / oracle (each digit read alone) / the app's cost in points")
    print(f"{'input':<34} " + " ".join(f"{f'{n} digits':>20}" for n in LENGTHS) + f" {'all':>20} {'top-3':>7} "
          f"{'too many/few':>12}")
    lengths = np.array(lengths)
    costs = {}
    for key in right:
        app, oracle = np.array(right[key]), np.array(oracle_right[key.split(",")[0]])
        cells = []
        for mask in [lengths == n for n in LENGTHS] + [np.ones_like(lengths, bool)]:
            a, o = app[mask].mean(), oracle[mask].mean()
            cells.append(f"{a:>6.1%} /{o:>6.1%} {100 * (o - a):>+5.1f}")
        miscount = np.array(counted[key])
        costs[key] = 100 * (oracle.mean() - app.mean())
        print(f"{key:<34} " + " ".join(f"{c:>20}" for c in cells) + f" {np.mean(top3[key]):>7.1%} "
              f"{(miscount > 0).sum():>5}/{(miscount < 0).sum():<6}")
    alone = np.mean([v for k, v in costs.items() if k.endswith("splitter alone")])
    images = np.mean([v for k, v in costs.items() if k.startswith("images") and "," not in k])
    print(f"segmentation's cost against the oracle: images {images:+.2f} points (mean of the three renderings; "
          f"{alone:+.2f} with the splitter alone), strokes {costs['strokes pad 900x600']:+.2f} points")
    if args.record:
        from training.card import NUMBERS_METRICS, record_pen_drawn

        record_pen_drawn(args.number_model.parent / NUMBERS_METRICS, {
            "numbers": len(numbers),
            "renderings": {name: {"app": float(np.mean(right[f"images {name}"])),
                                  "splitter_alone": float(np.mean(right[f"images {name}, splitter alone"])),
                                  "oracle": float(np.mean(oracle_right[f"images {name}"]))} for name in VARIANTS},
            "image_cost_points": float(images), "strokes_cost_points": float(costs["strokes pad 900x600"])})
    return 0


if __name__ == "__main__":
    sys.exit(main())
