"""Visitors' corrections: "Wrong? It's a ..." kept as one JSON record per correction, and synced to a Hub dataset.

A record holds the drawing (the pad's strokes and a PNG of them), the 28x28
inputs the model saw, its top 3, the corrected answer, the model it came from
and the UTC time; nothing about the visitor. Each is written to a temporary
file and renamed into FEEDBACK_DIR/<uuid>.json, so a crash never leaves a
half-written record there (a left-over temporary file is never read or
uploaded). With FEEDBACK_REPO set, `start_sync` runs huggingface_hub's
CommitScheduler, which pushes new records to that dataset repo every
FEEDBACK_EVERY_MINUTES.

    FEEDBACK_DIR             folder of the records (default: feedback/ beside app.py)
    FEEDBACK_MAX             records kept at most; saving stops there (default 10,000)
    FEEDBACK_REPO            a Hub dataset repo to sync to, e.g. you/mnist-sketch-corrections (default: none)
    FEEDBACK_EVERY_MINUTES   minutes between two syncs, a fraction allowed (default 5)
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_sketch.segment import MAX_DIGITS
from mnist_sketch.strokes import Strokes, draw_on_paper

if TYPE_CHECKING:  # for annotations only: training reads records without loading TensorFlow
    from mnist_sketch.model_source import ModelSource
    from mnist_sketch.predict import Reading

log = logging.getLogger(__name__)

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "feedback"
DEFAULT_MAX = 10_000
DEFAULT_EVERY_MINUTES = 5.0
RATE_LIMIT = (30, 600.0)  # corrections per visitor's session, per this many seconds
RECORD_PATTERN = "*.json"  # records; temporary files are named .<uuid>.tmp

SAVED = "Saved, thank you: it will help the next model."
BAD_ANSWER = f"Type the right answer as digits only: one digit, or a number of up to {MAX_DIGITS} digits."
NOTHING_DRAWN = "Draw something first: there is nothing to correct."
TOO_FAST = "That is a lot of corrections at once: please wait a few minutes before sending more."
FULL = "Thank you, but no more corrections are being kept for now."
NOT_SAVED = "Sorry, the correction could not be saved (the server's disk): please try again later."


def parse_answer(text: str | None) -> str | None:
    """The visitor's answer as a string of digits ("7", "2026"), or None when it is not one."""
    answer = re.sub(r"\s", "", text or "")
    return answer if re.fullmatch(rf"\d{{1,{MAX_DIGITS}}}", answer) else None


def model_record(source: ModelSource) -> dict[str, Any]:
    """Where the model came from: the Hub repo and commit, or the bundled or a local file and its date."""
    if source.origin == "hub":
        return {"origin": "hub", "repo": source.repo_id, "commit": source.commit}
    return {"origin": source.origin, "file": source.path.name, "created": (source.metrics or {}).get("created")}


def _png(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class FeedbackStore:
    """The corrections folder: saves records, counts them, limits each session's pace."""

    def __init__(self, folder: Path = DEFAULT_DIR, max_records: int = DEFAULT_MAX,
                 rate_limit: tuple[int, float] = RATE_LIMIT, pen_width: float = 20):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_records, self.rate_limit, self.pen_width = max_records, rate_limit, pen_width
        self._count = sum(1 for _ in self.folder.glob(RECORD_PATTERN))
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = defaultdict(deque)  # session -> times of its corrections

    @property
    def count(self) -> int:
        return self._count

    def _allowed(self, session: str) -> bool:
        """Whether `session` may save now (it is then counted); sessions seen long ago are forgotten."""
        limit, window = self.rate_limit
        now = time.monotonic()
        for key in [k for k, times in self._recent.items() if times and times[-1] < now - window]:
            del self._recent[key]
        times = self._recent[session]
        while times and times[0] < now - window:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now)
        return True

    def save(self, session: str, strokes: Strokes, reading: Reading, answer_text: str | None,
             source: ModelSource) -> str:
        """Keep a correction of `reading` (of the drawing `strokes`) to `answer_text`; a sentence for the visitor.

        Nothing is stored for a bad answer, an empty drawing, a session over its rate limit, or a full folder.
        """
        answer = parse_answer(answer_text)
        if answer is None:
            return BAD_ANSWER
        if reading.empty or not strokes.strokes:
            return NOTHING_DRAWN
        with self._lock:
            if self._count >= self.max_records:
                log.warning("Feedback folder %s holds %d corrections, FEEDBACK_MAX: not saving more.",
                            self.folder, self._count)
                return FULL
            if not self._allowed(session):
                log.warning("A session sent %d corrections within %.0f s: not saving more from it for now.",
                            *self.rate_limit)
                return TOO_FAST
            self._count += 1
        record = {
            "id": str(uuid.uuid4()),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "answer": answer,
            "read_as": [{"text": text, "probability": round(p, 6)} for text, p in reading.top(3)],
            "strokes": strokes.to_json(),
            "drawing_png": _png(draw_on_paper(strokes, self.pen_width)),
            "inputs": [np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8).tolist() for x in reading.inputs],
            "model": model_record(source),
        }
        try:
            self._write(record)
        except OSError as exc:
            log.error("Could not save a correction in %s: %s", self.folder, exc)
            with self._lock:
                self._count -= 1
            return NOT_SAVED
        return SAVED

    def _write(self, record: Mapping[str, Any]) -> Path:
        """Write `record` to a temporary file in the folder, then rename it to <id>.json (atomic)."""
        fd, staging = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as file:
                json.dump(record, file)
            path = self.folder / f"{record['id']}.json"
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
        return path


def store_from_env(environ: Mapping[str, str] = os.environ, pen_width: float = 20) -> FeedbackStore:
    """The store configured by FEEDBACK_DIR and FEEDBACK_MAX."""
    return FeedbackStore(Path(environ.get("FEEDBACK_DIR") or DEFAULT_DIR),
                         int(environ.get("FEEDBACK_MAX") or DEFAULT_MAX), pen_width=pen_width)


def start_sync(store: FeedbackStore, environ: Mapping[str, str] = os.environ) -> Any | None:
    """With FEEDBACK_REPO set, a CommitScheduler pushing new records to that dataset repo; else None.

    Without a token, or when the Hub refuses the repo, one warning is logged
    and the records stay in the folder; nothing is lost.
    """
    repo_id = environ.get("FEEDBACK_REPO")
    if not repo_id:
        return None
    from huggingface_hub import CommitScheduler, get_token

    if not get_token():
        log.warning("FEEDBACK_REPO is set but there is no Hugging Face token (set the HF_TOKEN secret): "
                    "corrections stay in %s only.", store.folder)
        return None
    every = float(environ.get("FEEDBACK_EVERY_MINUTES") or DEFAULT_EVERY_MINUTES)
    try:
        return CommitScheduler(repo_id=repo_id, repo_type="dataset", folder_path=store.folder, every=every,
                               private=True, allow_patterns=[RECORD_PATTERN])
    except Exception as exc:  # 401/403, unreachable, a bad id: all mean "keep them local"
        log.warning("Cannot sync corrections to the Hub dataset %s (%s); they stay in %s only.",
                    repo_id, exc.__class__.__name__, store.folder)
        return None
