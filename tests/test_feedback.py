"""Visitors' corrections: kept one record per file, atomically, within the rules and limits; synced to a Hub
dataset (the local test Hub), and room made by removing what is synced; read back by training with --extra-data."""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from mnist_sketch.example_digits import pad_value
from space.feedback import (ALREADY, BAD_ANSWER, BUSY, NOT_SAVED, NOTHING_DRAWN, OTHER_DIGITS,
                                   PAUSED, REPEATED, SAME_AS_READ, SAVED, TOO_FAST, FeedbackStore, ReadDrawing,
                                   drawing_digest, parse_answer, store_from_env)
from mnist_sketch.model_source import ModelSource
from mnist_sketch.strokes import MAX_POINTS, Strokes, parse_strokes

ROOT = Path(__file__).resolve().parent.parent
HUB_SOURCE = ModelSource(Path("x/mnist.h5"), "hub", repo_id="me/mnist", commit="0123456789abcdef0123")


def records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def drawn(reader, text: str, shift: float = 0) -> ReadDrawing:
    """The example drawing of `text`, moved `shift` px right, as the app keeps it after reading it (a new
    reading each call; a new drawing with each `shift`)."""
    value = pad_value(text)
    strokes = parse_strokes({**value, "strokes": [[[x + shift, y] for x, y in s] for s in value["strokes"]]})
    return ReadDrawing.of(strokes, reader.read(strokes))


@pytest.fixture
def store(tmp_path) -> FeedbackStore:
    return FeedbackStore(tmp_path / "feedback")


def test_a_correction_keeps_the_drawing_what_was_read_and_the_answer(store, reader):
    drawing = drawn(reader, "7")
    assert store.save("10.0.0.1", drawing, " 1 ", HUB_SOURCE) == SAVED
    record, = records(store.folder)
    assert record["id"] == drawing_digest(drawing.strokes, "1")  # its name: a content hash
    assert record["answer"] == "1" and record["created"].endswith("+00:00")
    assert record["strokes"] == parse_strokes(pad_value("7")).to_json()
    assert [(r["text"], r["probability"]) for r in record["read_as"]] == [
        (text, round(p, 6)) for text, p in drawing.read_as]
    assert record["read_as"][0]["text"] == "7"
    assert record["model"] == {"origin": "hub", "repo": "me/mnist", "commit": "0123456789abcdef0123"}
    assert np.array(record["inputs"]).shape == (1, 28, 28) and np.array(record["inputs"]).max() == 255
    with Image.open(io.BytesIO(base64.b64decode(record["drawing_png"]))) as drawing_png:
        assert drawing_png.size == (900, 600) and np.asarray(drawing_png).min() == 0  # the pad's picture, inked
    assert "10.0.0.1" not in json.dumps(record)  # nothing about the visitor
    assert store.count == 1 and (store.folder / f"{record['id']}.json").is_file()


@pytest.mark.parametrize("answer", ["", "seven", "7a", "1" * 13, None, "-1", "3.5", "1" * 10_000, 7])
def test_an_answer_that_is_not_digits_is_refused_and_nothing_is_kept(store, reader, answer):
    assert store.save("a", drawn(reader, "7"), answer, HUB_SOURCE) == BAD_ANSWER
    assert records(store.folder) == [] and parse_answer(answer) is None


@pytest.mark.parametrize("answer", ["٧٣", "７", "۷", "१", "1٧"], ids=["Arabic-Indic", "fullwidth", "Persian",
                                                                    "Devanagari", "mixed"])
def test_digits_of_other_scripts_are_refused_with_a_message(store, reader, answer):
    assert store.save("a", drawn(reader, "7"), answer, HUB_SOURCE) == OTHER_DIGITS
    assert records(store.folder) == [] and parse_answer(answer) is None


def test_answers_are_ascii_digits_with_spaces_dropped():
    assert [parse_answer(t) for t in ("7", " 2 0 2 6 ", "\t42\n", "0" * 12)] == ["7", "2026", "42", "0" * 12]


def test_correcting_nothing_keeps_nothing(store, reader):
    empty = Strokes(900, 600, ())
    assert ReadDrawing.of(empty, reader.read(empty)) is None
    assert store.save("a", None, "4", HUB_SOURCE) == NOTHING_DRAWN
    assert records(store.folder) == []


