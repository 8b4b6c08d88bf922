"""The pen digits as Parquet: what converting ../shared/data/pen_digits.npz costs, how big and how fast to
read it is, and whether training gets the same inputs from it as from the .npz (the baseline, in the same run).

    python benchmarks/pen_parquet.py [--out /tmp/pen-digits-parquet] [--views 2] [--seed 0]

1. `python -m training.push_pen_data FILE --out OUT --no-push`: the Parquet splits and the card (timed,
   in a subprocess, as a user runs it); OUT must not exist yet (it is replaced when it is this script's).
2. `datasets.load_dataset("parquet", data_dir=OUT)` and `load_dataset(OUT)` (the card's configs): the
   splits' counts and features, a first (cold: Arrow cache built) and a second (warm) load.
3. `load_pen_digits(OUT)`, as `--pen-data OUT` reads it, against `load_pen_digits(FILE)`: per split the same
   strokes, labels, writers and sources; the `image` column equal to `stroke_view` of the .npz's strokes;
   and `render_views` of the whole train split, for a seed, identical.

Nothing here is written into the repository; the Arrow cache goes to a fresh folder under OUT's parent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PEN_FILE = ROOT.parent / "shared" / "data" / "pen_digits.npz"
EXPECTED = {"train": 13_823, "dev": 6_248}


def timed(what: str, fn):
    start = time.perf_counter()
    result = fn()
    print(f"{what}: {time.perf_counter() - start:.2f} s")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=PEN_FILE)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "pen-digits-parquet")
    parser.add_argument("--views", type=int, default=2, help="stroke views per digit compared (and one image view)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.resolve().is_relative_to(ROOT):
        parser.error("--out must be outside the repository: the data is derived from ../shared")
    if (args.out / "README.md").is_file() and (args.out / "data").is_dir():
        shutil.rmtree(args.out)  # this script's earlier output
    cache = Path(tempfile.mkdtemp(prefix="pen-parquet-cache-", dir=args.out.parent))
    os.environ["HF_DATASETS_CACHE"] = str(cache)  # before datasets is imported: a cold first load
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        return run(args)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "training.push_pen_data", str(args.file), "--out", str(args.out),
                    "--no-push"], cwd=ROOT, check=True)
    print(f"convert (python -m training.push_pen_data --no-push, with start-up): {time.perf_counter() - start:.2f} s")
    print(f"sizes: .npz {args.file.stat().st_size / 1e6:.2f} MB; " + ", ".join(
        f"{p.relative_to(args.out)} {p.stat().st_size / 1e6:.2f} MB" for p in sorted(args.out.rglob("*")) if p.is_file()))

    from datasets import load_dataset

    from training.pen_dataset import FEATURES
    from training.pen_digits import load_pen_digits, render_views, stroke_view

    for how, load in (("parquet data_dir", lambda: load_dataset("parquet", data_dir=str(args.out))),
                      ("folder (card)", lambda: load_dataset(str(args.out)))):
        loaded = timed(f"load_dataset {how}, cold", load)
        timed(f"load_dataset {how}, warm", load)
        counts = {name: len(split) for name, split in loaded.items()}
        print(f"  splits {counts}, features as declared: {all(s.features == FEATURES for s in loaded.values())}")
        assert counts == EXPECTED, counts
    npz = timed("load_pen_digits(.npz) (baseline)", lambda: load_pen_digits(args.file))
    parquet = timed("load_pen_digits(folder), as --pen-data reads it", lambda: load_pen_digits(args.out))
    print(f"digits: .npz {len(npz):,}, Parquet {len(parquet):,}; sha256 .npz {npz.sha256[:12]}, "
          f"Parquet {parquet.sha256[:12]} (the digest follows the rows' order: Parquet has train first)")
    for split in EXPECTED:
        a, b = npz.split(split), parquet.split(split)
        same = (np.array_equal(a.labels, b.labels) and np.array_equal(a.writers, b.writers)
                and np.array_equal(a.datasets, b.datasets)
                and all(len(p) == len(q) and all(np.array_equal(s, t) for s, t in zip(p, q))
                        for p, q in zip(a.strokes, b.strokes)))
        print(f"{split}: {len(b):,} digits, same strokes/labels/writers/sources as the .npz: {same}")
        assert same
        images = loaded[split].select_columns(["image"]).with_format("numpy")["image"]
        plain = timed(f"  stroke_view of the .npz's {split} digits", lambda: np.stack([stroke_view(s) for s in a.strokes]))
        print(f"  image column == stroke_view of the .npz's strokes: {np.array_equal(images, plain)}")
        assert np.array_equal(images, plain)
    train_a, train_b = npz.split("train"), parquet.split("train")
    views_a = timed(f"render_views(.npz train, {args.views}+1, seed {args.seed})",
                    lambda: render_views(train_a, args.views, 1, args.seed))
    views_b = timed(f"render_views(Parquet train, {args.views}+1, seed {args.seed})",
                    lambda: render_views(train_b, args.views, 1, args.seed))
    print(f"render_views identical: {np.array_equal(views_a, views_b)} {views_a.shape}")
    assert np.array_equal(views_a, views_b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
