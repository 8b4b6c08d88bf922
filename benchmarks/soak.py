"""Soak: 5,000 mixed requests from 8 clients; errors, the server's memory and its temp dir as they go.

Starts `python app.py` on a free loopback port with the bundled model and a
temp dir of its own (GRADIO_TEMP_DIR), then 8 gradio_client clients send, in
turn: the pad's strokes of one drawing (identical requests, one preview for
all), strokes jittered anew each time (a new preview each), one PNG file
(identical uploads), and a Sketchpad value with a new PNG each time (new
uploads). Every answer must read the drawn digit. At 0, 1,000, ... 5,000
requests it prints the errors so far, the server's resident memory and the
temp dir's file count and size.

    python benchmarks/soak.py [--requests 5000] [--clients 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from load import free_port, wait_until_up  # noqa: E402

from mnist_sketch.example_digits import draw_png, pad_value  # noqa: E402

DIGIT = "7"
KINDS = ("strokes, identical", "strokes, unique", "file, identical", "sketchpad dict, unique")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_usage(folder: Path) -> tuple[int, int, int, float]:
    """(files, of which previews, folders, MB) under `folder`."""
    files = previews = folders = size = 0
    for path in folder.rglob("*"):
        if path.is_dir():
            folders += 1
        elif path.is_file():
            files += 1
            previews += path.parent.name == "previews"
            size += path.stat().st_size
    return files, previews, folders, size / 1e6


def jittered(rng: np.random.Generator) -> dict:
    """The 7's strokes, shifted and stretched at random: a drawing, and a preview, never seen before."""
    value = pad_value(DIGIT)
    dx, dy, sx = rng.uniform(-150, 150), rng.uniform(-60, 60), rng.uniform(0.85, 1.15)
    value["strokes"] = [[[round(450 + (x - 450) * sx + dx), round(y + dy)] for x, y in s] for s in value["strokes"]]
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--every", type=int, default=1000, help="requests between two snapshots")
    args = parser.parse_args()

    import subprocess

    from gradio_client import Client, handle_file

    temp = Path(tempfile.mkdtemp(prefix="soak-"))
    server_temp, work = temp / "gradio", temp / "client"
    server_temp.mkdir()
    work.mkdir()
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(server_temp), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "TF_CPP_MIN_LOG_LEVEL": "2", "FEEDBACK_DIR": str(temp / "feedback")}
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    identical_png = work / "seven.png"
    draw_png(int(DIGIT)).save(identical_png)
    counter, lock = iter(range(args.requests)), threading.Lock()
    errors: list[str] = []
    snapshots = []

    def snapshot(done: int) -> None:
        files, previews, folders, mb = folder_usage(server_temp)
        snapshots.append((done, len(errors), rss_mb(server.pid), files, folders, mb))
        print(f"{done:>6} requests: {len(errors)} errors, server RSS {snapshots[-1][2]:.0f} MB, temp dir "
              f"{files} files ({previews} previews) in {folders} folders, {mb:.1f} MB", flush=True)

    def client_loop(k: int) -> None:
        client = Client(url, verbose=False, download_files=False)
        rng = np.random.default_rng(k)
        while True:
            with lock:
                n = next(counter, None)
                if n is not None and n and n % args.every == 0:
                    snapshot(n)
            if n is None:
                return
            kind = KINDS[n % len(KINDS)]
            try:
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
                    errors.append(f"{kind}: read {label!r}")
            except Exception as exc:  # a benchmark counts every failure, whatever it is
                errors.append(f"{kind}: {exc.__class__.__name__}: {exc}")

    try:
        wait_until_up(url, server)
        print(f"{url}: {args.requests} requests from {args.clients} clients, in turn: {', '.join(KINDS)}")
        snapshot(0)
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(client_loop, range(args.clients)))
        snapshot(args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    warm = next(s for s in snapshots if s[0] >= args.every)
    print(f"RSS growth after warm-up (from {warm[0]} requests on): {snapshots[-1][2] - warm[2]:+.0f} MB; "
          f"temp dir at the end: {snapshots[-1][3]} files, {snapshots[-1][5]:.1f} MB (largest on the way: "
          f"{max(s[5] for s in snapshots):.1f} MB)")
    if errors:
        print(f"{len(errors)} errors, e.g.: " + "; ".join(sorted(set(errors))[:3]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
