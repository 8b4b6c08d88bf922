"""Load on the app's API: 1, 8 and 32 concurrent clients x 50 requests, next to the code of a baseline
commit served side by side.

Starts `python app.py` of this checkout and of the baseline commit (`--baseline`,
by default 0ce21a9: each request read alone, before batching), each on a free
loopback port with this checkout's bundled model (or uses a running app given
with --url), then reads a drawn 7 both ways the API takes it: as the stroke
pad's value to /predict_strokes, and as an 800x800 PNG canvas in a Sketchpad
value to /predict; from each number of clients at once (one thread and one
session each, speaking Gradio's queue protocol over HTTP as gradio_client does,
or with --client gradio_client one gradio_client.Client each; with --sessions
each, a new session for every request, as each call of the REST API
/gradio_api/call/... is), the two servers in turn (never both at once; which goes
first alternates). Every answer must read the digit that was drawn; any error or
wrong answer fails the run. Prints throughput and p50 / p99 latency per
scenario and server, and this checkout's figures over the baseline's.

    python benchmarks/load.py [--url http://127.0.0.1:7860/] [--clients 1 8 32] [--requests 50]
                              [--baseline REF | --baseline ""] [--client http|gradio_client]
                              [--sessions one|each]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from mnist_sketch.example_digits import draw_png, pad_value  # noqa: E402  (the app's example digits)

DIGIT = 7
REQUEST_TIMEOUT_S = 120  # one request; the whole run is bounded by clients x requests x this
START_TIMEOUT_S = 180
BASELINE = "0ce21a9"  # the last commit before batching (issue 41)
# Runs a checkout's app.py (ROOT PORT): that checkout's modules first on the path, as `python app.py` there.
RUN_CHECKOUT = ("import os, runpy, sys; root, port = sys.argv[1:3]; os.chdir(root); sys.path[0] = root; "
                "os.environ['GRADIO_SERVER_PORT'] = port; runpy.run_path('app.py', run_name='__main__')")


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


def check(label: dict | None, errors: list[str]) -> None:
    if (label or {}).get("label") != str(DIGIT):
        errors.append(f"read {label!r} instead of {DIGIT}")


def run_gradio_client(url: str, endpoint: str, canvas: Path, requests: int) -> tuple[list[float], list[str]]:
    """One gradio_client Client sending `requests` predictions one after another: (latencies in s, errors)."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    latencies, errors = [], []
    for _ in range(requests):
        start = time.perf_counter()
        try:
            check(client.submit(payload(endpoint, canvas), api_name=endpoint).result(timeout=REQUEST_TIMEOUT_S)[0],
                  errors)
        except Exception as exc:  # a benchmark counts every failure, whatever it is
            errors.append(f"{type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - start)
    return latencies, errors


def run_http_client(url: str, endpoint: str, canvas: Path, requests: int,
                    new_sessions: bool = False) -> tuple[list[float], list[str]]:
    """One client of its own session (`new_sessions`: a new one for each request) speaking Gradio's queue
    protocol over HTTP, as gradio_client does (for an image: upload, then join), `requests` predictions one
    after another: (latencies in s, errors)."""
    import httpx

    latencies, errors = [], []
    session = uuid.uuid4().hex[:12]
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as http:
        config = http.get("config").json()
        fn_index = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == endpoint[1:])
        image = canvas.read_bytes()
        for _ in range(requests):
            session = uuid.uuid4().hex[:12] if new_sessions else session
            start = time.perf_counter()
            try:
                if endpoint == "/predict_strokes":
                    data = [pad_value(str(DIGIT))]
                else:
                    uploaded = http.post("gradio_api/upload", files={"files": (canvas.name, image)}).json()[0]
                    data = [{"background": None, "layers": [], "composite": {
                        "path": uploaded, "orig_name": canvas.name, "meta": {"_type": "gradio.FileData"}}}]
                joined = http.post("gradio_api/queue/join", json={"data": data, "fn_index": fn_index,
                                                                  "session_hash": session})
                joined.raise_for_status()
                event_id = joined.json()["event_id"]
                with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
                    for line in stream.iter_lines():
                        message = json.loads(line[5:]) if line.startswith("data:") else {}
                        if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                            output = message["output"]
                            if "error" in output:
                                errors.append(f"error: {output['error']}")
                            else:
                                check(output["data"][0], errors)
                            break
            except Exception as exc:  # a benchmark counts every failure, whatever it is
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - start)
    return latencies, errors


