"""Publish the pen-drawn digits as a Hub dataset: Parquet splits `train` and `dev` and the dataset card, in one commit.

    python -m training.push_pen_data ../shared/data/pen_digits.npz [mnist-sketch/pen-digits] [--out DIR]
        [--private] [--no-push]

The stroke file (.npz, see training/pen_digits.py) becomes a folder that `datasets.load_dataset` reads
(training/pen_dataset.py: one row per digit, its label, strokes, 28x28 picture, writer, source and group):
`data/train-00000-of-00001.parquet`, `data/dev-00000-of-00001.parquet` and README.md, the card rendered
from the top-level dataset_card.md by huggingface_hub's DatasetCard, with the Hub's metadata (licence,
task, size, the splits' files, the features), the sources with their citations, the writers, splits and
counts measured from the file, and how to use it. The folder is written in full (to `--out`, else a
temporary folder) before anything is sent; the push replaces the repo's earlier data files. The token
comes from HF_TOKEN or the login cache and is never printed; a failed push changes nothing, and the same
command retries it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetInfo, SplitDict, SplitInfo, disable_progress_bars
from datasets.info import DatasetInfosDict
from huggingface_hub import CommitInfo, DatasetCard, DatasetCardData, HfApi

from training.pen_dataset import FEATURES, SPLITS, shard_path, write_parquet
from training.pen_digits import DEFAULT_REPO, SOURCES, PenDataUnavailable, PenDigits, load_pen_digits
from training.push import PUSH_ERRORS, PushError, explain_failure, require_token

TEMPLATE = Path(__file__).resolve().parent.parent / "dataset_card.md"
PRETTY_NAME = "Pen-drawn digits (mnist-sketch)"
PROJECT_URL = "https://huggingface.co/spaces/mnist-sketch/mnist-sketch"
STALE = ["*.parquet", "*.npz"]  # earlier data files of the repo (the .npz it once held), replaced by the push


def size_category(count: int) -> str:
    """The Hub's size category of a dataset of `count` examples, e.g. "10K<n<100K"."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    return next((name for bound, name in bounds if count < bound), "n>1M")


def dataset_info(written: dict[str, Dataset], folder: Path) -> DatasetInfo:
    """The features and splits of the folder's Parquet files, as the card's `dataset_info` states them."""
    splits = SplitDict()
    for split, dataset in written.items():
        splits.add(SplitInfo(split, num_bytes=dataset.data.nbytes, num_examples=len(dataset)))
    return DatasetInfo(features=FEATURES, splits=splits,
                       download_size=sum((folder / shard_path(s)).stat().st_size for s in written),
                       dataset_size=sum(d.data.nbytes for d in written.values()))


def dataset_card(pen: PenDigits, repo_id: str, info: DatasetInfo) -> DatasetCard:
    """The dataset card of the digits `pen` (every split), whose Parquet files `info` describes, as `repo_id`."""
    sources = {}
    for name in sorted(set(pen.datasets)):
        mine = pen.subset(pen.datasets == name)
        sources[name] = {**SOURCES.get(name, {"name": name, "what": "", "license": "see the source",
                                                "citation": "see the source"}),
                         **{split: mine.split(split).counts().get(name, {"digits": 0, "writers": 0})
                            for split in SPLITS}}
    splits = {split: {"digits": int((pen.splits == split).sum()),
                      "writers": len(np.unique(pen.writers[pen.splits == split]))} for split in SPLITS}
    labels = {split: np.bincount(pen.labels[pen.splits == split], minlength=10).tolist() for split in SPLITS}
    data = DatasetCardData(
        license="cc-by-4.0",
        pretty_name=PRETTY_NAME,
        task_categories=["image-classification"],
        size_categories=[size_category(len(pen))],
        source_datasets=["original"],
        tags=["handwriting", "digits", "online-handwriting", "pen-strokes", "mnist", "sketch"],
        configs=[{"config_name": "default",
                  "data_files": [{"split": split, "path": shard_path(split).replace("00000-of-00001", "*")}
                                 for split in SPLITS]}],
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)  # `dataset_info`, as push_to_hub writes it
    return DatasetCard.from_template(
        data, template_path=str(TEMPLATE), pretty_name=PRETTY_NAME, repo_id=repo_id, project_url=PROJECT_URL,
        total=len(pen), writers=len(np.unique(pen.writers)), sources=sources, splits=splits, labels=labels)


