"""Visitors' corrections: kept one record per file, atomically, within limits; synced to a Hub dataset
(the local test Hub); read back by training with --extra-data."""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_sketch.example_digits import pad_value
from mnist_sketch.feedback import (BAD_ANSWER, FULL, NOT_SAVED, NOTHING_DRAWN, SAVED, TOO_FAST, FeedbackStore,
                                   parse_answer)
from mnist_sketch.model_source import ModelSource
from mnist_sketch.strokes import Strokes, parse_strokes

ROOT = Path(__file__).resolve().parent.parent
HUB_SOURCE = ModelSource(Path("x/mnist.h5"), "hub", repo_id="me/mnist", commit="0123456789abcdef0123")


def records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


@pytest.fixture
def store(tmp_path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "feedback")


def test_a_correction_keeps_the_drawing_what_was_read_and_the_answer(store, reader):
    strokes = parse_strokes(pad_value("7"))
    reading = reader.read(strokes)
    assert store.save("session-a", strokes, reading, " 1 ", HUB_SOURCE) == SAVED
    record, = records(store.folder)
    assert record["answer"] == "1" and record["created"].endswith("+00:00")
    assert record["strokes"] == strokes.to_json()
    assert [r["text"] for r in record["read_as"]] == [text for text, _ in reading.top(3)]
    assert record["model"] == {"origin": "hub", "repo": "me/mnist", "commit": "0123456789abcdef0123"}
    assert np.array(record["inputs"]).shape == (1, 28, 28)
    with Image.open(io.BytesIO(base64.b64decode(record["drawing_png"]))) as drawing:
        assert drawing.size == (900, 600) and np.asarray(drawing).min() == 0  # the pad's picture, inked
    assert "session-a" not in json.dumps(record)  # nothing about the visitor
    assert store.count == 1 and (store.folder / f"{record['id']}.json").is_file()


@pytest.mark.parametrize("answer", ["", "seven", "7a", "1" * 13, None, "-1", "3.5"])
def test_an_answer_that_is_not_digits_is_refused_and_nothing_is_kept(store, reader, answer):
    strokes = parse_strokes(pad_value("7"))
    assert store.save("s", strokes, reader.read(strokes), answer, HUB_SOURCE) == BAD_ANSWER
    assert records(store.folder) == [] and parse_answer(answer) is None


def test_correcting_an_empty_pad_keeps_nothing(store, reader):
    empty = Strokes(900, 600, ())
    assert store.save("s", empty, reader.read(empty), "4", HUB_SOURCE) == NOTHING_DRAWN
    assert records(store.folder) == []


def test_the_folder_and_each_session_have_limits(tmp_path, reader, caplog):
    strokes = parse_strokes(pad_value("3"))
    reading = reader.read(strokes)
    store = FeedbackStore(tmp_path / "fb", max_records=5, rate_limit=(3, 600))
    assert [store.save("a", strokes, reading, "3", HUB_SOURCE) for _ in range(4)] == [SAVED] * 3 + [TOO_FAST]
    assert [store.save("b", strokes, reading, "3", HUB_SOURCE) for _ in range(3)] == [SAVED, SAVED, FULL]
    assert len(records(store.folder)) == 5
    assert "FEEDBACK_MAX" in caplog.text and "within 600 s" in caplog.text
    assert FeedbackStore(tmp_path / "fb", max_records=5).count == 5  # a restart counts what is there


