"""Real pen-drawn digits as training data: `python -m training.train --pen-data PATH_OR_DATASET_REPO`.

The data is digits drawn with a pen on a tablet, kept as the pen's path, from several sources and split
by writer into `train` (which the shipped model may learn from) and `dev` (only for measuring and
choosing). It comes from a local stroke file in the layout of `pen_digits.npz` (see `load_pen_digits`),
or from the Parquet dataset `training.push_pen_data` publishes, in a local folder or a Hub dataset repo
(`training.pen_dataset`: read by `datasets.load_dataset`, cached, offline too).

Each training digit reaches the model the way the app would see it:

- `stroke_view`: the strokes placed on the app's pad (`on_pad`) and drawn into MNIST's frame by the
  app's own `mnist_sketch.strokes` (`parse_strokes`, `frame_strokes`), after `distort` has changed how
  they were written (turned, slanted, stretched, bent, resampled) and with the pen's width jittered
  around the app's;
- `image_view`: the same, distorted strokes drawn on a canvas image as a client would send it (thin
  pen to fat brush; transparent, white or dark paper) and framed by the app's image path (`preprocess`).

`render_views` makes a pool of such views per digit once, before training; each epoch shows
`--pen-repeat` views of every digit, drawn from its pool.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_sketch.preprocess import EmptyDrawing, preprocess
from mnist_sketch.strokes import PEN_WIDTH, Strokes, draw_on_paper, frame_strokes, parse_strokes
from training.data import DataUnavailable, check_labels, read_npz, value_range

DEFAULT_REPO = "mnist-sketch/pen-digits"
FILENAME = "pen_digits.npz"
KEYS = ("points", "stroke_offsets", "sample_offsets", "labels", "writers", "split", "dataset")
PAD = (900, 600)  # the app's pad (app.CANVAS): a digit is placed on it as a visitor draws one
PAD_HEIGHT = 0.6  # share of the pad's height a digit is drawn at
VALIDATION_WRITERS = 0.1  # share of each source's train writers held out to validate

# How `distort` changes the way a digit was written; sizes are shares of the digit's larger side.
ROTATION_DEG = 15.0
SHEAR = 0.3  # x-shear factor: slant
ASPECT = 0.2  # the width scaled by exp(+-ASPECT)
BEND = 0.03  # amplitude of a smooth random displacement (two sine waves)
NOISE = 0.005  # per-point tremor (standard deviation)
RESAMPLE_PROB = 0.5  # share of digits resampled along their strokes, as another device samples...
RESAMPLE_SPACING = (0.01, 0.06)  # ...at this spacing
STROKE_PEN_WIDTH = (2.2, 3.0)  # px at 28x28 for stroke views, around the app's PEN_WIDTH (2.6)
# Image views: the canvas's digit height in px, the pen's diameter as a share of that height (a 4 px pen
# on a large digit to a 32 px brush on a small one: render_sketch's variants span 0.014-0.27), and
# the paper: transparent (alpha = ink), white, or dark with light ink.
IMAGE_HEIGHT = (60, 200)
IMAGE_PEN = (0.014, 0.27)
PAPER_PROBS = {"transparent": 0.5, "white": 0.4, "dark": 0.1}
CHUNK = 500  # digits per worker task in render_views
# At most this many digits in a stroke file (the real one has 20,071): each becomes a pool of views, 784 bytes
# a view, before training starts.
MAX_PEN_DIGITS = 200_000


# The sources a stroke file may hold (its `dataset` column), for the cards: what each is, its licence
# and how to cite it.
SOURCES = {
    "unipen": {
        "name": "UNIPEN train_r01_v07, category 1a (isolated digits)",
        "what": "digits written on digitising tablets at ten institutions (groups apa, apb, app, art, ibm, imp, "
                "lou, pri, uqb, val)",
        "license": "CC BY 4.0",
        "citation": "Consortium (1999), *Unipen data set of on-line (vectorial) handwriting, train_r01_v07*, "
                    "Zenodo, doi:10.5281/zenodo.1195803; I. Guyon, L. Schomaker, R. Plamondon, M. Liberman and "
                    "S. Janet, \"UNIPEN project of on-line data exchange and recognizer benchmarks\", ICPR 1994, "
                    "doi:10.1109/ICPR.1994.576870",
    },
    "pendigits": {
        "name": "UCI Pen-Based Recognition of Handwritten Digits (original trajectories)",
        "what": "digits written on a Wacom tablet (500x500), the dataset's own writer split: "
                "pendigits-orig.tra = train, .tes = dev",
        "license": "CC BY 4.0",
        "citation": "E. Alpaydin and F. Alimoglu, *Pen-Based Recognition of Handwritten Digits*, UCI Machine "
                    "Learning Repository (1996); F. Alimoglu and E. Alpaydin, \"Combining Multiple Representations "
                    "and Classifiers for Pen-based Handwritten Digit Recognition\", ICDAR 1997",
    },
    "uji": {
        "name": "UJI Pen Characters (Version 2), the digits",
        "what": "two of each digit per writer, written on a tablet PC; every third writer in dev",
        "license": "CC BY 4.0",
        "citation": "D. Llorens et al., \"The UJIpenchars Database: a Pen-Based Database of Isolated Handwritten "
                    "Characters\", LREC 2008; *UJI Pen Characters (Version 2)*, UCI Machine Learning Repository",
    },
}


class PenDataUnavailable(DataUnavailable):
    """The pen data could be neither read nor downloaded; the message says what to do."""


@dataclass(frozen=True)
class PenDigits:
    """Pen-drawn digits: per digit its strokes ((n, 2) float32 points, y down, any unit), label 0-9,
    writer, split ("train"/"dev") and source dataset; `origin` says where the file came from."""

    strokes: list[list[np.ndarray]]
    labels: np.ndarray
    writers: np.ndarray
    splits: np.ndarray
    datasets: np.ndarray
    origin: str
    sha256: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, which: np.ndarray) -> PenDigits:
        """The digits at `which` (indices or a boolean mask)."""
        index = np.flatnonzero(which) if np.asarray(which).dtype == bool else np.asarray(which)
        return PenDigits([self.strokes[i] for i in index], self.labels[index], self.writers[index],
                         self.splits[index], self.datasets[index], self.origin, self.sha256)

    def split(self, name: str) -> PenDigits:
        return self.subset(self.splits == name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per source dataset: {"digits", "writers"}."""
        return {str(d): {"digits": int((self.datasets == d).sum()),
                         "writers": len(np.unique(self.writers[self.datasets == d]))}
                for d in sorted(np.unique(self.datasets))}