def groups_of(path: Path, pen: PenDigits) -> np.ndarray:
    """The `groups` column of the stroke file (UNIPEN's group, else the source's name); the source's name
    where the file has none. (len(pen),) str."""
    with np.load(path, allow_pickle=False) as z:
        groups = z["groups"].astype(str) if "groups" in z.files else pen.datasets
    if groups.shape != pen.labels.shape:
        raise PenDataUnavailable(f"{path}: `groups` has {len(groups)} entries for {len(pen)} digits.")
    return groups


def write_dataset(path: Path, repo_id: str, folder: Path) -> PenDigits:
    """Write the stroke file at `path` as the dataset folder `folder` (which must be empty or absent):
    the Parquet splits and the card. Returns the digits written."""
    if not Path(path).is_file():  # load_pen_digits would take a name that is no file for a repo id
        raise PenDataUnavailable(f"No pen data file at {path}: pass the stroke file (.npz) to publish.")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise PenDataUnavailable(f"--out {folder} exists and is not an empty folder: choose another.")
    pen = load_pen_digits(path)  # checks the file before anything is written
    if set(pen.splits) - set(SPLITS):
        raise PenDataUnavailable(f"{path}: splits must be {' or '.join(SPLITS)}, found {sorted(set(pen.splits))}.")
    written = write_parquet(pen, groups_of(path, pen), folder)
    dataset_card(pen, repo_id, dataset_info(written, folder)).save(folder / "README.md")
    sizes = ", ".join(f"{s} {len(d):,} digits ({(folder / shard_path(s)).stat().st_size / 1e6:.1f} MB)"
                      for s, d in written.items())
    print(f"Wrote {folder}: {sizes}, and README.md")
    return pen


def push_pen_data(path: Path, repo_id: str = DEFAULT_REPO, private: bool = False, out: Path | None = None,
                  push: bool = True) -> CommitInfo | None:
    """Write the stroke file at `path` as a dataset folder (`out`, else a temporary one) and, with `push`,
    create the dataset repo `repo_id` if needed and upload the folder in one commit. Raises
    PenDataUnavailable for a file that is not pen data, PushError when there is no token or the Hub says no."""
    token = require_token() if push else None  # before the minute of writing the folder
    with tempfile.TemporaryDirectory(prefix="pen-digits-") as scratch:
        folder = out or Path(scratch)
        pen = write_dataset(path, repo_id, folder)
        if not push:
            return None
        api = HfApi(token=token)
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            info = api.upload_folder(
                repo_id=repo_id, repo_type="dataset", folder_path=folder, delete_patterns=list(STALE),
                commit_message=f"Upload {len(pen):,} pen-drawn digits as Parquet splits ({', '.join(SPLITS)}) "
                               "and the dataset card")
        except PUSH_ERRORS as exc:
            raise PushError(explain_failure(exc, repo_id, token, "Nothing was uploaded")) from None
    print(f"Pushed {len(pen):,} digits and their card to {info.repo_url}")
    print(f"commit {info.oid}: {info.commit_url}")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.push_pen_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the stroke file (.npz: see training/pen_digits.py)")
    parser.add_argument("repo_id", nargs="?", default=DEFAULT_REPO,
                        help=f"the Hub dataset repo (default: {DEFAULT_REPO})")
    parser.add_argument("--out", type=Path, help="write the dataset folder here and keep it (an empty or new "
                                                "folder; default: a temporary one)")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--no-push", dest="push", action="store_false", help="only write the folder (needs --out)")
    args = parser.parse_args(argv)
    if not args.push and args.out is None:
        parser.error("--no-push needs --out, the folder to write")
    disable_progress_bars()  # the few seconds of writing Parquet are summed up in one line instead
    try:
        push_pen_data(args.file, args.repo_id, args.private, args.out, args.push)
    except (PushError, PenDataUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