def test_concurrent_corrections_are_all_kept_once(store, reader):
    strokes = parse_strokes(pad_value("42"))
    reading = reader.read(strokes)
    answers: list[str] = []

    def correct(k: int) -> None:
        answers.append(store.save(f"session-{k}", strokes, reading, str(k), HUB_SOURCE))

    threads = [threading.Thread(target=correct, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = records(store.folder)
    assert answers == [SAVED] * 16 and store.count == 16
    assert sorted(int(r["answer"]) for r in kept) == list(range(16))
    assert len({r["id"] for r in kept}) == 16


def test_a_crash_between_write_and_rename_leaves_no_record(store, reader, monkeypatch):
    import mnist_sketch.feedback as feedback

    strokes = parse_strokes(pad_value("5"))
    reading = reader.read(strokes)

    def crash(src, dst):
        raise OSError("No space left on device")

    monkeypatch.setattr(feedback.os, "replace", crash)
    assert store.save("s", strokes, reading, "5", HUB_SOURCE) == NOT_SAVED
    assert list(store.folder.iterdir()) == [] and store.count == 0  # no record, no temporary file
    monkeypatch.undo()
    # A process killed mid-write leaves a temporary file: never counted, read by training, or uploaded.
    (store.folder / ".abc123.tmp").write_text('{"answer": "5", "stro')
    assert store.save("s", strokes, reading, "5", HUB_SOURCE) == SAVED
    assert FeedbackStore(store.folder).count == 1


def test_training_reads_the_corrections_digits(tmp_path, reader):
    from training.corrections import load_corrections, summary

    store = FeedbackStore(tmp_path / "fb")
    for drawn, answer in [("7", "1"), ("42", "42"), ("2026", "2026"), ("1", "77")]:
        strokes = parse_strokes(pad_value(drawn))
        assert store.save(drawn, strokes, reader.read(strokes), answer, HUB_SOURCE) == SAVED
    (store.folder / ".crashed.tmp").write_text("{")
    corrections = load_corrections(str(store.folder))
    assert corrections.records == 4 and corrections.skipped == 1  # "1" cannot be "77"
    assert sorted(corrections.y.tolist()) == sorted([1, 4, 2, 2, 0, 2, 6])
    assert corrections.x.shape == (7, 28, 28) and corrections.x.dtype == np.uint8
    counts = summary(corrections, 20)["digits_per_class"]
    assert counts["2"] == 3 and counts["1"] == 1 and sum(counts.values()) == 7


# Runs in a subprocess (huggingface_hub reads HF_ENDPOINT and HF_TOKEN when imported): saves two
# corrections, starts the sync and waits for a commit by the scheduler, printing what it logged.
SYNC = r"""
import logging, sys, time
from pathlib import Path
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
from mnist_sketch.example_digits import pad_value
from mnist_sketch.feedback import FeedbackStore, start_sync
from mnist_sketch.model import load_model_file
from mnist_sketch.model_source import bundled_source
from mnist_sketch.predict import DigitReader
from mnist_sketch.strokes import parse_strokes
store = FeedbackStore(Path(sys.argv[1]))
reader, source = DigitReader(load_model_file(bundled_source().path)), bundled_source()
for drawn, answer in (("7", "1"), ("42", "47")):
    strokes = parse_strokes(pad_value(drawn))
    print(store.save("s", strokes, reader.read(strokes), answer, source))
(store.folder / ".killed-mid-write.tmp").write_text("{")
scheduler = start_sync(store)
print("SYNC", scheduler is not None)
if scheduler is not None:
    scheduler.trigger().result(timeout=60)  # a push now, whatever the scheduler's own thread has done yet
    scheduler.stop()
"""


def sync_env(hub_url: str, home: Path, token: str | None, **extra: str) -> dict[str, str]:
    from test_hub import client_env

    return client_env(home, hub_url, token, FEEDBACK_EVERY_MINUTES="0.02", **extra)


@pytest.mark.hub
@pytest.mark.training
def test_corrections_sync_to_a_hub_dataset_and_training_reads_them_back(tmp_path, mnist_digits):
    from hub_server import HubServer
    from test_hub import TOKEN, run_python
    from test_training import run_cli

    with HubServer(tokens={TOKEN: "user"}) as hub:
        env = sync_env(hub.url, tmp_path / "home", TOKEN, FEEDBACK_REPO="user/corrections")
        proc = run_python(["-c", SYNC, str(tmp_path / "fb")], env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "SYNC True" in proc.stdout and TOKEN not in proc.stdout + proc.stderr
        head = hub.head("user/corrections", repo_type="dataset")
        synced = {p: json.loads(d) for p, d in head.files.items()}
        assert sorted(synced) == sorted(p.name for p in (tmp_path / "fb").glob("*.json"))  # no temporary file
        assert sorted(r["answer"] for r in synced.values()) == ["1", "47"]
        assert hub.repos["dataset", "user/corrections"].private  # visitors' drawings are not published

        x, y = mnist_digits  # one epoch on a little MNIST, with the dataset's corrections mixed in
        np.savez(tmp_path / "mnist.npz", x_train=x[:1500], y_train=y[:1500], x_test=x[1500:1800], y_test=y[1500:1800])
        out = tmp_path / "model"
        trained = run_cli("-m", "training.train", "--data", str(tmp_path / "mnist.npz"), "--out", str(out),
                          "--epochs", "1", "--batch-size", "64", "--validation-size", "500",
                          "--extra-data", "user/corrections", "--extra-repeat", "5", env=env)
        assert trained.returncode == 0, trained.stderr[-3000:]
    extra = json.loads((out / "metrics.json").read_text())["extra_data"]
    assert extra["source"] == f"user/corrections@{head.sha}" and extra["repeat"] == 5
    assert extra["records"] == 2 and extra["skipped"] == 0 and extra["digits"] == 3
    assert {d: n for d, n in extra["digits_per_class"].items() if n} == {"1": 1, "4": 1, "7": 1}
    assert "3 digits from 2 records" in trained.stdout and "Corrections" in (out / "README.md").read_text()


@pytest.mark.hub
@pytest.mark.parametrize("token", [None, "hf_testTokenWrong9876543210fedcba"], ids=["no token", "a refused token"])
def test_without_a_working_token_corrections_stay_local_with_one_warning(tmp_path, token):
    from hub_server import HubServer
    from test_hub import TOKEN, run_python

    with HubServer(tokens={TOKEN: "user"}) as hub:
        proc = run_python(["-c", SYNC, str(tmp_path / "fb")],
                          sync_env(hub.url, tmp_path / "home", token, FEEDBACK_REPO="user/corrections"))
        assert hub.head("user/corrections", repo_type="dataset") is None
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [SAVED, SAVED, "SYNC False"]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING mnist_sketch.feedback")]
    assert len(warnings) == 1 and "stay in" in warnings[0]
    assert "Traceback" not in proc.stderr and (token or "hf_") not in "".join(warnings)
    assert len(records(tmp_path / "fb")) == 2
