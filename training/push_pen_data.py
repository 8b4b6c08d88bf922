"""Publish the pen-drawn digits as a Hub dataset: the stroke file and its dataset card, in one commit.

    python -m training.push_pen_data ../shared/data/pen_digits.npz [mnist-sketch/pen-digits] [--private]

The card (README.md, rendered from the top-level dataset_card.md by
huggingface_hub's DatasetCard) gives the Hub's metadata (licence, task, size,
pretty name), the sources with their citations, the writers, splits and counts
measured from the file, its format and how to render a digit. The token comes
from HF_TOKEN or the login cache and is never printed; a failed push changes
nothing, and the same command retries it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from huggingface_hub import CommitInfo, CommitOperationAdd, DatasetCard, DatasetCardData, HfApi

from training.pen_digits import DEFAULT_REPO, FILENAME, SOURCES, PenDataUnavailable, PenDigits, load_pen_digits
from training.push import PUSH_ERRORS, PushError, explain_failure, require_token

TEMPLATE = Path(__file__).resolve().parent.parent / "dataset_card.md"
PRETTY_NAME = "Pen-drawn digits (mnist-sketch)"
PROJECT_URL = "https://huggingface.co/spaces/mnist-sketch/mnist-sketch"


def size_category(count: int) -> str:
    """The Hub's size category of a dataset of `count` examples, e.g. "10K<n<100K"."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    return next((name for bound, name in bounds if count < bound), "n>1M")


def dataset_card(pen: PenDigits, repo_id: str) -> DatasetCard:
    """The dataset card of the stroke file `pen` (every split), to be published as `repo_id`."""
    sources = {}
    for name in sorted(set(pen.datasets)):
        mine = pen.subset(pen.datasets == name)
        sources[name] = {**SOURCES.get(name, {"name": name, "what": "", "license": "see the source",
                                                "citation": "see the source"}),
                         **{split: mine.split(split).counts().get(name, {"digits": 0, "writers": 0})
                            for split in ("train", "dev")}}
    splits = {split: {"digits": int((pen.splits == split).sum()),
                      "writers": len(np.unique(pen.writers[pen.splits == split]))} for split in ("train", "dev")}
    labels = {split: np.bincount(pen.labels[pen.splits == split], minlength=10).tolist() for split in ("train", "dev")}
    data = DatasetCardData(
        license="cc-by-4.0",
        pretty_name=PRETTY_NAME,
        task_categories=["image-classification"],
        size_categories=[size_category(len(pen))],
        source_datasets=["original"],
        tags=["handwriting", "digits", "online-handwriting", "pen-strokes", "mnist", "sketch"],
    )
    return DatasetCard.from_template(
        data, template_path=str(TEMPLATE), pretty_name=PRETTY_NAME, repo_id=repo_id, filename=FILENAME,
        project_url=PROJECT_URL, total=len(pen), writers=len(np.unique(pen.writers)), sources=sources,
        splits=splits, labels=labels, sha256=pen.sha256)


def push_pen_data(path: Path, repo_id: str = DEFAULT_REPO, private: bool = False) -> CommitInfo:
    """Create the dataset repo `repo_id` if needed and upload the stroke file at `path` with its card, in one
    commit. Raises PenDataUnavailable for a file that is not pen data, PushError when the Hub says no."""
    if not Path(path).is_file():  # load_pen_digits would take a name that is no file for a repo id
        raise PenDataUnavailable(f"No pen data file at {path}: pass the stroke file ({FILENAME}) to publish.")
    pen = load_pen_digits(path)  # checks the file before anything is sent
    card = dataset_card(pen, repo_id)
    token = require_token()
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.create_commit(
            repo_id, repo_type="dataset",
            operations=[CommitOperationAdd(FILENAME, str(path)),
                        CommitOperationAdd("README.md", str(card).encode())],
            commit_message=f"Upload {FILENAME}: {len(pen):,} pen-drawn digits and the dataset card",
        )
    except PUSH_ERRORS as exc:
        raise PushError(explain_failure(exc, repo_id, token, "Nothing was uploaded")) from None
    print(f"Pushed {path} ({len(pen):,} digits) and its card to {info.repo_url}")
    print(f"commit {info.oid}: {info.commit_url}")
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.push_pen_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help=f"the stroke file ({FILENAME}: see training/pen_digits.py)")
    parser.add_argument("repo_id", nargs="?", default=DEFAULT_REPO,
                        help=f"the Hub dataset repo (default: {DEFAULT_REPO})")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    args = parser.parse_args(argv)
    try:
        push_pen_data(args.file, args.repo_id, args.private)
    except (PushError, PenDataUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