def fetch(source: str | Path) -> tuple[Path, str]:
    """A local .npz: (path, where it came from)."""
    path = Path(source)
    if not path.is_file():
        raise PenDataUnavailable(f"No pen data file at {path}. Pass `--pen-data` an existing .npz, a Parquet "
                                 f"folder, or a Hub dataset repo id such as {DEFAULT_REPO}.")
    return path, str(path)


def load_pen_digits(source: str | Path) -> PenDigits:
    """Every digit of `source`: a local .npz stroke file, or a Parquet folder or Hub dataset repo id
    (`training.pen_dataset.load_pen_dataset`, whose digits are the same, train split first).

    The file holds, for M digits, S strokes and N points: `points` (N, 2), `stroke_offsets` (S + 1,),
    `sample_offsets` (M + 1,), and per digit `labels`, `writers`, `split` and `dataset`.
    Raises PenDataUnavailable with a message saying what to do.
    """
    if Path(source).suffix != ".npz" and not Path(source).is_file():
        try:
            from training.pen_dataset import load_pen_dataset
        except ModuleNotFoundError as exc:  # `datasets`, which the Space does not install
            raise PenDataUnavailable(f"Reading {source} needs the `{exc.name}` package: "
                                     "pip install -r requirements-training.txt") from None
        return load_pen_dataset(source)
    path, origin = fetch(source)
    arrays = read_npz(path, KEYS, "pen data", f"a stroke file like {FILENAME} ({', '.join(KEYS)})",
                      PenDataUnavailable)
    check_stroke_arrays(arrays, str(path))
    points, strokes_at, samples_at = arrays["points"], arrays["stroke_offsets"], arrays["sample_offsets"]
    strokes = [[points[strokes_at[k] : strokes_at[k + 1]] for k in range(samples_at[i], samples_at[i + 1])]
               for i in range(len(arrays["labels"]))]
    digest = hashlib.sha256()
    for key in KEYS:
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return PenDigits(strokes, arrays["labels"].astype(np.uint8), arrays["writers"].astype(str),
                     arrays["split"].astype(str), arrays["dataset"].astype(str), origin, digest.hexdigest())


