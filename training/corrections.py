"""Visitors' corrections as extra training digits: `python -m training.train --extra-data PATH_OR_DATASET_REPO`.

The records are those the app keeps (`space.feedback`), read from a
local folder or downloaded from a Hub dataset repo. Each is framed the way the
app frames a drawing: its strokes split into digits (`mnist_sketch.segment`),
each digit drawn into MNIST's 28x28 frame; a number gives its digits, labelled
by the answer's digits, when it splits into as many digits as the answer has
(otherwise it is skipped and counted). A one-digit answer takes the whole
drawing as its digit, even one the app had split in two. A record that is not
one the app would keep (not JSON, nested too deep, over MAX_RECORD_BYTES, an
answer that is not ASCII digits such as "²", strokes the app would refuse) is
skipped and counted too, never fatal.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from space.feedback import RECORD_PATTERN, parse_answer
from mnist_sketch.preprocess import EmptyDrawing
from mnist_sketch.segment import pieces
from mnist_sketch.strokes import InvalidStrokes, Strokes, frame_strokes, parse_strokes
from training.data import DataUnavailable

REPEAT = 5  # times each correction is shown per epoch: 20 let a few mislabelled ones hurt (benchmarks/HISTORY.md)
MAX_RECORD_BYTES = 4 * 2**20  # the app's records take up to about 1 MB (10,000 points, a PNG, the inputs)


class Corrections(NamedTuple):
    """Digits from corrections: uint8 images (n, 28, 28), 255 = ink, uint8 labels (n,), each digit's strokes
    ((k, 2) points in the pad's pixels, in writing order, for the path model); and their story."""

    x: np.ndarray
    y: np.ndarray
    source: str  # the folder, or "repo@commit"
    records: int  # records read
    skipped: int  # records that were unusable, or whose drawing did not split into the answer's digits
    strokes: list[tuple[np.ndarray, ...]]  # each digit's own strokes (for the path model)


class CorrectionsUnavailable(DataUnavailable):
    """The corrections could be neither read from the folder nor downloaded; the message says what to do."""


def fetch(source: str) -> tuple[Path, str]:
    """A local folder as it is, or a Hub dataset repo downloaded: (folder, a description of where from)."""
    if Path(source).is_dir():
        return Path(source), str(source)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    try:
        folder = Path(snapshot_download(source, repo_type="dataset", allow_patterns=[RECORD_PATTERN]))
    except (HfHubHTTPError, HFValidationError, OSError, ValueError) as exc:
        raise CorrectionsUnavailable(
            f"--extra-data {source!r} is neither a folder nor a Hub dataset repo that can be downloaded "
            f"({exc.__class__.__name__}). Pass a folder of corrections (FEEDBACK_DIR) or a dataset repo id, "
            "with HF_TOKEN set for a private one.") from None
    return folder, f"{source}@{folder.name}"  # the cache keeps snapshots under their commit sha


def _split_as(strokes: Strokes, count: int) -> tuple[list[np.ndarray], list[tuple[np.ndarray, ...]]] | None:
    """The drawing's digit inputs and their strokes, from the first way of reading its pieces that gives
    `count` digits; a one-digit answer takes the whole drawing, even one the app split in two."""
    if count == 1:
        return [frame_strokes(strokes)], [strokes.strokes]
    for options in itertools.islice(itertools.product(*pieces(strokes)), 256):
        digits = [image for option in options for image in option.inputs]
        if len(digits) == count:
            return digits, [digit for option in options for digit in option.strokes]
    return None


def load_corrections(source: str) -> Corrections:
    """The digits of every record in `source` (a folder or a dataset repo id)."""
    folder, where = fetch(source)
    images, labels, digit_strokes, records, skipped = [], [], [], 0, 0
    for path in sorted(folder.glob(RECORD_PATTERN)):
        records += 1
        try:
            if path.stat().st_size > MAX_RECORD_BYTES:
                raise ValueError("too large to be a record")
            record = json.loads(path.read_text())
            answer = parse_answer(record["answer"])  # ASCII digits only, as the app keeps them
            split = _split_as(parse_strokes(record["strokes"]), len(answer)) if answer else None
        except (OSError, ValueError, KeyError, TypeError, RecursionError, InvalidStrokes, EmptyDrawing):
            skipped += 1
            continue
        if split is None:
            skipped += 1
            continue
        images += [np.rint(d * 255).astype(np.uint8) for d in split[0]]
        digit_strokes += split[1]
        labels += [int(c) for c in answer]
    x = np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)
    return Corrections(x, np.array(labels, np.uint8), where, records, skipped, digit_strokes)


def summary(corrections: Corrections, repeat: int) -> dict:
    """What metrics.json and the model card say of the corrections used."""
    return {"source": corrections.source, "records": corrections.records, "skipped": corrections.skipped,
            "digits": len(corrections.y), "repeat": repeat,
            "digits_per_class": {str(d): int((corrections.y == d).sum()) for d in range(10)}}