def test_the_longest_drawing_read_is_kept_whole_and_its_picture_is_small(store, reader):
    """parse_strokes reads at most MAX_TOTAL_POINTS, so every drawing read can be kept; its PNG is at most
    900 px a side however large the canvas (draw_on_paper)."""
    zigzag = [[[100 + (k % 2) * 9000, 100 + 9000 * k / MAX_POINTS] for k in range(MAX_POINTS)]] * 5
    long = parse_strokes({"width": 10_000, "height": 10_000, "strokes": zigzag})
    drawing = ReadDrawing.of(long, reader.read(long))
    assert drawing.strokes is long
    assert store.save("a", drawing, "4", HUB_SOURCE) == SAVED
    (record,) = records(store.folder)
    assert max(Image.open(io.BytesIO(base64.b64decode(record["drawing_png"]))).size) <= 900


def test_an_answer_equal_to_what_was_read_is_not_saved_nor_counted(tmp_path, reader):
    store = FeedbackStore(tmp_path / "fb", address_limit=1)
    drawing = drawn(reader, "42")
    assert drawing.read_as[0][0] == "42"
    assert store.save("a", drawing, "4 2", HUB_SOURCE) == SAME_AS_READ
    assert store.save("a", drawing, "47", HUB_SOURCE) == SAVED  # the refused one did not use the address's one
    assert [r["answer"] for r in records(store.folder)] == ["47"]


def test_a_drawing_is_corrected_once(store, reader):
    drawing = drawn(reader, "3")
    assert store.save("a", drawing, "8", HUB_SOURCE) == SAVED
    assert store.save("b", drawing, "5", HUB_SOURCE) == ALREADY  # from anywhere, with any answer
    assert store.save("a", drawn(reader, "3"), "5", HUB_SOURCE) == SAVED  # the pad changed: a new reading
    assert sorted(r["answer"] for r in records(store.folder)) == ["5", "8"]


def test_each_address_and_everyone_have_limits(tmp_path, reader, caplog):
    store = FeedbackStore(tmp_path / "fb", address_limit=3, global_limit=5)
    assert [store.save("a", drawn(reader, "3", k), "8", HUB_SOURCE) for k in range(5)] == [SAVED] * 3 + [TOO_FAST] * 2
    assert [store.save(address, drawn(reader, "3", 10 + k), "8", HUB_SOURCE)
            for k, address in enumerate("bcd")] == [SAVED, SAVED, BUSY]
    assert len(records(store.folder)) == store.count == 5
    assert "An address sent 3 corrections within 600 s" in caplog.text and "within 3600 s from everyone" in caplog.text
    assert "'a'" not in caplog.text  # addresses are not logged


def test_a_full_folder_without_a_hub_pauses_corrections(tmp_path, reader, caplog):
    store = FeedbackStore(tmp_path / "fb", max_records=2)
    assert [store.save(str(k), drawn(reader, "3", k), "8", HUB_SOURCE) for k in range(4)] == [SAVED] * 2 + [PAUSED] * 2
    assert caplog.text.count("corrections are paused") == 1  # once, not for every refusal
    assert FeedbackStore(tmp_path / "fb", max_records=2).count == 2  # a restart counts what is there


def request(host: str | None, forwarded: str | None = None) -> SimpleNamespace:
    """What FeedbackStore.address_of reads of a gr.Request: the connection's client and the headers."""
    return SimpleNamespace(client=SimpleNamespace(host=host) if host else None,
                           headers={"x-forwarded-for": forwarded} if forwarded else {})


def test_the_address_is_the_connections_unless_a_proxy_is_trusted(tmp_path):
    direct, proxied = FeedbackStore(tmp_path / "a"), FeedbackStore(tmp_path / "b", trust_forwarded=True)
    assert direct.address_of(request("203.0.113.7", "198.51.100.1")) == "203.0.113.7"  # a header anyone can send
    assert proxied.address_of(request("10.0.0.2", "198.51.100.1, 10.0.0.9")) == "198.51.100.1"
    assert proxied.address_of(request("10.0.0.2")) == "10.0.0.2"
    # An IPv6 subscriber holds a /64: rotating addresses within it is one address.
    assert direct.address_of(request("2001:db8:1:2:aaaa::1")) == direct.address_of(request("2001:db8:1:2::ffff"))
    assert direct.address_of(request("2001:db8:1:2::1")) == "2001:db8:1:2::/64"
    assert direct.address_of(request("::ffff:192.0.2.5")) == "192.0.2.5"
    assert direct.address_of(request(None)) == "unknown"
    assert not store_from_env({"FEEDBACK_DIR": str(tmp_path / "c")}).trust_forwarded
    assert store_from_env({"FEEDBACK_DIR": str(tmp_path / "c"), "SPACE_ID": "me/app"}).trust_forwarded
    assert not store_from_env({"FEEDBACK_DIR": str(tmp_path / "c"), "SPACE_ID": "me/app",
                               "FEEDBACK_TRUST_FORWARDED": "0"}).trust_forwarded
    limited = store_from_env({"FEEDBACK_DIR": str(tmp_path / "c"), "FEEDBACK_ADDRESS_LIMIT": "2",
                              "FEEDBACK_GLOBAL_LIMIT": "9", "FEEDBACK_MAX": "7"})
    assert (limited.per_address.limit, limited.overall.limit, limited.max_records) == (2, 9, 7)