def check_stroke_arrays(arrays: dict[str, np.ndarray], where: str) -> None:
    """Check a stroke file's arrays (KEYS, see `load_pen_digits`) before anything is made of them: points
    finite, of two columns; offsets integers that start at 0, strictly increase (no empty or shared stroke or
    digit) and end at the points' and strokes' counts; labels integers 0-9; one writer, split and source per
    digit; at most MAX_PEN_DIGITS digits. Raises PenDataUnavailable with one sentence naming `where`."""

    def refuse(problem: str) -> None:
        raise PenDataUnavailable(f"{where}: {problem}; expected a stroke file like {FILENAME}.")

    points, labels = arrays["points"], arrays["labels"]
    if points.ndim != 2 or points.shape[1] != 2 or not np.issubdtype(points.dtype, np.number):
        refuse(f"'points' must be numbers (n, 2), one (x, y) per row; got {points.dtype} {points.shape}")
    if not np.isfinite(points).all():
        refuse(f"'points' holds {int((~np.isfinite(points)).sum()):,} values that are not finite (NaN or infinity)")
    if labels.ndim != 1 or len(labels) > MAX_PEN_DIGITS:
        refuse(f"'labels' must be one label per digit, at most {MAX_PEN_DIGITS:,} digits; got {labels.shape}")
    if not check_labels(labels):
        refuse(f"'labels' must be integers 0-9; got {labels.dtype} {value_range(labels)}")
    for key, ends_at in (("stroke_offsets", len(points)), ("sample_offsets", len(arrays["stroke_offsets"]) - 1)):
        offsets = arrays[key]
        if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer):
            refuse(f"{key!r} must be integers (one per stroke or digit, and one more); got {offsets.dtype} "
                   f"{offsets.shape}")
        if len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != ends_at or (np.diff(offsets) <= 0).any():
            refuse(f"{key!r} must start at 0, increase at each entry and end at {ends_at:,}")
    if len(arrays["sample_offsets"]) != len(labels) + 1:
        refuse(f"'sample_offsets' must have one entry per digit and one more: {len(labels) + 1:,}")
    for key in ("writers", "split", "dataset"):
        if arrays[key].shape != labels.shape:
            refuse(f"{key!r} must have one entry per digit ({len(labels):,}); got {arrays[key].shape}")


def hold_out_writers(pen: PenDigits, share: float = VALIDATION_WRITERS, seed: int = 0) -> np.ndarray:
    """A boolean mask of the digits of `share` of each source's writers (at least one writer each): a
    validation set that no training digit shares a writer with."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(pen), bool)
    for dataset in sorted(np.unique(pen.datasets)):
        writers = sorted(np.unique(pen.writers[pen.datasets == dataset]))
        if len(writers) < 2:
            continue
        chosen = rng.choice(writers, size=max(1, round(share * len(writers))), replace=False)
        held |= np.isin(pen.writers, chosen)
    return held


def on_pad(strokes: list[np.ndarray], canvas: tuple[int, int] = PAD, height: float = PAD_HEIGHT) -> dict:
    """A digit's strokes as the stroke pad sends them: {"width", "height", "strokes"} in canvas pixels,
    the digit `height` of the canvas high (or narrower, when wide), centred, rounded to 0.1 px."""
    points = np.concatenate(strokes)
    lo, extent = points.min(axis=0), np.ptp(points, axis=0)
    scale = height * canvas[1] / max(extent[1], extent[0] / 1.4, 1e-6)
    offset = (np.array(canvas) - extent * scale) / 2
    return {"width": canvas[0], "height": canvas[1],
            "strokes": [np.round((s - lo) * scale + offset, 1).tolist() for s in strokes]}


def _resample(stroke: np.ndarray, spacing: float) -> np.ndarray:
    """A stroke's points replaced by points every `spacing` along its path (both ends kept)."""
    steps = np.hypot(*np.diff(stroke, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] <= spacing:
        return stroke
    at = np.append(np.arange(0.0, along[-1], spacing), along[-1])
    return np.stack([np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])], axis=1)


