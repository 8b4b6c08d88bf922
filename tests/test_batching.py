"""Readings batched under load: requests waiting in the queue are read in one model call, and each client
still gets its own reading, its own error and its own session's state for a correction.

The app here reads through a GatedReader: while its gate is shut, every reading waits, so the requests sent
meanwhile wait in Gradio's queue and are taken as batches when it opens (at most CONCURRENCY readings are
held at the gate, so most of them are). Requests go through Gradio's queue over plain HTTP (as in
test_abuse.py) or through gradio_client, each client with a session of its own.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from drawing import draw_digit
from test_abuse import png
from test_app import free_port

from mnist_sketch.example_digits import pad_value
from space.feedback import NOTHING_DRAWN, SAVED, FeedbackStore
from space.image_input import NEVER_UPLOADED, NO_IMAGE

pytestmark = [
    pytest.mark.app,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

WAIT_S = 120  # a bound on waiting for the server, never a timing assertion


class GatedReader:
    """The app's DigitReader, whose readings wait until `gate` is set; `batches` are the sizes read, `held`
    the drawings waiting at the gate."""

    def __init__(self, reader):
        self.reader = reader
        self.gate = threading.Event()
        self.held = 0
        self.batches: list[int] = []
        self._lock = threading.Lock()

    def read_many(self, values: list, **options: Any) -> list:
        with self._lock:
            self.held += len(values)
        self.gate.wait(WAIT_S)
        with self._lock:
            self.held -= len(values)
            self.batches.append(len(values))
        return self.reader.read_many(values, **options)


@contextlib.contextmanager
def gated_app(reader, tmp_path: Path) -> Iterator[tuple[str, Any, GatedReader, FeedbackStore]]:
    """The app reading through a GatedReader (gate shut), served on a free port: (URL, Blocks, reader, store)."""
    import app

    from mnist_sketch.model_source import bundled_source

    gated, store = GatedReader(reader), FeedbackStore(tmp_path / "feedback")
    demo = app.build_demo(gated, bundled_source(), store)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **app.LAUNCH_OPTIONS)
    try:
        yield f"http://127.0.0.1:{port}/", demo, gated, store
    finally:
        gated.gate.set()
        demo.close()


def fn_index(url: str, api_name: str) -> int:
    config = httpx.get(url + "config").json()
    return next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == api_name)


def join(url: str, api_name: str, data: list, session: str) -> None:
    """Queue one event for `session` (POST /gradio_api/queue/join) without waiting for it."""
    body = {"data": data, "fn_index": fn_index(url, api_name), "session_hash": session, "event_data": None,
            "trigger_id": None}
    joined = httpx.post(url + "gradio_api/queue/join", json=body)
    assert joined.status_code == 200, joined.text


def completed(url: str, session: str) -> dict:
    """The `output` of the session's next process_completed message."""
    with httpx.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session},
                      timeout=WAIT_S) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and (message := json.loads(line[5:])).get("msg") == "process_completed":
                return message["output"]
    raise AssertionError("the event never completed")


def until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}"
        time.sleep(0.05)


def read_in_batches(url: str, gated: GatedReader, api_name: str, payloads: list) -> tuple[list[dict], list[str]]:
    """Send each payload from a session of its own while the gate is shut, then open it: each session's
    output, in the payloads' order, and the sessions. At most CONCURRENCY batches are taken while the gate
    is shut, so the events are read in batches."""
    sessions = [uuid.uuid4().hex[:12] for _ in payloads]
    for payload, session in zip(payloads, sessions):
        join(url, api_name, [payload], session)  # queued when it returns
    gated.gate.set()
    with ThreadPoolExecutor(len(sessions)) as pool:
        return list(pool.map(lambda s: completed(url, s), sessions)), sessions


def label_of(output: dict) -> str | None:
    return (output.get("data") or [{}])[0].get("label")


def test_a_batch_of_pads_gives_each_client_its_own_reading_and_its_own_error(reader, tmp_path):
    digits = "0123456789" * 2
    bad = {5: ("strokes", "Expected a drawing"), 12: (pad_value("1") | {"strokes": [[[1, 1]]] * 65}, "at most 64")}
    payloads = [bad[i][0] if i in bad else pad_value(d) for i, d in enumerate(digits)]
    with gated_app(reader, tmp_path) as (url, demo, gated, _):
        outputs, _ = read_in_batches(url, gated, "predict_strokes", payloads)
    assert max(gated.batches) > 1, gated.batches  # they were read in batches
    for i, (digit, output) in enumerate(zip(digits, outputs)):
        if i in bad:
            assert "data" not in output and bad[i][1] in output["error"], output
        else:
            assert label_of(output) == digit and f" {digit} (" in output["data"][2], (i, output)


