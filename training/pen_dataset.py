"""The pen digits as a Hugging Face dataset: Parquet splits `train` and `dev`, one row per digit.

| column | feature | content |
|---|---|---|
| `label` | ClassLabel "0"-"9" | the digit |
| `strokes` | List(List(List(float32, length=2))) | the pen's strokes in writing order, each a list of [x, y], y down |
| `image` | Image (28x28 L PNG) | the strokes as the app reads them from its pad (`pen_digits.stroke_view`) |
| `writer`, `source`, `group` | string | the writer (unique across sources); unipen, pendigits or uji; UNIPEN's group |

`write_parquet` writes such a folder (`data/{split}-00000-of-00001.parquet`, the layout that
`Dataset.push_to_hub` writes and that `load_dataset` reads by split name, with or without the card);
`load_pen_dataset` reads a local folder or a Hub dataset repo back into `PenDigits` through
`datasets.load_dataset`, so its cache serves later runs, offline too (HF_HUB_OFFLINE=1). A Hub repo that
still holds the stroke file it was first published as (`pen_digits.npz`, no Parquet yet) is read from that
file, fetched with `hf_hub_download`. What it reads is untrusted: the columns' types, the labels, the points
and the sizes are checked before use.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, List, Value, load_dataset
from datasets.data_files import EmptyDatasetError
from datasets.exceptions import DataFilesNotFoundError, DatasetNotFoundError, DatasetsError
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id
from PIL import Image as PILImage

from mnist_sketch.strokes import MAX_POINTS, MAX_STROKES, MAX_TOTAL_POINTS
from training.pen_digits import DEFAULT_REPO, FILENAME, PenDataUnavailable, PenDigits, load_pen_digits, plain_views

SPLITS = ("train", "dev")
FEATURES = Features({
    "label": ClassLabel(names=[str(d) for d in range(10)]),
    "strokes": List(List(List(Value("float32"), length=2))),
    "image": Image(),
    "writer": Value("string"),
    "source": Value("string"),
    "group": Value("string"),
})
TRAINING_COLUMNS = ("label", "strokes", "writer", "source")  # what PenDigits keeps (the image is re-rendered)
MAX_DIGITS = 1_000_000  # 50 times the published dataset; more is not pen data of this kind
MAX_NAME = 200  # characters of a writer's or source's name


def shard_path(split: str) -> str:
    """The file of a split inside the folder: the name pattern `load_dataset` maps to the split."""
    return f"data/{split}-00000-of-00001.parquet"


def to_dataset(pen: PenDigits, groups: np.ndarray, split: str) -> Dataset:
    """The digits of `pen` in `split`, in file order, as a Dataset of FEATURES; `groups` (len(pen),) str."""
    which = pen.splits == split
    part = pen.subset(which)
    return Dataset.from_dict({
        "label": part.labels.tolist(),
        "strokes": [[stroke.tolist() for stroke in digit] for digit in part.strokes],
        "image": [PILImage.fromarray(view, mode="L") for view in plain_views(part)],
        "writer": part.writers.tolist(),
        "source": part.datasets.tolist(),
        "group": np.asarray(groups)[which].tolist(),
    }, features=FEATURES, split=split)


def write_parquet(pen: PenDigits, groups: np.ndarray, folder: Path) -> dict[str, Dataset]:
    """Write every split of `pen` as `folder/shard_path(split)`; returns the datasets written by split."""
    written = {}
    for split in SPLITS:
        dataset = to_dataset(pen, groups, split)
        path = folder / shard_path(split)
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(path))
        written[split] = dataset
    return written


def load_pen_dataset(source: str | Path) -> PenDigits:
    """The pen digits of a Parquet folder (as `write_parquet` or the Hub's dataset repo holds them) or of a
    Hub dataset repo id, through `datasets.load_dataset` and its cache; `train` rows come before `dev` rows,
    each split in its file's order. Raises PenDataUnavailable with a message saying what to do."""
    local = Path(source).is_dir()
    if not local:
        try:
            validate_repo_id(str(source))
        except HFValidationError:
            raise PenDataUnavailable(f"No pen data at {source}: it is neither a file or folder here nor a Hub "
                                     f"dataset repo id such as {DEFAULT_REPO}.") from None
    try:
        loaded = load_dataset(str(source))
    except (DataFilesNotFoundError, EmptyDatasetError):  # no data file it knows (an .npz is none)
        if local:
            raise PenDataUnavailable(f"The folder {source} holds no Parquet splits (data/train-*.parquet, "
                                     "data/dev-*.parquet): pass a folder that `push_pen_data --out` wrote.") from None
        return _published_stroke_file(str(source))
    except DatasetNotFoundError:
        raise PenDataUnavailable(
            f"--pen-data {str(source)!r} is neither a local .npz or Parquet folder nor a Hub dataset repo that "
            f"this machine can see. Pass a file, a folder, or a dataset repo id such as {DEFAULT_REPO} (with "
            "HF_TOKEN set for a private one).") from None
    except ConnectionError as exc:  # also what datasets raises offline for a dataset it has not cached
        raise PenDataUnavailable(
            f"Cannot load the Hub dataset {str(source)!r}: the Hub cannot be reached and the dataset is not in "
            f"the local cache ({exc.__class__.__name__}). Connect once (it is cached afterwards), or pass "
            "`--pen-data` a local .npz or Parquet folder.") from None
    except (DatasetsError, HfHubHTTPError, HFValidationError, pa.ArrowException, OSError, ValueError) as exc:
        what = "the folder" if local else "the Hub dataset"
        raise PenDataUnavailable(f"Cannot read pen digits from {what} {str(source)!r}: "
                                 f"{exc.__class__.__name__}: {str(exc)[:300]}") from None
    if not isinstance(loaded, DatasetDict) or not set(loaded) <= set(SPLITS) or not loaded:
        raise PenDataUnavailable(f"{source}: expected the splits {', '.join(SPLITS)}, found "
                                 f"{sorted(loaded) if isinstance(loaded, DatasetDict) else type(loaded).__name__}.")
    parts = [_columns(loaded[split], split, source) for split in SPLITS if split in loaded]
    return _pen_digits(parts, _origin(loaded, source, local))


def _published_stroke_file(repo_id: str) -> PenDigits:
    """The digits of a Hub dataset repo that holds no Parquet but the stroke file it was first published as."""
    try:
        path = Path(hf_hub_download(repo_id, FILENAME, repo_type="dataset"))
    except (EntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise PenDataUnavailable(f"The Hub dataset {repo_id!r} holds neither Parquet splits nor {FILENAME} "
                                 f"({exc.__class__.__name__}): publish it with `python -m training.push_pen_data`, "
                                 "or pass `--pen-data` a local .npz or Parquet folder.") from None
    pen = load_pen_digits(path)  # checked as any local stroke file is
    return dataclasses.replace(pen, origin=f"{repo_id}@{path.parent.name}")  # the cache's folder is the commit


def _origin(loaded: DatasetDict, source: str | Path, local: bool) -> str:
    """Where the digits came from: the folder, or `repo@commit` for a Hub repo."""
    if local:
        return str(source)
    # datasets caches a Hub dataset's Arrow files in a folder named after the commit it read; a test checks it.
    files = next(iter(loaded.values())).cache_files
    return f"{source}@{Path(files[0]['filename']).parent.name}" if files else str(source)


def _columns(dataset: Dataset, split: str, source: str | Path) -> dict[str, np.ndarray]:
    """One split's checked columns: points (N, 2) float32, strokes per digit (M,), points per stroke (S,),
    labels (M,) uint8, writers (M,) and sources (M,) str."""
    where = f"{source} ({split} split)"
    wrong = [c for c in TRAINING_COLUMNS if dataset.features.get(c) != FEATURES[c]]
    if wrong:
        found = {c: dataset.features.get(c, "missing") for c in wrong}
        raise PenDataUnavailable(f"{where}: the columns {found} should be {({c: FEATURES[c] for c in wrong})}.")
    if len(dataset) > MAX_DIGITS:
        raise PenDataUnavailable(f"{where}: {len(dataset):,} digits, more than {MAX_DIGITS:,}.")
    table = dataset.select_columns(list(TRAINING_COLUMNS)).with_format("arrow")[:]
    digits = table.column("strokes").combine_chunks()
    strokes = digits.flatten()
    points = strokes.flatten()
    xy = points.flatten()
    if any(level.null_count for level in (digits, strokes, points, xy)) or \
            any(table.column(c).null_count for c in TRAINING_COLUMNS):
        raise PenDataUnavailable(f"{where}: some values are missing (null).")
    per_digit = digits.value_lengths().to_numpy().astype(np.int64)
    per_stroke = strokes.value_lengths().to_numpy().astype(np.int64)
    xy = xy.to_numpy().astype(np.float32, copy=False).reshape(-1, 2)
    points_per_digit = np.add.reduceat(per_stroke, np.r_[0, np.cumsum(per_digit)[:-1]]) if len(per_digit) else per_digit
    if len(per_digit) and (per_digit.min() < 1 or per_stroke.min() < 1):
        raise PenDataUnavailable(f"{where}: every digit needs at least one stroke of at least one point.")
    if len(per_digit) and (per_digit.max() > MAX_STROKES or per_stroke.max() > MAX_POINTS
                           or points_per_digit.max() > MAX_TOTAL_POINTS):
        raise PenDataUnavailable(f"{where}: a digit exceeds what the app's pad takes ({MAX_STROKES} strokes of "
                                 f"{MAX_POINTS} points, {MAX_TOTAL_POINTS} points in all).")
    if not np.isfinite(xy).all():
        raise PenDataUnavailable(f"{where}: some points are not finite numbers.")
    labels = table.column("label").to_numpy()
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise PenDataUnavailable(f"{where}: labels must be digits 0-9, found {labels.min()} to {labels.max()}.")
    names = {c: np.array(table.column(c).to_pylist(), dtype=str) for c in ("writer", "source")}
    if any(len(n) and (min(map(len, n)) < 1 or max(map(len, n)) > MAX_NAME) for n in names.values()):
        raise PenDataUnavailable(f"{where}: writer and source names must be 1 to {MAX_NAME} characters.")
    return {"points": xy, "per_digit": per_digit, "per_stroke": per_stroke, "labels": labels.astype(np.uint8),
            "writers": names["writer"], "sources": names["source"], "split": np.full(len(labels), split)}


def _pen_digits(parts: list[dict[str, np.ndarray]], origin: str) -> PenDigits:
    """The splits' columns joined into PenDigits, with the sha256 of the arrays in the layout of the .npz
    (`points`, `stroke_offsets`, `sample_offsets`, `labels`, `writers`, `split`, `dataset`) in this order."""
    joined = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    stroke_offsets = np.r_[0, np.cumsum(joined["per_stroke"])].astype(np.int64)
    sample_offsets = np.r_[0, np.cumsum(joined["per_digit"])].astype(np.int64)
    points = joined["points"]
    strokes = [[points[stroke_offsets[k] : stroke_offsets[k + 1]] for k in range(sample_offsets[i], sample_offsets[i + 1])]
               for i in range(len(joined["labels"]))]
    digest = hashlib.sha256()
    for array in (points, stroke_offsets, sample_offsets, joined["labels"], joined["writers"], joined["split"],
                  joined["sources"]):
        digest.update(np.ascontiguousarray(array).tobytes())
    return PenDigits(strokes, joined["labels"], joined["writers"], joined["split"], joined["sources"], origin,
                     digest.hexdigest())
