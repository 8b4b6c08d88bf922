"""Where the app gets its model: a local file, the Hugging Face Hub, or the bundled copy.

Resolution order:
  1. MODEL_PATH, a local mnist.h5 (an error if it cannot be loaded: it was asked for);
  2. hf_hub_download(MODEL_REPO, "mnist.h5", revision=MODEL_REVISION), which uses the
     cache without network when the file is there, and honours HF_HUB_OFFLINE=1;
  3. the bundled model/mnist.h5, with a warning, when the Hub cannot be reached, the
     repo or file is missing, or the downloaded file cannot be loaded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import keras

from mnist_sketch.model import ModelFileError, load_model_file

log = logging.getLogger(__name__)

DEFAULT_MODEL_REPO = "mnist-sketch/mnist-sketch-cnn"
DEFAULT_MODEL_REVISION = "main"
MODEL_FILENAME = "mnist.h5"
METRICS_FILENAME = "metrics.json"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "model"


@dataclass(frozen=True)
class ModelSource:
    """A model file and where it came from."""

    path: Path
    origin: str  # "local", "hub" or "bundled"
    repo_id: str | None = None
    commit: str | None = None
    metrics: Mapping | None = None  # the model's metrics.json, when it has one

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("test_accuracy") if self.metrics else None

    def describe(self) -> str:
        """E.g. 'mnist-sketch/mnist-sketch-cnn @ 1a2b3c4', 'bundled model', 'local file /x/mnist.h5'."""
        if self.origin == "hub":
            return f"{self.repo_id} @ {(self.commit or '?')[:7]}"
        return "bundled model" if self.origin == "bundled" else f"local file {self.path}"


def _read_metrics(path: Path | None) -> dict | None:
    try:
        return json.loads(path.read_text()) if path and path.is_file() else None
    except (OSError, ValueError):
        log.warning("Ignoring unreadable metrics file %s", path)
        return None


def bundled_source() -> ModelSource:
    return ModelSource(BUNDLED_DIR / MODEL_FILENAME, "bundled", metrics=_read_metrics(BUNDLED_DIR / METRICS_FILENAME))


def _hub_source(repo_id: str, revision: str) -> ModelSource | None:
    """Download (or find in the cache) the model and its metrics; None when the Hub cannot provide them."""
    import httpx2  # huggingface_hub's HTTP client (not httpx)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError

    fetch_errors = (HfHubHTTPError, EntryNotFoundError, HFValidationError, httpx2.HTTPError, OSError)
    try:
        path = Path(hf_hub_download(repo_id, MODEL_FILENAME, revision=revision))
    except fetch_errors as exc:
        # Offline and not cached, unreachable, 401/404, a bad name: all mean "use the bundled model".
        log.warning("Could not get %s from the Hub repo %s@%s (%s: %s); using the bundled model.",
                    MODEL_FILENAME, repo_id, revision, exc.__class__.__name__, exc)
        return None
    try:
        metrics_path = Path(hf_hub_download(repo_id, METRICS_FILENAME, revision=revision))
    except fetch_errors:  # metrics are optional: the UI then shows no accuracy
        metrics_path = None
    # The cache stores files under snapshots/<commit sha>/.
    return ModelSource(path, "hub", repo_id=repo_id, commit=path.parent.name, metrics=_read_metrics(metrics_path))


def load_app_model(environ: Mapping[str, str] = os.environ) -> tuple[keras.Model, ModelSource]:
    """The model the app serves, resolved in the order of this module's docstring."""
    if environ.get("MODEL_PATH"):
        path = Path(environ["MODEL_PATH"])
        source = ModelSource(path, "local", metrics=_read_metrics(path.with_name(METRICS_FILENAME)))
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
