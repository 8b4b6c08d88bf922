"""Visitors' corrections: "Wrong? It's a ..." kept as one JSON record per correction, and synced to a Hub dataset.

A record holds the drawing (the pad's strokes and a PNG of them), the 28x28
inputs the model saw, its top 3, the corrected answer, the model it came from
and the UTC time; nothing about the visitor. Each is written to a temporary
file and renamed into FEEDBACK_DIR/<id>.json, so a crash never leaves a
half-written record there (a left-over temporary file is never read or
uploaded). With FEEDBACK_REPO set, `start_sync` runs huggingface_hub's
CommitScheduler, which pushes new records to that dataset repo every
FEEDBACK_EVERY_MINUTES.

The event handlers are public to any script that speaks Gradio's queue
protocol, so the rules are kept here, on the server: a correction is of a
drawing the server read for that session (`ReadDrawing`, kept in the session's
gr.State), never of a payload sent with it; one per drawing; not one equal to
what the model read; at most so many per visitor's address and so many in all.

    FEEDBACK_DIR             folder of the records (default: feedback/ beside app.py)
    FEEDBACK_MAX             records kept in the folder at most (default 10,000); when it is full, records
                             already synced to the Hub are removed from it, and without that corrections pause
    FEEDBACK_REPO            a Hub dataset repo to sync to, e.g. you/mnist-sketch-corrections (default: none)
    FEEDBACK_EVERY_MINUTES   minutes between two syncs, a fraction allowed (default 5)
    FEEDBACK_ADDRESS_LIMIT   corrections per visitor's address per 10 minutes (default 30)
    FEEDBACK_GLOBAL_LIMIT    corrections from everyone per hour (default 300)
    FEEDBACK_TRUST_FORWARDED whether the visitor's address is taken from X-Forwarded-For, set by a proxy in
                             front of the app (default: on a Space, where SPACE_ID is set; else the connection's)

A drawing is kept once per answer: a correction whose strokes and answer are those of one kept before (from
any session) is counted, not stored again (its record's name is their content hash).
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
import uuid
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
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
ADDRESS_WINDOW_S, DEFAULT_ADDRESS_LIMIT = 600.0, 30  # per visitor's address
GLOBAL_WINDOW_S, DEFAULT_GLOBAL_LIMIT = 3600.0, 300  # from everyone: what a script on many addresses can add
CORRECTED_REMEMBERED = 20_000  # ids of drawings corrected, remembered to refuse a second correction
MAX_ANSWER_CHARS = 100  # a longer text is not an answer, and is not searched
RECORD_PATTERN = "*.json"  # records; temporary files are named .<random>.tmp

SAVED = "Saved, thank you: it will help the next model."
BAD_ANSWER = (f"Type the right answer with the digits 0-9 only: one digit, or a number of up to {MAX_DIGITS} "
              "digits.")
OTHER_DIGITS = "Type the answer with the plain digits 0-9: digits of other scripts (such as ٧ or ７) are not kept."
NOTHING_DRAWN = "Draw something first: there is nothing to correct."
SAME_AS_READ = "That's what the model read: nothing to correct."
ALREADY = "This drawing is corrected already: change the drawing to send another correction."
TOO_FAST = "That is a lot of corrections at once: please wait a few minutes before sending more."
BUSY = "Many corrections are arriving at the moment: please try again later."
PAUSED = ("Corrections are paused for now: the server holds as many as it can keep until they are collected. "
          "Thank you all the same.")
NOT_SAVED = "Sorry, the correction could not be saved (the server's disk): please try again later."
REPEATED = "Thank you: this drawing was corrected to the same answer before, and is counted once more."
CORRECTED = (SAVED, ALREADY, REPEATED)  # the answers after which the drawing takes no other correction

# The networks of proxies in front of the app, whose hops in X-Forwarded-For are skipped: private, shared
# (carrier-grade NAT), loopback and link-local addresses. A Space's proxy connects from one (the app sees a
# 10.x address) and appends the address it saw to the header; anything left of that the client wrote itself.
PROXY_NETWORKS = tuple(ipaddress.ip_network(network) for network in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))


def parse_answer(text: str | None) -> str | None:
    """The visitor's answer as a string of ASCII digits ("7", "2026"), spaces dropped; None when it is not one.

    Digits of other scripts ("٧", fullwidth "７") are not answers: training reads ASCII digits only.
    """
    if not isinstance(text, str) or len(text) > MAX_ANSWER_CHARS:
        return None
    answer = re.sub(r"\s", "", text)
    return answer if re.fullmatch(rf"[0-9]{{1,{MAX_DIGITS}}}", answer) else None


def _refusal(text: str | None) -> str:
    """Why `text`, which parse_answer refused, is not an answer."""
    if isinstance(text, str) and len(text) <= MAX_ANSWER_CHARS and any(
            unicodedata.category(c) == "Nd" and not "0" <= c <= "9" for c in text):
        return OTHER_DIGITS
    return BAD_ANSWER


def forwarded_client(header: str) -> str:
    """The visitor's address in an X-Forwarded-For header ("client, proxy1, proxy2"), as the proxies in front
    of the app saw it: the right-most hop that is not on a PROXY_NETWORKS address, or the right-most hop when all
    are (each proxy appends the address it saw, so a client can only write hops left of the true one)."""
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None or not any(ip in network for network in PROXY_NETWORKS):
            return hop
    return hops[-1] if hops else ""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in `text` ("203.0.113.9", "203.0.113.9:4711", "[2001:db8::1]:443", "2001:db8::1"), or None."""
    host = text[1:].split("]")[0] if text.startswith("[") else text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def drawing_digest(strokes: Strokes, answer: str) -> str:
    """The content hash of a correction: its strokes (as kept, canonical JSON) and its answer; 32 hex digits."""
    data = json.dumps(strokes.to_json(), sort_keys=True, separators=(",", ":")) + "\n" + answer
    return hashlib.sha256(data.encode()).hexdigest()[:32]


