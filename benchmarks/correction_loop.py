"""Does learning from visitors work? Play visitor with the dev pen digits, correct what is misread, retrain.

The dev split's writers of ../shared/data/pen_digits.npz are split in
two by writer: "visitors" (A), who draw on the pad and correct every misread
digit, and "held out" (B), never seen by the corrections. Three steps:

    python benchmarks/correction_loop.py collect [--model model/mnist.h5] [--out benchmarks/out/corrections]
    python -m training.train --data ../shared/data/mnist.npz --out runs/corrected \\
        --extra-data benchmarks/out/corrections
    python benchmarks/correction_loop.py score --model model/mnist.h5 runs/corrected/mnist.h5

`collect` reads each of A's digits as the pad sends it (its strokes) and, when
the reading is wrong, saves the correction the way the app's "Wrong? It's a
..." does: a `FeedbackStore.save` of the drawing as read (`ReadDrawing`) and
the right answer. `score` prints, per model, the accuracy on A's and on B's digits, as
strokes and as an image (the default sketchpad rendering): a gain on B is
learnt, not memorised.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from sketch_accuracy import SHARED, STROKES  # noqa: E402

from mnist_sketch.strokes import parse_strokes  # noqa: E402
from training.pen_digits import load_pen_digits, on_pad  # noqa: E402


def load_dev() -> tuple[dict, np.ndarray]:
    """The dev split's digits ({"strokes", "labels", "writers"}), and for each whether its writer is a visitor
    (A) rather than held out (B)."""
    pen = load_pen_digits(STROKES).split("dev")
    data = {"strokes": pen.strokes, "labels": pen.labels, "writers": pen.writers}
    visitor = np.array([int(hashlib.sha256(str(w).encode()).hexdigest(), 16) % 2 == 0 for w in data["writers"]])
    return data, visitor


def pad_values(data: dict) -> list:
    return [parse_strokes(on_pad(strokes)) for strokes in data["strokes"]]


def collect(model: Path, out: Path) -> None:
    from space.feedback import SAVED, FeedbackStore, ReadDrawing
    from mnist_sketch.model import load_model_file
    from mnist_sketch.model_source import ModelSource
    from mnist_sketch.predict import DigitReader

    data, visitor = load_dev()
    reader = DigitReader(load_model_file(model))
    source = ModelSource(model, "local")
    store = FeedbackStore(out, max_records=10**6, address_limit=10**6, global_limit=10**6)
    values = pad_values(data)
    indices = np.flatnonzero(visitor)
    readings = reader.read_many([values[i] for i in indices])
    wrong = [(i, r) for i, r in zip(indices, readings) if r.text != str(data["labels"][i])]
    saved = sum(store.save(str(data["writers"][i]), ReadDrawing.of(values[i], r), str(data["labels"][i]), source)
                == SAVED for i, r in wrong)
    print(f"{len(indices)} digits drawn by {len(set(data['writers'][visitor]))} visitor writers; "
          f"{len(wrong)} misread by {model}, {saved} corrections saved in {out}")


def score(models: list[Path]) -> None:
    from render_sketch import standard_variants

    from mnist_sketch.model import load_model_file
    from mnist_sketch.predict import DigitReader

    data, visitor = load_dev()
    labels = np.array([str(label) for label in data["labels"]])
    values = pad_values(data)
    images = [standard_variants(strokes, seed=i)[0][1] for i, strokes in enumerate(data["strokes"])]
    print(f"writers: {len(set(data['writers'][visitor]))} visitors (A, {visitor.sum()} digits), "
          f"{len(set(data['writers'][~visitor]))} held out (B, {(~visitor).sum()} digits)")
    print(f"{'model':<32} {'A strokes':>10} {'A image':>8} {'B strokes':>10} {'B image':>8}")
    for path in models:
        reader = DigitReader(load_model_file(path))
        by_strokes = np.array([r.text for r in reader.read_many(values)]) == labels
        by_image = np.array([r.text for r in reader.read_many(images)]) == labels
        print(f"{str(path):<32} {by_strokes[visitor].mean():>10.2%} {by_image[visitor].mean():>8.2%} "
              f"{by_strokes[~visitor].mean():>10.2%} {by_image[~visitor].mean():>8.2%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["collect", "score"])
    parser.add_argument("--model", type=Path, nargs="+", default=[ROOT / "model" / "mnist.h5"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "corrections")
    args = parser.parse_args()
    if not STROKES.is_file():
        print(f"error: no stroke data at {STROKES} (see ../shared/data/README.md)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(SHARED / "tools"))
    if args.step == "collect":
        collect(args.model[0], args.out)
    else:
        score(args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
