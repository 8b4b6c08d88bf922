"""Where the app gets its model: a local file, the Hugging Face Hub, or the bundled copy.

Resolution order:
  1. MODEL_PATH, a local mnist.h5 (an error if it cannot be loaded: it was asked for);
  2. hf_hub_download(MODEL_REPO, "mnist.h5", revision=MODEL_REVISION), which uses the
     cache without network when the file is there, and honours HF_HUB_OFFLINE=1. One
     request of at most HUB_TIMEOUT_S first tells whether the Hub can be reached: when
     it cannot, only the cache is looked at (huggingface_hub would otherwise retry
     for about 25 s before giving up, and the app would start that much later);
  3. the bundled model/mnist.h5, with a warning, when the Hub cannot be reached and
     nothing is cached, the repo or file is missing, or the file cannot be loaded.

The number reader (numbers.h5, `number_model`) and the path model (trajectory.h5,
`trajectory`) come from beside the digit model: the local file's folder, the same Hub
repo and revision, or the bundled folder. Where that source has none, the bundled file
is used; where none loads, the app reads images with the splitter alone, or the pad's
strokes with the digit CNN alone, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import keras

from mnist_sketch.model import ModelFileError, load_model_file
from mnist_sketch.number_model import load_number_model_file
from mnist_sketch.trajectory import load_path_model_file

log = logging.getLogger(__name__)

HUB_TIMEOUT_S = 5.0  # seconds to wait for the Hub before using the cache or the bundled model
DEFAULT_MODEL_REPO = "mnist-sketch/mnist-sketch-cnn"
DEFAULT_MODEL_REVISION = "main"
MODEL_FILENAME = "mnist.h5"
METRICS_FILENAME = "metrics.json"
NUMBER_MODEL_FILENAME = "numbers.h5"
PATH_MODEL_FILENAME = "trajectory.h5"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "model"


@dataclass(frozen=True)
class ModelSource:
    """A model file and where it came from."""

    path: Path
    origin: str  # "local", "hub" or "bundled"
    repo_id: str | None = None
    commit: str | None = None
    metrics: Mapping | None = None  # the model's metrics.json, when it has one
    number_path: Path | None = None  # the number reader's numbers.h5 beside the model, when there is one
    path_model_path: Path | None = None  # the path model's trajectory.h5 beside the model, when there is one

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("test_accuracy") if self.metrics else None

    def describe(self) -> str:
        """Where the model comes from, in a visitor's words: 'mnist-sketch/mnist-sketch-cnn on the Hugging
        Face Hub, version 1a2b3c4', 'the copy that comes with this app', 'the file mnist.h5 on this server'.

        Public (the page's footer shows it): a local file is named without its folder, which is
        the server's business.
        """
        if self.origin == "hub":
            return f"{self.repo_id} on the Hugging Face Hub, version {(self.commit or '?')[:7]}"
        if self.origin == "bundled":
            return "the copy that comes with this app"
        return f"the file {self.path.name} on this server"


def _read_metrics(path: Path | None) -> dict | None:
    try:
        return json.loads(path.read_text()) if path and path.is_file() else None
    except (OSError, ValueError):
        log.warning("Ignoring unreadable metrics file %s", path)
        return None


def bundled_source() -> ModelSource:
    return ModelSource(BUNDLED_DIR / MODEL_FILENAME, "bundled", metrics=_read_metrics(BUNDLED_DIR / METRICS_FILENAME),
                       number_path=BUNDLED_DIR / NUMBER_MODEL_FILENAME,
                       path_model_path=BUNDLED_DIR / PATH_MODEL_FILENAME)


def _hub_source(repo_id: str, revision: str) -> ModelSource | None:
    """Download (or find in the cache) the model and its metrics; None when the Hub cannot provide them."""
    import httpx2  # huggingface_hub's HTTP client (not httpx)
    from huggingface_hub import HfApi, constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError

    unreachable = None  # why the Hub cannot be reached, when it cannot
    if not constants.HF_HUB_OFFLINE:
        try:
            HfApi().model_info(repo_id, revision=revision, timeout=HUB_TIMEOUT_S)
        except (httpx2.TransportError, OSError) as exc:  # no answer at all, not a refusal
            unreachable = f"The Hub at {constants.ENDPOINT} cannot be reached ({exc.__class__.__name__})"
        except (HfHubHTTPError, HFValidationError):  # it answered: hf_hub_download says what is wrong
            pass
    offline = constants.HF_HUB_OFFLINE or unreachable is not None
    fetch_errors = (HfHubHTTPError, EntryNotFoundError, HFValidationError, httpx2.HTTPError, OSError)
    try:
        path = Path(hf_hub_download(repo_id, MODEL_FILENAME, revision=revision, local_files_only=offline,
                                    etag_timeout=HUB_TIMEOUT_S))
    except fetch_errors as exc:
        # Offline and not cached, unreachable, 401/404, a bad name: all mean "use the bundled model".
        why = (f"{unreachable} and no copy of {MODEL_FILENAME} from {repo_id}@{revision} is cached"
               if unreachable else f"Could not get {MODEL_FILENAME} from the Hub repo {repo_id}@{revision} "
               f"({exc.__class__.__name__}: {exc})")
        log.warning("%s; using the bundled model.", why)
        return None
    if unreachable:
        log.warning("%s; using the cached copy of %s@%s.", unreachable, repo_id, revision)
    optional = {}  # metrics (else the UI shows no accuracy), the number reader and path model (else the bundled)
    for filename in (METRICS_FILENAME, NUMBER_MODEL_FILENAME, PATH_MODEL_FILENAME):
        try:
            optional[filename] = Path(hf_hub_download(repo_id, filename, revision=revision, local_files_only=offline,
                                                      etag_timeout=HUB_TIMEOUT_S))
        except fetch_errors:
            optional[filename] = None
    # The cache stores files under snapshots/<commit sha>/.
    return ModelSource(path, "hub", repo_id=repo_id, commit=path.parent.name,
                       metrics=_read_metrics(optional[METRICS_FILENAME]), number_path=optional[NUMBER_MODEL_FILENAME],
                       path_model_path=optional[PATH_MODEL_FILENAME])


def load_app_model(environ: Mapping[str, str] = os.environ) -> tuple[keras.Model, ModelSource]:
    """The model the app serves, resolved in the order of this module's docstring."""
    if environ.get("MODEL_PATH"):
        path = Path(environ["MODEL_PATH"])
        beside = {name: path.with_name(name) for name in (NUMBER_MODEL_FILENAME, PATH_MODEL_FILENAME)}
        beside = {name: file if file.is_file() else None for name, file in beside.items()}
        source = ModelSource(path, "local", metrics=_read_metrics(path.with_name(METRICS_FILENAME)),
                             number_path=beside[NUMBER_MODEL_FILENAME], path_model_path=beside[PATH_MODEL_FILENAME])
        return load_model_file(path), source
    repo_id = environ.get("MODEL_REPO") or DEFAULT_MODEL_REPO
    source = _hub_source(repo_id, environ.get("MODEL_REVISION") or DEFAULT_MODEL_REVISION)
    if source is not None:
        try:
            return load_model_file(source.path), source
        except ModelFileError as exc:
            log.warning("%s; using the bundled model instead.", exc)
    source = bundled_source()
    return load_model_file(source.path), source


def _load_beside(found: Path | None, filename: str,
                 load: Callable[[Path], keras.Model]) -> tuple[keras.Model | None, list[str]]:
    """The model of the file `found` beside the digit model, else of the bundled `filename`: (the model or
    None, why each file tried did not load)."""
    failures = []
    for path in dict.fromkeys(p for p in (found, BUNDLED_DIR / filename) if p is not None):
        try:
            return load(path), failures
        except ModelFileError as exc:
            failures.append(str(exc))
    return None, failures


def load_number_model(source: ModelSource) -> keras.Model | None:
    """The number reader to serve beside `source`'s digit model: its numbers.h5, else the bundled one;
    None, with a warning, when neither loads (images are then read by the splitter alone)."""
    model, failures = _load_beside(source.number_path, NUMBER_MODEL_FILENAME, load_number_model_file)
    for failure in failures:
        log.warning("%s", failure)
    if model is None:
        log.warning("No number reader could be loaded: images of numbers are read by the splitter alone, so "
                    "digits that touch may be read as one. Restore %s (git checkout model/) to fix this.",
                    BUNDLED_DIR / NUMBER_MODEL_FILENAME)
    return model


def load_path_model(source: ModelSource) -> keras.Model | None:
    """The path model to serve beside `source`'s digit model: its trajectory.h5, else the bundled one;
    None when neither loads, the pad's strokes then read by the digit CNN alone. Says so in one warning."""
    model, failures = _load_beside(source.path_model_path, PATH_MODEL_FILENAME, load_path_model_file)
    if model is None:
        log.warning("No path model could be loaded (%s): the pad's strokes are read by the digit CNN alone. "
                    "Restore %s (git checkout model/) to fix this.", "; ".join(failures),
                    BUNDLED_DIR / PATH_MODEL_FILENAME)
    elif failures:
        log.warning("%s; using the bundled path model instead.", failures[0])
    return model