def model_record(source: ModelSource) -> dict[str, Any]:
    """Where the model came from: the Hub repo and commit, or the bundled or a local file and its date."""
    if source.origin == "hub":
        return {"origin": "hub", "repo": source.repo_id, "commit": source.commit}
    return {"origin": source.origin, "file": source.path.name, "created": (source.metrics or {}).get("created")}


def _png(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass(frozen=True, eq=False)
class ReadDrawing:
    """A drawing the server read for a session, as a correction keeps it; the app holds the last one in the
    session's gr.State, so a correction is always of what the server read, never of a payload sent with it."""

    id: str  # this reading (a new one each time the drawing is read): a reading takes one correction
    strokes: Strokes  # at most MAX_TOTAL_POINTS (parse_strokes), so a session's gr.State stays small
    read_as: tuple[tuple[str, float], ...]  # the model's top 3
    inputs: np.ndarray  # (digits, 28, 28) uint8, the images the model saw

    @classmethod
    def of(cls, strokes: Strokes, reading: Reading) -> ReadDrawing | None:
        """What to keep of `reading` (of `strokes`) for a correction; None when nothing was drawn."""
        if reading.empty or not strokes.strokes:
            return None
        inputs = np.rint(np.clip(np.stack(reading.inputs), 0, 1) * 255).astype(np.uint8)
        return cls(str(uuid.uuid4()), strokes, tuple(reading.top(3)), inputs)


class RateLimit:
    """At most `limit` events per key in any `window` seconds; a key idle for a window is forgotten.
    Not thread-safe: its user holds a lock."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._times: dict[str, deque[float]] = {}

    def allows(self, key: str, now: float) -> bool:
        """Whether one more event for `key` at `now` stays within the limit."""
        for stale in [k for k, times in self._times.items() if times[-1] <= now - self.window]:
            del self._times[stale]
        times = self._times.get(key, ())
        while times and times[0] <= now - self.window:
            times.popleft()
        return len(times) < self.limit

    def add(self, key: str, now: float) -> bool:
        """Count an event for `key` at `now`; whether the key has now reached its limit."""
        times = self._times.setdefault(key, deque())
        times.append(now)
        return len(times) >= self.limit


class FeedbackStore:
    """The corrections folder: saves records within the rules and limits, counts them, makes room when full."""

    def __init__(self, folder: Path = DEFAULT_DIR, max_records: int = DEFAULT_MAX,
                 address_limit: int = DEFAULT_ADDRESS_LIMIT, global_limit: int = DEFAULT_GLOBAL_LIMIT,
                 trust_forwarded: bool = False, pen_width: float = 20):
        """`trust_forwarded`: the visitor's address is the one the proxy in front of the app added to
        X-Forwarded-For (`forwarded_client`; only behind a proxy that sets it: a client could send any);
        otherwise the connection's."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_records, self.trust_forwarded, self.pen_width = max_records, trust_forwarded, pen_width
        self.per_address = RateLimit(address_limit, ADDRESS_WINDOW_S)
        self.overall = RateLimit(global_limit, GLOBAL_WINDOW_S)
        self.scheduler: Any | None = None  # the CommitScheduler syncing the folder, set by start_sync
        self._count = sum(1 for _ in self.folder.glob(RECORD_PATTERN))
        self._corrected: OrderedDict[str, None] = OrderedDict()  # ids of drawings corrected, oldest first
        # Content hashes of the corrections kept (drawing_digest, the records' names) -> times corrected so.
        self._kept: OrderedDict[str, int] = OrderedDict((path.stem, 1) for path in self.folder.glob(RECORD_PATTERN))
        self._paused_logged = False  # "corrections are paused" is logged once, not for every refusal
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return self._count

    def times_corrected(self, strokes: Strokes, answer: str) -> int:
        """How many corrections of `strokes` to `answer` this store was sent since it started (0: none kept)."""
        with self._lock:
            return self._kept.get(drawing_digest(strokes, answer), 0)

    def address_of(self, request: Any) -> str:
        """The address whose corrections `request` (a gr.Request) counts as: the connection's host, or the
        address the proxy in front added to X-Forwarded-For when trusted (`forwarded_client`); an IPv6 address
        counts as its /64 network, what one subscriber usually holds."""
        forwarded = (request.headers.get("x-forwarded-for") or "") if self.trust_forwarded else ""
        host = forwarded_client(forwarded) or (request.client.host if request.client else "")
        ip = _ip(host)
        if ip is None:
            return host[:64] or "unknown"
        if isinstance(ip, ipaddress.IPv6Address):
            return str(ip.ipv4_mapped or ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def save(self, address: str, drawing: ReadDrawing | None, answer_text: str | None,
             source: ModelSource) -> str:
        """Keep a correction of `drawing` to `answer_text` from `address`; a sentence for the visitor.

        Nothing is stored for a bad answer, no drawing, one too long, an answer equal to what the model read, a
        drawing corrected already, an address or everyone over the rate limit, or a full folder that cannot
        make room; a correction equal to one kept (drawing_digest) is counted, not stored again.
        """
        answer = parse_answer(answer_text)
        if answer is None:
            return _refusal(answer_text)
        if drawing is None:
            return NOTHING_DRAWN
        if answer == drawing.read_as[0][0]:
            return SAME_AS_READ
        with self._lock:
            if drawing.id in self._corrected:
                return ALREADY
            if self._count >= self.max_records and not self._make_room():
                return PAUSED
            now = time.monotonic()
            if not self.overall.allows("", now):
                return BUSY
            if not self.per_address.allows(address, now):
                return TOO_FAST
            if self.overall.add("", now):
                log.warning("%d corrections within %.0f s from everyone: refusing more for now.",
                            self.overall.limit, self.overall.window)
            if self.per_address.add(address, now):  # the address is not logged: nothing about visitors
                log.warning("An address sent %d corrections within %.0f s: refusing more from it for now.",
                            self.per_address.limit, self.per_address.window)
            self._corrected[drawing.id] = None
            if len(self._corrected) > CORRECTED_REMEMBERED:
                self._corrected.popitem(last=False)
            digest = drawing_digest(drawing.strokes, answer)
            repeats = self._kept.get(digest, 0)
            self._kept[digest] = repeats + 1
            self._kept.move_to_end(digest)
            if repeats:
                return REPEATED
            if len(self._kept) > CORRECTED_REMEMBERED:
                self._kept.popitem(last=False)
            self._count += 1
        try:
            self._write(self._record(digest, drawing, answer, source))
        except OSError as exc:
            log.error("Could not save a correction in %s: %s", self.folder, exc)
            with self._lock:
                self._count -= 1
                del self._corrected[drawing.id]
                self._kept.pop(digest, None)
            return NOT_SAVED
        return SAVED

    def _record(self, digest: str, drawing: ReadDrawing, answer: str, source: ModelSource) -> dict[str, Any]:
        """The JSON record of a correction, named by its `digest`; nothing in it is about the visitor."""
        return {
            "id": digest,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "answer": answer,
            "read_as": [{"text": text, "probability": round(p, 6)} for text, p in drawing.read_as],
            "strokes": drawing.strokes.to_json(),
            "drawing_png": _png(draw_on_paper(drawing.strokes, self.pen_width)),
            "inputs": drawing.inputs.tolist(),
            "model": model_record(source),
        }

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

    def _make_room(self) -> bool:
        """Delete the local copies of records the Hub has (pushed, and unchanged since); whether there is room
        now. Called with the store's lock held, when the folder is full."""
        if self.scheduler is not None:
            removed = 0
            # CommitScheduler lists and reads the folder under its `lock` (documented for writers of the
            # folder); `last_uploaded` maps each file it pushed to its mtime then. Entries of removed files are
            # dropped, or they would pile up (the scheduler only reads entries of files it finds in the folder).
            with self.scheduler.lock:
                for path, pushed_mtime in list(self.scheduler.last_uploaded.items()):
                    try:
                        if path.stat().st_mtime != pushed_mtime:
                            continue  # changed since its push: not on the Hub as it is
                        path.unlink()
                        removed += 1
                    except FileNotFoundError:
                        pass
                    del self.scheduler.last_uploaded[path]
            if removed:
                self._count -= removed
                log.warning("Feedback folder %s was full (FEEDBACK_MAX): removed the local copies of %d corrections "
                            "synced to the Hub.", self.folder, removed)
        if self._count < self.max_records:
            self._paused_logged = False
            return True
        if not self._paused_logged:
            log.warning("Feedback folder %s holds %d corrections, FEEDBACK_MAX: corrections are paused until %s.",
                        self.folder, self._count,
                        "the next sync to the Hub" if self.scheduler else "there is room (no Hub dataset to sync to)")
            self._paused_logged = True
        return False


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def store_from_env(environ: Mapping[str, str] = os.environ, pen_width: float = 20) -> FeedbackStore:
    """The store configured by FEEDBACK_DIR, FEEDBACK_MAX, FEEDBACK_ADDRESS_LIMIT, FEEDBACK_GLOBAL_LIMIT and
    FEEDBACK_TRUST_FORWARDED (on by default on a Space, whose proxy sets X-Forwarded-For)."""
    trust = environ.get("FEEDBACK_TRUST_FORWARDED")
    return FeedbackStore(Path(environ.get("FEEDBACK_DIR") or DEFAULT_DIR),
                         int(environ.get("FEEDBACK_MAX") or DEFAULT_MAX),
                         address_limit=int(environ.get("FEEDBACK_ADDRESS_LIMIT") or DEFAULT_ADDRESS_LIMIT),
                         global_limit=int(environ.get("FEEDBACK_GLOBAL_LIMIT") or DEFAULT_GLOBAL_LIMIT),
                         trust_forwarded=_flag(trust) if trust else bool(environ.get("SPACE_ID")),
                         pen_width=pen_width)


def start_sync(store: FeedbackStore, environ: Mapping[str, str] = os.environ) -> Any | None:
    """With FEEDBACK_REPO set, a CommitScheduler pushing new records to that dataset repo (and `store.scheduler`,
    so a full store can remove what is synced); else None.

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
        store.scheduler = CommitScheduler(repo_id=repo_id, repo_type="dataset", folder_path=store.folder,
                                          every=every, private=True, allow_patterns=[RECORD_PATTERN])
    except Exception as exc:  # 401/403, unreachable, a bad id: all mean "keep them local"
        log.warning("Cannot sync corrections to the Hub dataset %s (%s); they stay in %s only.",
                    repo_id, exc.__class__.__name__, store.folder)
        return None
    return store.scheduler
