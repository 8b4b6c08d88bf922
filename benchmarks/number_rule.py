"""When may the number reader overrule a one-digit reading? The rule's thresholds, scored.

The digit CNN reads some images as one digit where the number reader (`--number-model`) finds
two or more. `predict.overrules_one_digit` decides which reading stands, by three thresholds:
the digit CNN's confidence (ONE_DIGIT_SURE), the ink's aspect (NUMBER_ASPECT) and the number
reader's joint confidence (SEQUENCE_SURE). For a grid of them, on the inputs of
number_accuracy.py (3 x 2,400 rendered numbers of 2-5 digits of the dev writers) and
sketch_accuracy.py (37,488 rendered single digits of the dev writers), this prints the numbers
the rule then reads right, and the single drawings it then loses (read right by the digit CNN) or
reads as two digits or more.

    python benchmarks/number_rule.py [--number-model model/numbers.h5] [--cache]

--cache reuses (or keeps) the two benchmarks' inputs in benchmarks/out/.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import number_accuracy  # noqa: E402  (puts ROOT on sys.path)
import sketch_accuracy  # noqa: E402

from mnist_sketch.preprocess import EmptyDrawing  # noqa: E402
from mnist_sketch.segment import MAX_DIGITS  # noqa: E402

ONE_DIGIT_SURE = (0.99, 0.995, 0.999, 1.01)  # 1.01: whatever the digit CNN's confidence
NUMBER_ASPECT = (0.7, 0.8, 0.9, 1.0)
SEQUENCE_SURE = (0.7, 0.8, 0.9, 0.95, 0.98)


def contested(reader, found: list, labels: list[str]) -> list[tuple]:
    """The images the digit CNN reads as one digit and the number reader as two or more (at most
    MAX_DIGITS): (the one-digit Reading, the strip, the number reader's digits, whether the number
    reader is right, whether the one digit is right)."""
    from mnist_sketch.number_strip import strip_digits

    plain = type(reader)(reader.model).choose(found)  # the digit CNN alone, as before `combine`
    images = [i for i, (reading, layout) in enumerate(zip(plain, found))
              if len(reading.probabilities) == 1 and not isinstance(layout, EmptyDrawing) and layout.strip is not None]
    logits = reader.strip_logits(np.stack([found[i].strip.image for i in images])) if images else []
    rows = []
    for i, row in zip(images, logits):
        digits = strip_digits(row)
        if 2 <= len(digits) <= MAX_DIGITS:
            text = "".join(str(int(d.probabilities.argmax())) for d in digits)
            rows.append((plain[i], found[i].strip, digits, text == labels[i], plain[i].text == labels[i]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "mnist.h5")
    parser.add_argument("--number-model", type=Path, default=ROOT / "model" / "numbers.h5")
    parser.add_argument("--strokes", type=Path, default=sketch_accuracy.STROKES)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", action="store_true", help="keep and reuse the inputs in benchmarks/out/")
    args = parser.parse_args()
    if not args.strokes.is_file():
        print(f"error: no stroke data at {args.strokes} (see ../shared/data/README.md)", file=sys.stderr)
        return 1
    # The two benchmarks' own inputs, with their default options (so their caches are shared).
    numbers = number_accuracy.prepare(argparse.Namespace(**vars(args), numbers=number_accuracy.NUMBERS, seed=0))
    indices, sources, _ = sketch_accuracy.dev_samples(args.strokes)
    singles = sketch_accuracy.prepare_inputs(argparse.Namespace(**vars(args), every=1, stroke_width=None), indices,
                                             sources)

    from mnist_sketch.model import load_model_file
    from mnist_sketch.number_model import load_number_model_file
    from mnist_sketch.predict import DigitReader, overrules_one_digit

    reader = DigitReader(load_model_file(args.model), number_model=load_number_model_file(args.number_model))
    labels = [x["label"] for x in numbers]
    number_rows = [row for name in number_accuracy.VARIANTS
                   for row in contested(reader, [x["found"][name] for x in numbers], labels)]
    single_rows = contested(reader, singles["image"], [str(label) for label in singles["label"]])
    print(f"models {args.model} and {args.number_model}: of {3 * len(numbers)} number renderings and "
          f"{len(singles['image'])} single drawings, {len(number_rows)} and {len(single_rows)} are contested")
    print("digit CNN under / aspect at least / number reader at least | numbers gained | singles lost | as 2+")
    for one, aspect, sure in itertools.product(ONE_DIGIT_SURE, NUMBER_ASPECT, SEQUENCE_SURE):
        def taken(rows: list[tuple]) -> list[tuple]:
            return [r for r in rows if overrules_one_digit(r[0], r[1], r[2], one, aspect, sure)]
        numbers_taken, singles_taken = taken(number_rows), taken(single_rows)
        print(f"{one:>15} / {aspect:>9} / {sure:>19} | {sum(r[3] for r in numbers_taken):>14} | "
              f"{sum(r[4] for r in singles_taken):>12} | {len(singles_taken):>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
