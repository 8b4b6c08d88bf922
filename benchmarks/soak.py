"""Soak: 30 minutes of mixed requests and corrections from 8 clients; errors, server memory and temp dir as they go.

Starts `python app.py` on a free loopback port with the bundled model and a
temp dir of its own (GRADIO_TEMP_DIR), then 8 clients send, in turn: the pad's
strokes of one drawing (identical requests, one preview for all), strokes
jittered anew each time (a new preview each), one PNG file (identical
uploads), a Sketchpad value with a new PNG each time (new uploads), and a
correction as a script sends one, over Gradio's queue protocol from a new
session each time (a new page, or a script rotating its session hash): the
jittered strokes read, a correction of that reading, and a second one of the
same drawing. Every reading must read the drawn digit, the first correction be
saved (the limits per address and overall are lifted, since every correction
comes from 127.0.0.1; tests/test_abuse.py checks them) and the second refused
as already made. Every --every seconds it prints the errors so far, the
server's resident memory, the temp dir's files and size and the corrections
kept; at the end, how much RSS grew over the run's last third.

    python benchmarks/soak.py [--minutes 30] [--clients 8] [--every 60]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from load import REQUEST_TIMEOUT_S, free_port, wait_until_up  # noqa: E402

from mnist_sketch.example_digits import draw_png, pad_value  # noqa: E402
from space.feedback import ALREADY, PAUSED, SAVED  # noqa: E402

DIGIT = "7"
KINDS = ("strokes, identical", "strokes, unique", "file, identical", "sketchpad dict, unique",
         "correction, new session")
LEVEL_MB = 20  # the target: RSS grows at most this much over the run's last third


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_usage(folder: Path) -> tuple[int, int, int, float]:
    """(files, of which previews, folders, MB) under `folder`; what the server's cache sweep deletes meanwhile
    is not counted."""
    files = previews = folders = size = 0
    for parent, subfolders, names in os.walk(folder):  # os.walk skips a folder deleted under it
        folders += len(subfolders)
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                size += os.stat(os.path.join(parent, name)).st_size
                files += 1
                previews += Path(parent).name == "previews"
    return files, previews, folders, size / 1e6


def jittered(rng: np.random.Generator) -> dict:
    """The 7's strokes, shifted and stretched at random: a drawing, and a preview, never seen before."""
    value = pad_value(DIGIT)
    dx, dy, sx = rng.uniform(-150, 150), rng.uniform(-60, 60), rng.uniform(0.85, 1.15)
    value["strokes"] = [[[round(450 + (x - 450) * sx + dx), round(y + dy)] for x, y in s] for s in value["strokes"]]
    return value


