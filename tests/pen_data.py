"""A small stroke file in the layout of pen_digits.npz, made by the tests (no ../shared needed).

Its digits are the app's example strokes (`mnist_sketch.example_digits.STROKES`)
written by made-up writers: each writer has a slant, a width and a size of its
own, and every digit it writes is a little different (a random tremor and
stretch). The last third of the writers are dev, the rest train, and writer k
is of source SOURCES[k % 3].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_sketch.example_digits import STROKES

SOURCES = ("unipen", "pendigits", "uji")


def writer_digit(digit: int, slant: float, width: float, size: float, rng: np.random.Generator) -> list[np.ndarray]:
    """One digit of a writer: its strokes as (n, 2) float32 points, y down, in the writer's units."""
    stretch = width * rng.uniform(0.9, 1.1)
    out = []
    for stroke in STROKES[digit]:
        xy = np.asarray(stroke, np.float64)
        x = (xy[:, 0] + slant * (1.0 - xy[:, 1])) * stretch
        points = np.stack([x, xy[:, 1]], axis=1) * size + rng.normal(0, 0.01 * size, size=xy.shape)
        out.append(points.astype(np.float32))
    return out


def write_pen_file(path: Path, writers: int = 12, per_digit: int = 2, seed: int = 0) -> Path:
    """Write a stroke file: `writers` writers, each writing every digit `per_digit` times. Returns `path`."""
    rng = np.random.default_rng(seed)
    points, stroke_offsets, sample_offsets = [], [0], [0]
    labels, writer_ids, splits, datasets = [], [], [], []
    for k in range(writers):
        slant, width, size = rng.uniform(-0.1, 0.3), rng.uniform(0.5, 0.9), rng.uniform(5, 40)
        for digit in range(10):
            for _ in range(per_digit):
                strokes = writer_digit(digit, slant, width, size, rng)
                lo = np.concatenate(strokes).min(axis=0)  # each digit's box starts at (0, 0), as in the real file
                for stroke in strokes:
                    points.append(stroke - lo)
                    stroke_offsets.append(stroke_offsets[-1] + len(stroke))
                sample_offsets.append(len(stroke_offsets) - 1)
                labels.append(digit)
                writer_ids.append(f"{SOURCES[k % 3]}/w{k}")
                splits.append("dev" if k >= writers - writers // 3 else "train")
                datasets.append(SOURCES[k % 3])
    np.savez(path, points=np.concatenate(points), stroke_offsets=np.array(stroke_offsets, np.int64),
             sample_offsets=np.array(sample_offsets, np.int64), labels=np.array(labels, np.uint8),
             writers=np.array(writer_ids), split=np.array(splits), dataset=np.array(datasets),
             groups=np.array(datasets), sources=np.array(["tests/pen_data.py"] * len(labels)))
    return path