def distort(strokes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Strokes ((n, 2) points, y down) written a little differently: resampled along their path (half
    the time), turned, slanted, stretched or squeezed, bent smoothly, with a slight tremor.

    Returns new float64 strokes in the same units.
    """
    strokes = [np.asarray(s, np.float64) for s in strokes]
    points = np.concatenate(strokes)
    centre, size = points.mean(axis=0), max(float(np.ptp(points, axis=0).max()), 1e-6)
    if rng.random() < RESAMPLE_PROB:
        spacing = rng.uniform(*RESAMPLE_SPACING) * size
        strokes = [_resample(s, spacing) for s in strokes]
    angle = math.radians(rng.uniform(-ROTATION_DEG, ROTATION_DEG))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shear = np.array([[1.0, rng.uniform(-SHEAR, SHEAR)], [0.0, 1.0]])
    stretch = np.diag([math.exp(rng.uniform(-ASPECT, ASPECT)), 1.0])
    matrix = rotation @ shear @ stretch
    waves = rng.uniform(0.5, 2.0, size=(2, 2)) * 2 * math.pi / size  # per axis of displacement: x and y frequency
    phases = rng.uniform(0, 2 * math.pi, size=2)
    amplitude = rng.uniform(0, BEND) * size
    tremor = rng.uniform(0, NOISE) * size
    out = []
    for s in strokes:
        q = (s - centre) @ matrix.T
        bend = amplitude * np.sin(q @ waves.T + phases)
        out.append(q + bend + rng.normal(0.0, tremor, size=q.shape))
    return out


def stroke_view(strokes: list[np.ndarray], rng: np.random.Generator | None = None) -> np.ndarray:
    """A digit as the app reads the pad's strokes: (28, 28) uint8 ink.

    Without `rng`, exactly the app's rendering of the strokes drawn on its pad (`on_pad`,
    `parse_strokes`, `frame_strokes` at PEN_WIDTH); with it, of `distort`ed strokes with the pen's
    width drawn from STROKE_PEN_WIDTH.
    """
    width = PEN_WIDTH
    if rng is not None:
        strokes, width = distort(strokes, rng), rng.uniform(*STROKE_PEN_WIDTH)
    return np.rint(frame_strokes(parse_strokes(on_pad(strokes)), width) * 255.0).astype(np.uint8)


def canvas_image(strokes: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The strokes drawn on a canvas as a client sends it: uint8 RGBA (transparent paper, alpha = ink),
    RGB on white paper, or RGB with light ink on dark paper; the pen's width and the digit's size and
    place drawn at random."""
    points = np.concatenate(strokes)
    lo, extent = points.min(axis=0), np.maximum(np.ptp(points, axis=0), 1e-6)
    height = rng.uniform(*IMAGE_HEIGHT)
    pen = height * math.exp(rng.uniform(math.log(IMAGE_PEN[0]), math.log(IMAGE_PEN[1])))
    scale = height / max(extent[1], extent[0] / 1.4)
    size = extent * scale
    canvas = np.ceil(size + pen + rng.uniform(0.1, 1.0, size=2) * size.max()).astype(int)
    offset = rng.uniform(pen / 2, canvas - size - pen / 2)
    placed = Strokes(float(canvas[0]), float(canvas[1]), tuple((s - lo) * scale + offset for s in strokes))
    ink = 255 - np.asarray(draw_on_paper(placed, pen))
    paper = rng.choice(list(PAPER_PROBS), p=list(PAPER_PROBS.values()))
    if paper == "transparent":
        return np.dstack([np.zeros((*ink.shape, 3), np.uint8), ink])
    shade = 255 - ink if paper == "white" else ink
    return np.repeat(shade[..., None], 3, axis=2)