class QueueClient:
    """Events sent as a script sends them: POST /gradio_api/queue/join with an fn_index from /config and a
    session hash of its choosing, then the result from /gradio_api/queue/data."""

    def __init__(self, url: str):
        self.url, self.http = url, httpx.Client(timeout=REQUEST_TIMEOUT_S)
        dependencies = self.http.get(url + "config").json()["dependencies"]
        self.fn_index = {d.get("api_name"): i for i, d in enumerate(dependencies)}

    def call(self, api_name: str, data: list, session: str) -> list:
        """The event's output values, or RuntimeError with its error."""
        body = {"data": data, "fn_index": self.fn_index[api_name], "session_hash": session, "event_data": None,
                "trigger_id": None}
        self.http.post(self.url + "gradio_api/queue/join", json=body).raise_for_status()
        with self.http.stream("GET", self.url + "gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:") and (message := json.loads(line[5:])).get("msg") == "process_completed":
                    output = message["output"]
                    if "data" not in output:
                        raise RuntimeError(f"{api_name}: {output.get('error')!r}")
                    return output["data"]
        raise RuntimeError(f"{api_name}: the event never completed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--every", type=float, default=60, help="seconds between two snapshots")
    args = parser.parse_args()

    from gradio_client import Client, handle_file

    temp = Path(tempfile.mkdtemp(prefix="soak-"))
    server_temp, work, feedback = temp / "gradio", temp / "client", temp / "feedback"
    server_temp.mkdir()
    work.mkdir()
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(server_temp), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "TF_CPP_MIN_LOG_LEVEL": "2", "FEEDBACK_DIR": str(feedback),
           "FEEDBACK_ADDRESS_LIMIT": str(10**9), "FEEDBACK_GLOBAL_LIMIT": str(10**9)}
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    identical_png = work / "seven.png"
    draw_png(int(DIGIT)).save(identical_png)
    counter, lock = iter(range(10**12)), threading.Lock()
    errors: list[str] = []
    done = [0]
    snapshots: list[tuple[float, int, int, float]] = []  # (seconds, requests, errors, RSS MB)

    def snapshot() -> None:
        seconds = time.monotonic() - start
        files, previews, folders, mb = folder_usage(server_temp)
        kept = sum(1 for _ in feedback.glob("*.json"))
        snapshots.append((seconds, done[0], len(errors), rss_mb(server.pid)))
        print(f"{seconds / 60:5.1f} min, {done[0]:>6} requests: {len(errors)} errors, server RSS "
              f"{snapshots[-1][3]:.0f} MB, temp dir {files} files ({previews} previews) in {folders} folders, "
              f"{mb:.1f} MB; {kept} corrections kept", flush=True)

    def fail(error: str) -> None:
        """Count an error, and say it with its time."""
        with lock:
            errors.append(error)
        print(f"  error at {(time.monotonic() - start) / 60:.1f} min: {error}", flush=True)

    def correction(script: QueueClient, rng: np.random.Generator) -> str | None:
        """A new session reads a drawing and corrects it twice; what went wrong, or None."""
        session = uuid.uuid4().hex[:11]
        label = script.call("predict_strokes", [jittered(rng)], session)[0]
        if (label or {}).get("label") != DIGIT:
            return f"read {label!r}"
        first = script.call("correct", [None, "1"], session)[0]
        second = script.call("correct_4", [None], session)[0]
        if first not in (SAVED, PAUSED) or second not in (ALREADY, PAUSED):
            return f"answered {first!r}, then {second!r}"
        return None

    def client_loop(k: int) -> None:
        client = Client(url, verbose=False, download_files=False)
        script = QueueClient(url)
        rng = np.random.default_rng(k)
        while time.monotonic() < stop:
            with lock:
                n = next(counter)
            kind = KINDS[n % len(KINDS)]
            try:
                problem = None
                if kind == "correction, new session":
                    problem = correction(script, rng)
                else:
                    if kind == "strokes, identical":
                        label = client.predict(pad_value(DIGIT), api_name="/predict_strokes")[0]
                    elif kind == "strokes, unique":
                        label = client.predict(jittered(rng), api_name="/predict_strokes")[0]
                    elif kind == "file, identical":
                        label = client.predict(handle_file(str(identical_png)), api_name="/predict")[0]
                    else:
                        path = work / f"{k}-{n}.png"
                        canvas = Image.new("L", (800, 800), 255)
                        canvas.paste(draw_png(int(DIGIT), size=400), tuple(int(v) for v in rng.integers(0, 400, 2)))
                        canvas.save(path)
                        label = client.predict({"background": None, "layers": [], "composite": handle_file(str(path))},
                                               api_name="/predict")[0]
                        path.unlink()
                    if (label or {}).get("label") != DIGIT:
                        problem = f"read {label!r}"
                if problem:
                    fail(f"{kind}: {problem}")
            except Exception as exc:  # a benchmark counts every failure, whatever it is
                fail(f"{kind}: {exc.__class__.__name__}: {exc}")
            with lock:
                done[0] += 1

    def snapshots_until_stop() -> None:
        while time.monotonic() < stop:
            time.sleep(min(args.every, max(0.0, stop - time.monotonic())))
            snapshot()

    try:
        wait_until_up(url, server)
        print(f"{url}: {args.minutes:g} minutes from {args.clients} clients, in turn: {', '.join(KINDS)}")
        start, stop = time.monotonic(), time.monotonic() + args.minutes * 60
        snapshot()
        watcher = threading.Thread(target=snapshots_until_stop, daemon=True)
        watcher.start()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client_loop, range(args.clients)))
        watcher.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    last_third = [s for s in snapshots if s[0] >= snapshots[-1][0] * 2 / 3]
    growth = last_third[-1][3] - last_third[0][3]
    print(f"RSS over the last third ({last_third[0][0] / 60:.1f}-{last_third[-1][0] / 60:.1f} min): "
          f"{last_third[0][3]:.0f} -> {last_third[-1][3]:.0f} MB ({growth:+.0f} MB; range "
          f"{min(s[3] for s in last_third):.0f}-{max(s[3] for s in last_third):.0f} MB): "
          f"{'level' if growth <= LEVEL_MB else 'still growing'} (target <= {LEVEL_MB} MB); "
          f"{done[0]} requests, {len(errors)} errors")
    if errors:
        print(f"{len(errors)} errors, e.g.: " + "; ".join(sorted(set(errors))[:3]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