def test_the_same_drawing_and_answer_is_kept_once_from_any_session_and_counted(tmp_path, reader):
    store = FeedbackStore(tmp_path / "fb")
    readings = [drawn(reader, "7") for _ in range(5)]  # five sessions (or a script) reading the same strokes
    assert [store.save(str(k), r, "1", HUB_SOURCE) for k, r in enumerate(readings[:4])] == [SAVED] + [REPEATED] * 3
    assert store.save("9", readings[4], "2", HUB_SOURCE) == SAVED  # another answer: a record of its own
    assert store.save("0", drawn(reader, "7", shift=1), "1", HUB_SOURCE) == SAVED  # another drawing
    assert sorted(r["answer"] for r in records(store.folder)) == ["1", "1", "2"] and store.count == 3
    assert store.times_corrected(readings[0].strokes, "1") == 4
    assert store.save("1", readings[1], "3", HUB_SOURCE) == ALREADY  # each reading still takes one correction
    restarted = FeedbackStore(store.folder)  # the records' names are the hashes: a restart still knows them
    assert restarted.save("5", drawn(reader, "7"), "1", HUB_SOURCE) == REPEATED and restarted.count == 3


def test_concurrent_corrections_are_all_kept_once(store, reader):
    answers: list[str] = []
    drawings = [drawn(reader, "42") for _ in range(16)]
    twice = drawn(reader, "5")

    def correct(k: int) -> None:
        answers.append(store.save(f"address-{k}", drawings[k], str(k), HUB_SOURCE))
        answers.append(store.save(f"address-{k}", twice, "6", HUB_SOURCE))  # 16 threads at one drawing

    threads = [threading.Thread(target=correct, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = records(store.folder)
    assert sorted(answers).count(SAVED) == 17 and answers.count(ALREADY) == 15 and store.count == 17
    assert sorted(int(r["answer"]) for r in kept) == sorted([*range(16), 6])
    assert len({r["id"] for r in kept}) == 17


def test_a_crash_between_write_and_rename_leaves_no_record(store, reader, monkeypatch):
    import space.feedback as feedback

    drawing = drawn(reader, "5")

    def crash(src, dst):
        raise OSError("No space left on device")

    monkeypatch.setattr(feedback.os, "replace", crash)
    assert store.save("a", drawing, "6", HUB_SOURCE) == NOT_SAVED
    assert list(store.folder.iterdir()) == [] and store.count == 0  # no record, no temporary file
    monkeypatch.undo()
    # A process killed mid-write leaves a temporary file: never counted, read by training, or uploaded.
    (store.folder / ".abc123.tmp").write_text('{"answer": "5", "stro')
    assert store.save("a", drawing, "6", HUB_SOURCE) == SAVED  # the failed save did not use the drawing up
    assert FeedbackStore(store.folder).count == 1


def test_training_reads_the_corrections_digits(tmp_path, reader):
    from training.corrections import load_corrections, summary

    store = FeedbackStore(tmp_path / "fb")
    for drawn_text, answer in [("7", "1"), ("42", "47"), ("2026", "2025"), ("1", "77")]:
        assert store.save("a", drawn(reader, drawn_text), answer, HUB_SOURCE) == SAVED
    (store.folder / ".crashed.tmp").write_text("{")
    corrections = load_corrections(str(store.folder))
    assert corrections.records == 4 and corrections.skipped == 1  # "1" cannot be "77"
    assert sorted(corrections.y.tolist()) == sorted([1, 4, 7, 2, 0, 2, 5])
    assert corrections.x.shape == (7, 28, 28) and corrections.x.dtype == np.uint8
    assert len(corrections.strokes) == 7  # each digit's own strokes, for the path model
    assert all(s.ndim == 2 and s.shape[1] == 2 for digit in corrections.strokes for s in digit)
    one = int(np.flatnonzero(corrections.y == 1)[0])  # only the "7" corrected to "1" gives a 1
    assert len(corrections.strokes[one]) == 1  # the whole drawing, its one stroke
    counts = summary(corrections, 20)["digits_per_class"]
    assert counts["2"] == 2 and counts["1"] == 1 and sum(counts.values()) == 7


# Runs in a subprocess (huggingface_hub reads HF_ENDPOINT and HF_TOKEN when imported): saves two
# corrections, starts the sync and waits for a commit by the scheduler, printing what it logged.
SYNC = r"""
import logging, sys, time
from pathlib import Path
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
from mnist_sketch.example_digits import pad_value
from space.feedback import FeedbackStore, ReadDrawing, start_sync
from mnist_sketch.model import load_model_file
from mnist_sketch.model_source import bundled_source
from mnist_sketch.predict import DigitReader
from mnist_sketch.strokes import parse_strokes
store = FeedbackStore(Path(sys.argv[1]))
reader, source = DigitReader(load_model_file(bundled_source().path)), bundled_source()
for drawn, answer in (("7", "1"), ("42", "47")):
    strokes = parse_strokes(pad_value(drawn))
    print(store.save("a", ReadDrawing.of(strokes, reader.read(strokes)), answer, source))
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
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING space.feedback")]
    assert len(warnings) == 1 and "stay in" in warnings[0]
    assert "Traceback" not in proc.stderr and (token or "hf_") not in "".join(warnings)
    assert len(records(tmp_path / "fb")) == 2


@pytest.mark.parametrize("header, address", [
    ("198.51.100.7", "198.51.100.7"),
    ("203.0.113.9, 198.51.100.7", "198.51.100.7"),  # the client wrote the first hop, the proxy the last
    ("203.0.113.9, 198.51.100.7, 10.16.3.80, 127.0.0.1", "198.51.100.7"),  # proxies inside the Space's network
    ("made-up, 198.51.100.7:4711", "198.51.100.7:4711"),
    ("203.0.113.9, [2001:db8::1]:443", "[2001:db8::1]:443"),
    ("10.0.0.1, 10.0.0.2", "10.0.0.2"),  # only proxies' addresses: the last one
    ("198.51.100.7, not an address", "not an address"),
    ("", ""),
])
def test_the_forwarded_address_is_the_right_most_one_no_proxy_of_ours_added(header, address):
    from space.feedback import forwarded_client

    assert forwarded_client(header) == address


def test_a_trusted_forwarded_address_counts_per_visitor_and_ipv6_per_64(tmp_path):
    store = FeedbackStore(tmp_path / "fb", trust_forwarded=True)

    def request(header: str):
        return SimpleNamespace(headers={"x-forwarded-for": header}, client=SimpleNamespace(host="10.16.3.80"))

    assert store.address_of(request("1.1.1.1, 198.51.100.7:4711")) == "198.51.100.7"
    assert store.address_of(request("[2001:db8:1:2:3::1]:443")) == "2001:db8:1:2::/64"
    assert store.address_of(request("")) == "10.16.3.80"


def test_training_skips_and_counts_records_the_app_would_never_keep(tmp_path, reader):
    from training.corrections import MAX_RECORD_BYTES, load_corrections

    store = FeedbackStore(tmp_path / "fb")
    assert store.save("a", drawn(reader, "7"), "1", HUB_SOURCE) == SAVED
    good, = records(store.folder)
    bad = {
        "deep": "[" * 100_000 + "]" * 100_000,  # json.loads: RecursionError
        "superscript": json.dumps({**good, "answer": "²"}),  # str.isdigit() holds, int() does not
        "integer-answer": json.dumps({**good, "answer": 7}),
        "a-list": "[1, 2]",
        "no-strokes": json.dumps({"answer": "3"}),
        "bad-strokes": json.dumps({**good, "strokes": {"width": 900, "height": 600, "strokes": [[[1, "x"]]]}}),
        "huge": " " * (MAX_RECORD_BYTES + 1) + "{}",
        "not-utf8": b"\xff\xfe{".decode("latin-1"),
    }
    for name, text in bad.items():
        (store.folder / f"{name}.json").write_text(text, encoding="latin-1" if name == "not-utf8" else "utf-8")
    corrections = load_corrections(str(store.folder))
    assert corrections.records == 1 + len(bad) and corrections.skipped == len(bad)
    assert corrections.y.tolist() == [1]