def image_view(strokes: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A digit as the app reads an image of it: the `distort`ed strokes drawn on a `canvas_image` and
    framed by the app's `preprocess`; (28, 28) uint8 ink."""
    return np.rint(preprocess(canvas_image(distort(strokes, rng), rng)) * 255.0).astype(np.uint8)


def _views(task: tuple[list[list[np.ndarray]], int, int, int]) -> np.ndarray:
    """(n, stroke + image views, 28, 28) uint8 for a chunk of digits, from its own seed."""
    digits, stroke_views, image_views, seed = task
    rng = np.random.default_rng(seed)
    out = np.zeros((len(digits), stroke_views + image_views, 28, 28), np.uint8)
    for i, strokes in enumerate(digits):
        for k in range(stroke_views + image_views):
            try:
                out[i, k] = stroke_view(strokes, rng) if k < stroke_views else image_view(strokes, rng)
            except EmptyDrawing:  # a distortion that squeezed a tiny digit to nothing: keep the plain one
                out[i, k] = stroke_view(strokes)
    return out


def in_chunks(work: Callable[[tuple], np.ndarray], digits: list, options: tuple, seed: int,
              workers: int | None = None, chunk: int = CHUNK) -> list[np.ndarray]:
    """`work((digits, *options, seed))` for each `chunk` of the digits, each chunk with its own seed, in
    `workers` processes (default: one per core): the results in order, the same whatever `workers`."""
    tasks = [(digits[start : start + chunk], *options, seed * 100_003 + k)
             for k, start in enumerate(range(0, len(digits), chunk))]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(tasks) <= 1:
        return [work(task) for task in tasks]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(work, tasks))


def render_views(pen: PenDigits, stroke_views: int, image_views: int, seed: int,
                 workers: int | None = None) -> np.ndarray:
    """`stroke_views` random stroke views and `image_views` image views of every digit:
    uint8 (len(pen), stroke_views + image_views, 28, 28). Deterministic for a seed, whatever `workers`."""
    done = in_chunks(_views, pen.strokes, (stroke_views, image_views), seed, workers)
    return np.concatenate(done) if done else np.zeros((0, stroke_views + image_views, 28, 28), np.uint8)


def plain_views(pen: PenDigits) -> np.ndarray:
    """Every digit as the app reads the pad's strokes, undistorted: uint8 (len(pen), 28, 28)."""
    return np.stack([stroke_view(s) for s in pen.strokes]) if len(pen) else np.zeros((0, 28, 28), np.uint8)


@dataclass(frozen=True)
class PenSet:
    """The pen digits of a run, rendered: each training digit's views, and the held-out writers' digits
    as the pad's strokes and as one image each (uint8 (n, 28, 28) ink; labels 0-9)."""

    views: np.ndarray  # (n, views, 28, 28)
    labels: np.ndarray  # (n,)
    val_strokes: np.ndarray  # (m, 28, 28)
    val_images: np.ndarray  # (m, 28, 28)
    val_labels: np.ndarray  # (m,)
    summary: dict


def prepare(pen: PenDigits, stroke_views: int, image_views: int, seed: int) -> PenSet:
    """Render the train split of `pen` for a run: VALIDATION_WRITERS of its writers held out (`hold_out_writers`),
    the rest given `stroke_views` + `image_views` views each (`render_views`). The dev split is never touched."""
    train = pen.split("train")
    if not len(train):
        raise PenDataUnavailable(f"{pen.origin} holds no digits of the train split (split == 'train').")
    held = hold_out_writers(train, seed=seed)
    fit, val = train.subset(~held), train.subset(held)
    rng = np.random.default_rng(seed)
    val_images = np.stack([np.rint(preprocess(canvas_image(s, rng)) * 255.0).astype(np.uint8) for s in val.strokes]) \
        if len(val) else np.zeros((0, 28, 28), np.uint8)
    summary = {"source": pen.origin, "sha256": pen.sha256, "train": fit.counts(), "validation": val.counts(),
               "views": {"strokes": stroke_views, "images": image_views},
               "distortion": {"rotation_deg": ROTATION_DEG, "shear": SHEAR, "aspect": ASPECT, "bend": BEND,
                              "noise": NOISE, "resample_prob": RESAMPLE_PROB,
                              "resample_spacing": list(RESAMPLE_SPACING),
                              "stroke_pen_width": list(STROKE_PEN_WIDTH), "image_height_px": list(IMAGE_HEIGHT),
                              "image_pen": list(IMAGE_PEN), "paper": PAPER_PROBS}}
    return PenSet(render_views(fit, stroke_views, image_views, seed), fit.labels, plain_views(val), val_images,
                  val.labels, summary)
