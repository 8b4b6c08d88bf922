"""Load on the app's API: 32 concurrent gradio_client clients x 50 requests, next to 1 client x 50.

Starts `python app.py` on a free loopback port with the bundled model (or
uses a running app given with --url), then reads a drawn 7 both ways the API
takes it: as the stroke pad's value to /predict_strokes, and as an 800x800 PNG
canvas in a Sketchpad value to /predict; each first from one client, then from
32 clients at once (one thread and one Client each). Every answer must read
the digit that was drawn; any error or wrong answer fails the run. Prints
throughput and p50 / p99 latency per scenario.

    python benchmarks/load.py [--url http://127.0.0.1:7860/] [--clients 32] [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mnist_sketch.example_digits import draw_png, pad_value  # noqa: E402  (the app's example digits)

DIGIT = 7
REQUEST_TIMEOUT_S = 120  # one request; the whole run is bounded by clients x requests x this
START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen | None, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"app.py exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url + "config", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the app did not answer at {url} within {timeout:.0f} s")


def start_app() -> tuple[str, subprocess.Popen]:
    """`python app.py` on a free loopback port, offline, with the bundled model."""
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "MODEL_PATH": str(ROOT / "model" / "mnist.h5"),
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, process)
    return url, process


def payload(endpoint: str, canvas: Path):
    """What a client sends to `endpoint`: the pad's strokes of a 7, or the 7's canvas as a Sketchpad value."""
    from gradio_client import handle_file

    if endpoint == "/predict_strokes":
        return pad_value(str(DIGIT))
    return {"background": None, "layers": [], "composite": handle_file(str(canvas))}


def run_client(url: str, endpoint: str, canvas: Path, requests: int) -> tuple[list[float], list[str]]:
    """One Client sending `requests` predictions one after another: (latencies in s, errors)."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    latencies, errors = [], []
    for _ in range(requests):
        start = time.perf_counter()
        try:
            label, _, _ = client.submit(payload(endpoint, canvas), api_name=endpoint).result(timeout=REQUEST_TIMEOUT_S)
            if (label or {}).get("label") != str(DIGIT):
                errors.append(f"read {label!r} instead of {DIGIT}")
        except Exception as exc:  # a benchmark counts every failure, whatever it is
            errors.append(f"{type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - start)
    return latencies, errors


def scenario(url: str, endpoint: str, canvas: Path, clients: int, requests: int) -> dict:
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda _: run_client(url, endpoint, canvas, requests), range(clients)))
    wall = time.perf_counter() - start
    latencies = sorted(t for lat, _ in results for t in lat)
    errors = [e for _, errs in results for e in errs]
    return {
        "name": f"{endpoint} {clients} client{'s' if clients > 1 else ''} x {requests}",
        "requests": len(latencies),
        "errors": errors,
        "throughput": len(latencies) / wall,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))],
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app (default: start app.py on a free loopback port)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    args = parser.parse_args()

    process = None
    if args.url:
        url = args.url.rstrip("/") + "/"
        wait_until_up(url, None, timeout=30)
    else:
        url, process = start_app()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            canvas = Path(tmp) / f"canvas_{DIGIT}.png"
            draw_png(DIGIT).save(canvas)
            rows = []
            for endpoint in ("/predict_strokes", "/predict"):
                run_client(url, endpoint, canvas, 5)  # warm up: first uploads, traced model, thread pools
                rows += [scenario(url, endpoint, canvas, 1, args.requests),
                         scenario(url, endpoint, canvas, args.clients, args.requests)]
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)

    print(f"\n{url}: a drawn {DIGIT} as the pad's strokes (/predict_strokes) and as an 800x800 PNG canvas in a "
          "Sketchpad value (/predict)")
    print(f"{'scenario':<34} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'wall s':>7}")
    for r in rows:
        print(f"{r['name']:<34} {r['requests']:>8} {len(r['errors']):>6} {r['throughput']:>7.1f} "
              f"{r['p50'] * 1000:>8.0f} {r['p99'] * 1000:>8.0f} {r['wall']:>7.1f}")
    errors = [e for r in rows for e in r["errors"]]
    if errors:
        print(f"\n{len(errors)} errors, e.g.: " + "; ".join(sorted(set(errors))[:3]))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