CLIENTS = {"http": run_http_client, "gradio_client": run_gradio_client}


def scenario(url: str, endpoint: str, canvas: Path, clients: int, requests: int, client: str = "http",
             new_sessions: bool = False) -> dict:
    run_client = functools.partial(CLIENTS[client], new_sessions=True) if new_sessions else CLIENTS[client]
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


@contextlib.contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """This repository's files at `ref`, in a temporary folder (`git archive`)."""
    with tempfile.TemporaryDirectory(prefix="load-baseline-") as folder:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


@contextlib.contextmanager
def servers(url: str | None, baseline: str) -> Iterator[dict[str, str]]:
    """{name: URL} of the app to load (`url`, else this checkout's app.py) and, unless `baseline` is empty,
    the baseline commit's app.py beside it."""
    from browser_latency import app_and_baseline

    if not baseline:
        if url:
            wait_until_up(url, None, timeout=30)
            yield {"this": url}
            return
        url, process = start_app()
        try:
            yield {"this": url}
        finally:
            process.terminate()
            process.wait(timeout=30)
        return
    with checkout(baseline) as root, app_and_baseline(["-c", RUN_CHECKOUT, str(root)]) as (ours, base):
        if url:
            wait_until_up(url, None, timeout=30)
        yield {"this": url or ours, baseline: base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app (default: start app.py on a free loopback port)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    parser.add_argument("--baseline", default=BASELINE, help="a commit whose app.py is the baseline ('' for none)")
    parser.add_argument("--client", choices=CLIENTS, default="http",
                        help="http (default): Gradio's queue protocol over plain HTTP; gradio_client: one "
                             "gradio_client.Client per client, whose threads cost this 2-core machine more CPU than "
                             "the servers (2.5x both servers' CPU at 32 clients), so they measure themselves")
    parser.add_argument("--sessions", choices=("one", "each"), default="one",
                        help="one (default): a session per client; each: a new session for every request, as the "
                             "REST API's calls are (http clients only)")
    args = parser.parse_args()
    if args.sessions == "each" and args.client != "http":
        parser.error("--sessions each takes --client http")

    rows = []
    with servers(args.url.rstrip("/") + "/" if args.url else None, args.baseline) as urls, \
            tempfile.TemporaryDirectory() as tmp:
        canvas = Path(tmp) / f"canvas_{DIGIT}.png"
        draw_png(DIGIT).save(canvas)
        for endpoint in ("/predict_strokes", "/predict"):
            for url in urls.values():
                CLIENTS[args.client](url, endpoint, canvas, 5)  # warm up: first uploads, traced model, thread pools
            for k, clients in enumerate(args.clients):
                order = list(urls.items()) if k % 2 == 0 else list(urls.items())[::-1]
                for name, url in order:
                    rows.append({"server": name, "clients": clients,
                                 **scenario(url, endpoint, canvas, clients, args.requests, args.client,
                                             args.sessions == "each")})

    print(f"\n{', '.join(f'{name} {url}' for name, url in urls.items())}: a drawn {DIGIT} as the pad's strokes "
          f"(/predict_strokes) and as an 800x800 PNG canvas in a Sketchpad value (/predict), {args.client} clients, "
          f"{'a new session per request' if args.sessions == 'each' else 'a session per client'}")
    print(f"{'scenario':<36} {'server':>8} {'requests':>8} {'errors':>6} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'wall s':>7}")
    for r in sorted(rows, key=lambda r: (r["name"].split()[0] != "/predict_strokes", r["clients"],
                                         r["server"] != "this")):
        print(f"{r['name']:<36} {r['server']:>8} {r['requests']:>8} {len(r['errors']):>6} {r['throughput']:>7.1f} "
              f"{r['p50'] * 1000:>8.0f} {r['p99'] * 1000:>8.0f} {r['wall']:>7.1f}")
    if args.baseline:
        print(f"\nthis / {args.baseline}:")
        for r in rows:
            if r["server"] == "this":
                base = next(b for b in rows if b["server"] != "this" and b["name"] == r["name"])
                print(f"{r['name']:<36} throughput x{r['throughput'] / base['throughput']:.2f}, "
                      f"p50 x{r['p50'] / base['p50']:.2f}, p99 x{r['p99'] / base['p99']:.2f}")
    errors = [e for r in rows for e in r["errors"]]
    if errors:
        print(f"\n{len(errors)} errors, e.g.: " + "; ".join(sorted(set(errors))[:3]))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