def upload(url: str, content: bytes, name: str) -> dict:
    """A file uploaded as gradio_client's handle_file would: the FileData to send."""
    response = httpx.post(url + "gradio_api/upload", files={"files": (name, content)})
    return {"path": response.json()[0], "meta": {"_type": "gradio.FileData"}, "orig_name": name}


def test_a_batch_of_images_gives_each_client_its_own_reading_and_its_own_error(reader, tmp_path):
    with gated_app(reader, tmp_path) as (url, demo, gated, _):
        drawn = {d: upload(url, png(draw_digit(d, canvas=(400, 400), brush=20)), f"{d}.png") for d in (1, 3, 7)}
        blank = upload(url, png(np.full((400, 400), 255, np.uint8)), "blank.png")
        text = upload(url, b"a text file with an image's name\n", "notes.png")
        never_uploaded = {"path": str(Path(__file__)), "meta": {"_type": "gradio.FileData"}}
        payloads = [drawn[1], {"composite": drawn[7]}, None, drawn[3], text, blank, never_uploaded, drawn[7],
                    {"image": "x"}, {"composite": drawn[1], "layers": [], "background": None}]
        outputs, _ = read_in_batches(url, gated, "predict", payloads)
    assert max(gated.batches) > 1, gated.batches
    assert [label_of(outputs[i]) for i in (0, 1, 3, 7, 9)] == ["1", "7", "3", "7", "1"]
    assert not outputs[5]["data"][0] and outputs[5]["data"][2].startswith("Draw a digit")  # blank: no error
    errors = {i: outputs[i].get("error") for i in (2, 4, 6, 8)}
    assert errors[2] == NO_IMAGE and errors[6] == NEVER_UPLOADED, errors
    assert "image" in errors[4] and "got a dict with keys ['image']" in errors[8], errors
    assert all("data" not in outputs[i] for i in errors)


def test_corrections_apply_to_each_sessions_own_drawing_read_in_a_batch(reader, tmp_path):
    digits = "3142596870"  # ten different drawings: the same drawing and answer is kept once, from any session
    payloads = [pad_value(d) for d in digits] + ["not a drawing"]
    with gated_app(reader, tmp_path) as (url, demo, gated, store):
        outputs, sessions = read_in_batches(url, gated, "predict_strokes", payloads)
        assert max(gated.batches) > 1, gated.batches
        assert [label_of(o) for o in outputs[:-1]] == list(digits) and "error" in outputs[-1]
        # Each session corrects its drawing as the next digit: the record must be its own drawing's.
        answers = [str((int(d) + 1) % 10) for d in digits]
        for session, answer in zip(sessions, answers):
            join(url, "correct", [None, answer], session)
            assert completed(url, session)["data"][0] == SAVED
        join(url, "correct", [None, "1"], sessions[-1])  # its drawing was refused: nothing read in that session
        assert completed(url, sessions[-1])["data"][0] == NOTHING_DRAWN
    records = sorted((json.loads(p.read_text()) for p in store.folder.glob("*.json")), key=lambda r: r["answer"])
    assert sorted((r["answer"], r["read_as"][0]["text"]) for r in records) == sorted(zip(answers, digits))
    from mnist_sketch.strokes import parse_strokes

    by_answer = {r["answer"]: r for r in records}
    for digit, answer in zip(digits, answers):
        assert by_answer[answer]["strokes"] == parse_strokes(pad_value(digit)).to_json()


def test_many_gradio_clients_drawing_different_digits_each_get_their_own_readings(reader, tmp_path):
    from gradio_client import Client

    digits = "0123456789012345"
    with gated_app(reader, tmp_path) as (url, demo, gated, _):
        clients = [Client(url, verbose=False, download_files=False) for _ in digits]
        jobs = [c.submit(pad_value(d), api_name="/predict_strokes") for c, d in zip(clients, digits)]
        until(lambda: gated.held + len(demo._queue) == len(digits), "the clients' requests to be queued")
        gated.gate.set()
        first = [job.result(timeout=WAIT_S) for job in jobs]
        # Then each client draws the next digit, three times, all at once (ungated: as the load comes).
        with ThreadPoolExecutor(len(clients)) as pool:
            again = list(pool.map(lambda k: [clients[k].predict(pad_value(str((int(digits[k]) + 1) % 10)),
                                                                api_name="/predict_strokes")[0]["label"]
                                             for _ in range(3)], range(len(clients))))
    assert max(gated.batches) > 1, gated.batches
    assert [label["label"] for label, _, _ in first] == list(digits)
    assert again == [[str((int(d) + 1) % 10)] * 3 for d in digits]
