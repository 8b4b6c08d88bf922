"""The costliest stroke drawings a client may send, and what each costs the server next to a plain digit.

Issue 32: valid payloads once cost minutes of CPU. `python app.py` (the bundled models, offline) runs in a
child process, and each payload goes to /predict_strokes through Gradio's queue over HTTP, as any client
may send it, `--repeats` times. Printed per payload: the server's CPU seconds per request (user + system,
all its threads, from /proc/PID/stat), the wall seconds, the ratio to a plain digit's CPU measured in the
same run, the growth of the server's peak RSS during the request (its high-water mark, reset through
/proc/PID/clear_refs before each) and its answer. The payloads are at the limits of `mnist_sketch.strokes`
(strokes, points per stroke, points in all, canvas side): the issue's 64 zigzags of 2,000 points across a
10,000 px canvas, alone and in 12 touching digits; zigzags within the total, across the canvas, flat, and
in 3, 12 and 13 touching digits or 12 apart; random walks of long and of 1 px steps; 64 strokes side by
side; a plain 12-digit number. Then the costliest, four at once, and a correction of it (the page's Send
button, which draws the record's PNG).

Then bodies over the server's cap (issue 43, `space.http_guard`): queue/join bodies of 1.5, 5 and 20 MB of
`[]` strokes, each from a new session, with a length header and (5 MB) chunked without one: each one's
cost next to a plain digit and its answer; the RSS that four new sessions of 5 MB bodies add; and a plain
reading's wall time while another client sends 20 MB bodies back to back, next to its time alone.

Targets: the costliest drawing at most 10x a plain digit's CPU; peak RSS growth at most 100 MB per request.
Bodies: each at most 2x a plain digit's CPU and answered 413; four 5 MB sessions add at most 60 MB; a plain
reading during 20 MB bodies at most 2x its time alone.

With --before REV, also what bounding the cost changed in how real drawings are read: the dev digits of
../shared/data/pen_digits.npz, placed on the pad as the app and training place them (`on_pad`), as
recorded and resampled to a point per pixel as the pad sends a slow pen, each drawn into the model's frame
whole (`frame_strokes(parse_strokes(...))`, the training path) and split as the app splits them, by the
mnist_sketch of git revision REV and by this tree, each in a process of its own: the inputs' largest and
mean absolute difference, the readings that change with the bundled model, and the CPU per drawing split.

    python benchmarks/worst_case.py [--repeats 5] [--bodies-only] [--before REV [--every 1] [--skip-cost]]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import pickle
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# Appended, and mnist_sketch imported only where used: a --before worker must find that revision's first
# (on its PYTHONPATH), and its names may differ.
sys.path.append(str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PEN_DIGITS = ROOT.parent / "shared" / "data" / "pen_digits.npz"
REQUEST_TIMEOUT_S = 600
CPU_TARGET, RSS_TARGET_MB = 10.0, 100.0
CORRECTION = "1234567890"  # an answer no payload here is read as (the next ones too: one is kept per answer)
BODY_MB = (1.5, 5, 20)  # bodies over the cap
BODY_CPU_TARGET, BODY_RSS_TARGET_MB, DELAY_TARGET = 2.0, 60.0, 2.0


def zigzag(box: tuple[float, float, float, float], points: int, up: bool = False, phase: int = 0) -> list:
    """A stroke of `points` points going back and forth across a box (x0, x1, y0, y1) from side to side while
    it creeps down, or (`up`) from top to bottom while it creeps right."""
    x0, x1, y0, y1 = box
    turns = (np.arange(points) + phase) % 2 == 0
    if up:
        xy = np.stack([np.linspace(x0, x1, points), np.where(turns, y0, y1)], axis=1)
    else:
        xy = np.stack([np.where(turns, x0, x1), np.linspace(y0, y1, points)], axis=1)
    return xy.round(1).tolist()


def columns(canvas: float, digits: int, strokes: int, points: int, up: bool = False, gap: float = 0.0) -> list:
    """`strokes` zigzags of `points` points dealt to `digits` columns across a square canvas, a column's
    zigzags one digit; neighbouring columns touch, or stand `gap` of a column's width apart."""
    width = canvas / digits
    return [zigzag(((k % digits + gap / 2) * width, (k % digits + 1 - gap / 2) * width, 0.2 * canvas, 0.8 * canvas),
                   points, up, phase=k) for k in range(strokes)]


def walk(rng: np.random.Generator, canvas: float, points: int, step: float) -> list[list[float]]:
    """A random walk of `points` points from a square canvas's centre, normal steps of `step` px, folded
    back at its edges."""
    path = canvas / 2 + np.cumsum(rng.normal(0.0, step, (points, 2)), axis=0)
    return np.abs((path + canvas) % (2 * canvas) - canvas).round(1).tolist()


def payloads() -> dict[str, dict]:
    """The candidates for the costliest payload, by name: pad values {"width", "height", "strokes"}."""
    from mnist_sketch.example_digits import pad_value
    from mnist_sketch.segment import MAX_DIGITS
    from mnist_sketch.strokes import MAX_CANVAS_SIDE, MAX_POINTS, MAX_STROKES, MAX_TOTAL_POINTS

    c, most, n = MAX_CANVAS_SIDE, MAX_POINTS, MAX_STROKES
    share = MAX_TOTAL_POINTS // n  # points in each of the most strokes, within the total
    long = MAX_TOTAL_POINTS // most  # strokes of the most points, within the total
    canvas = (0, c, 0, c)
    rng = np.random.default_rng(0)
    drawn = {
        f"issue 32: {n} zigzags x {most:,} across the canvas": [zigzag(canvas, most)] * n,
        f"issue 32: {n} zigzags x {most:,} in 12 touching digits": columns(c, 12, n, most),
        f"{MAX_TOTAL_POINTS + 1:,} points, one over the total": [zigzag(canvas, share)] * (n - 1)
        + [zigzag(canvas, MAX_TOTAL_POINTS + 1 - share * (n - 1))],
        f"{long} flat zigzags x {most:,} (1 % of the canvas high)": [zigzag((0, c, 0.5 * c, 0.51 * c), most)] * long,
        **{f"{n} random walks x {share}, {step:,} px steps": [walk(rng, c, share, step) for _ in range(n)]
           for step in (1000, 1)},
    }
    for up, way in ((False, "zigzags"), (True, "zigzags up and down")):
        drawn |= {
            f"{long} {way} x {most:,} across the canvas": [zigzag(canvas, most, up)] * long,
            f"{n} {way} x {share} across the canvas": [zigzag(canvas, share, up)] * n,
            **{f"{n} {way} x {share} in {k} touching digits": columns(c, k, n, share, up)
               for k in (3, 12, MAX_DIGITS + 1)},
            f"{n} {way} x {share} in 12 digits apart": columns(c, 12, n, share, up, gap=0.5),
            f"{n} {way} x {share} side by side ({n} digits)": columns(c, n, n, share, up),
        }
    return {"a plain 12-digit number": pad_value("314159265358", canvas=(2000, 600)),
            **{name: {"width": c, "height": c, "strokes": strokes} for name, strokes in drawn.items()}}


class Server:
    """The app in a child process, and what the kernel says it uses."""

    def __init__(self, folder: Path):
        from load import free_port, wait_until_up

        port = free_port()
        env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
               "MODEL_PATH": str(ROOT / "model" / "mnist.h5"), "HF_HUB_OFFLINE": "1",
               "GRADIO_ANALYTICS_ENABLED": "False", "FEEDBACK_DIR": str(folder / "feedback"),
               "GRADIO_TEMP_DIR": str(folder / "gradio")}
        self.process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url, self.feedback = f"http://127.0.0.1:{port}/", folder / "feedback"
        wait_until_up(self.url, self.process)
        config = httpx.get(self.url + "config").json()
        self.endpoints = {d["api_name"]: i for i, d in enumerate(config["dependencies"]) if d.get("api_name")}

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server, all its threads, so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self, key: str) -> float:
        """A line of /proc/PID/status in MB: VmRSS (now) or VmHWM (the peak since `reset_peak`)."""
        line = next(line for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
                    if line.startswith(key + ":"))
        return int(line.split()[1]) / 1024

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS

    def call(self, api_name: str, data: list, session: str | None = None) -> dict:
        """One event through Gradio's queue over HTTP, as any client may send it: its output
        ({"data": [...]} or {"error": message}; a body over the server's cap is answered 413 at once)."""
        session = session or uuid.uuid4().hex[:12]
        joined = httpx.post(self.url + "gradio_api/queue/join", timeout=REQUEST_TIMEOUT_S,
                            json={"data": data, "fn_index": self.endpoints[api_name], "session_hash": session,
                                  "event_data": None, "trigger_id": None})
        if joined.status_code == 413:  # over the server's body cap: refused before it is read
            return {"error": f"HTTP 413: {joined.json().get('detail', '')}"}
        joined.raise_for_status()
        with httpx.stream("GET", self.url + "gradio_api/queue/data", params={"session_hash": session},
                          timeout=REQUEST_TIMEOUT_S) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:") and (message := json.loads(line[5:])).get("msg") == "process_completed":
                    return message["output"]
        raise RuntimeError(f"the {api_name} event never completed")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


class Cost(NamedTuple):
    """Per request, the median of the rounds' (the kernel counts CPU in ticks of 10 ms: a round of a cheap
    request sends several): CPU seconds, wall seconds (for the requests sent at once); the largest growth of
    the peak RSS over the RSS before, in a round."""

    cpu_s: float
    wall_s: float
    peak_mb: float
    answer: str
    refused: bool  # answered with an error, not a reading


def answer_of(output: dict) -> tuple[str, bool]:
    """The sentence a reading or correction answered with, or its error (an empty one shown as such); and
    whether it was an error."""
    if "error" in output or "data" not in output:
        return f"error: {output.get('error') or '(no message)'}", True
    strings = [d for d in output["data"] if isinstance(d, str) and d and not d.endswith(".png")]
    return (strings[0] if strings else "(no sentence)"), False


def cost(server: Server, rounds: int, send: Callable[[str], dict], at_once: int = 1, in_turn: int = 1,
         prepare: Callable[[str], object] | None = None) -> Cost:
    """What `send(session)` (one request in a new session, returning its output) costs the server: per round,
    `at_once` sent together, `in_turn` times; `prepare(session)` runs first for each, untimed."""
    cpu, wall, peak = [], [], []
    for _ in range(rounds):
        sessions = [uuid.uuid4().hex[:12] for _ in range(at_once * in_turn)]
        for session in sessions if prepare else ():
            prepare(session)
        before = server.memory_mb("VmRSS")
        server.reset_peak()
        start_cpu, start = server.cpu_s(), time.perf_counter()
        with ThreadPoolExecutor(at_once) as pool:
            for k in range(in_turn):
                outputs = list(pool.map(send, sessions[k * at_once : (k + 1) * at_once]))
        wall.append((time.perf_counter() - start) / in_turn)
        cpu.append((server.cpu_s() - start_cpu) / len(sessions))
        peak.append(server.memory_mb("VmHWM") - before)
    return Cost(statistics.median(cpu), statistics.median(wall), max(peak), *answer_of(outputs[0]))


def measure_cost(repeats: int, drawings: bool = True) -> None:
    """Part 1: every payload through the app (only the bodies over the cap without `drawings`), next to a plain
    digit."""
    from mnist_sketch.example_digits import pad_value
    from mnist_sketch.strokes import MAX_CANVAS_SIDE, MAX_POINTS, MAX_STROKES, MAX_TOTAL_POINTS

    candidates = {"plain digit (the baseline)": pad_value("7"), **(payloads() if drawings else {})}
    print(f"Server CPU per request (user + system, all threads), the median of {repeats} rounds (the baseline's "
          f"of 10 requests each); peak RSS growth, the largest; {os.cpu_count()} CPUs. Limits: {MAX_STROKES} strokes x "
          f"{MAX_POINTS:,} points, {MAX_TOTAL_POINTS:,} points in all, {MAX_CANVAS_SIDE:,} px canvas.\n")
    with tempfile.TemporaryDirectory(prefix="worst-case-") as folder:
        server = Server(Path(folder))
        try:
            def reading(value: dict) -> Callable[[str], dict]:
                return lambda session: server.call("predict_strokes", [value], session)

            for _ in range(5):  # warm-up: the first readings trace the models
                reading(candidates["plain digit (the baseline)"])("warm-up")
            rows = {name: cost(server, repeats, reading(value), in_turn=10 if k == 0 else 1)
                    for k, (name, value) in enumerate(candidates.items())}
            plain = rows.pop("plain digit (the baseline)")
            print(f"{'payload':<62} {'points':>7} {'CPU s':>7} {'x plain':>7} {'wall s':>7} {'peak MB':>8}  answer")
            line = "{:<62} {:>7,} {:>7.3f} {:>7.1f} {:>7.2f} {:>8.1f}  {}"
            for name, row in [("plain digit (the baseline)", plain), *sorted(rows.items(), key=lambda r: -r[1].cpu_s)]:
                print(line.format(name, sum(map(len, candidates[name]["strokes"])), row.cpu_s, row.cpu_s / plain.cpu_s,
                                  row.wall_s, row.peak_mb, row.answer[:60]))
            if not drawings:
                return measure_bodies(server, plain, reading(candidates["plain digit (the baseline)"]), repeats)
            read = {name: row for name, row in rows.items() if not row.refused}
            worst, refused = max(read, key=lambda n: read[n].cpu_s), max(rows, key=lambda n: rows[n].cpu_s)
            print()
            for name in dict.fromkeys((worst, refused)):
                four = cost(server, repeats, reading(candidates[name]), at_once=4)
                print(f"{name}, 4 at once: {four.cpu_s:.3f} CPU s each, {four.wall_s:.2f} s wall for the 4, "
                      f"peak RSS +{four.peak_mb:.1f} MB")
            if "correct" in server.endpoints:  # the page's Send button, after a reading in the same session
                answers = (str(int(CORRECTION) + k) for k in itertools.count())  # a new answer each: a record

                def correct(session: str) -> dict:
                    return server.call("correct", [None, next(answers)], session)

                for name in ("plain digit (the baseline)", worst):
                    fixed = cost(server, repeats, correct, prepare=reading(candidates[name]))
                    records = sorted(server.feedback.glob("*.json"), key=lambda p: p.stat().st_mtime)
                    size = records[-1].stat().st_size / 1e3 if records else float("nan")
                    print(f"a correction of {name}: {fixed.cpu_s:.3f} CPU s ({fixed.cpu_s / plain.cpu_s:.1f}x a plain "
                          f"digit's reading), peak RSS +{fixed.peak_mb:.1f} MB, last record {size:,.0f} kB: "
                          f"{fixed.answer[:60]}")
            else:
                print("this app has no /correct event: corrections not measured")
            ratio, peak = read[worst].cpu_s / plain.cpu_s, max(row.peak_mb for row in rows.values())
            print(f"\ncostliest drawing read: {worst}: {ratio:.1f}x a plain digit (target {CPU_TARGET:g}x: "
                  f"{'met' if ratio <= CPU_TARGET else 'MISSED'}); costliest refused: {refused}: "
                  f"{rows[refused].cpu_s / plain.cpu_s:.1f}x; largest peak RSS growth {peak:.1f} MB (target "
                  f"{RSS_TARGET_MB:g}: {'met' if peak <= RSS_TARGET_MB else 'MISSED'})")
            measure_bodies(server, plain, reading(candidates["plain digit (the baseline)"]), repeats)
        finally:
            server.close()


def empty_strokes_body(megabytes: float, session: str) -> bytes:
    """A queue/join of about `megabytes` MB: one pad value of `[]` strokes, which Gradio used to parse, walk
    and keep in the session."""
    count = int(megabytes * 2**20) // 3
    value = '{"width": 900, "height": 600, "strokes": [' + ",".join(["[]"] * count) + "]}"
    return ('{"data": [' + value + '], "fn_index": 0, "session_hash": "' + session + '"}').encode()


class AnotherClient:
    """A client in a process of its own that sends `megabytes` MB bodies to queue/join: one as it is told
    (`send_one`), or one after another (`flood` ... `stop_flood`); or, for a control, one to a sink of its own
    that reads it and answers 413 as the app does (`send_one_to_sink`): the same work for this machine,
    none for the app."""

    SCRIPT = """
import socket, sys, threading, httpx
sys.path.insert(0, sys.argv[3])
from worst_case import empty_strokes_body
body, url = empty_strokes_body(float(sys.argv[2]), "another-client"), sys.argv[1] + "gradio_api/queue/join"
def send(to=url):
    httpx.post(to, content=body, headers={"Content-Type": "application/json"}, timeout=600)
sink = socket.create_server(("127.0.0.1", 0))
def serve_sink():
    while True:
        connection, _ = sink.accept()
        with connection:
            data = b""
            while b"\\r\\n\\r\\n" not in data:
                data += connection.recv(65536)
            head, rest = data.split(b"\\r\\n\\r\\n", 1)
            fields = dict(line.lower().split(b":", 1) for line in head.split(b"\\r\\n")[1:])
            left = int(fields[b"content-length"]) - len(rest)
            while left > 0 and (chunk := connection.recv(65536)):
                left -= len(chunk)
            connection.sendall(b"HTTP/1.1 413 Payload Too Large\\r\\ncontent-length: 2\\r\\n"
                               b"connection: close\\r\\n\\r\\n{}")
threading.Thread(target=serve_sink, daemon=True).start()
sink_url = "http://127.0.0.1:%d/" % sink.getsockname()[1]
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() in ("one", "sink"):
        send(url if line.strip() == "one" else sink_url)
        print("sent", flush=True)
    elif line.strip() == "flood":
        stop, count = threading.Event(), [0]
        def flood():
            while not stop.is_set():
                send()
                count[0] += 1
        thread = threading.Thread(target=flood)
        thread.start()
        sys.stdin.readline()
        stop.set()
        thread.join()
        print(count[0], flush=True)
"""

    def __init__(self, url: str, megabytes: float):
        self.process = subprocess.Popen([sys.executable, "-c", self.SCRIPT, url, str(megabytes),
                                         str(Path(__file__).parent)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def _say(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def send_one(self) -> Callable[[], None]:
        """Start sending one body to the app; a function that waits until it is answered."""
        self._say("one")
        return lambda: self.process.stdout.readline()

    def send_one_to_sink(self) -> Callable[[], None]:
        """Start sending one body to the sink; a function that waits until it is answered."""
        self._say("sink")
        return lambda: self.process.stdout.readline()

    def flood(self) -> None:
        self._say("flood")
        time.sleep(0.5)

    def stop_flood(self) -> int:
        """Stop the flood: how many bodies were sent."""
        self._say("stop")
        return int(self.process.stdout.readline())

    def __enter__(self) -> AnotherClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def timed_reading(read_plain: Callable[[str], dict], beside: Callable[[], Callable[[], None]] | None = None) -> float:
    """A plain reading's wall seconds in a new session, alone or as `beside()` starts another client's body."""
    wait = beside() if beside else None
    start = time.perf_counter()
    read_plain(uuid.uuid4().hex[:12])
    took = time.perf_counter() - start
    if wait:
        wait()
    return took


def measure_bodies(server: Server, plain: Cost, read_plain: Callable[[str], dict], repeats: int) -> None:
    """Part 1b: bodies over the cap, as a client sends them, next to a plain digit's reading."""
    bodies: dict[str, bytes] = {}

    def post(megabytes: float, chunked: bool = False) -> Callable[[str], dict]:
        def send(session: str) -> dict:
            body = bodies.pop(session)
            content = (body[k : k + 65536] for k in range(0, len(body), 65536)) if chunked else body
            response = httpx.post(server.url + "gradio_api/queue/join", content=content, timeout=REQUEST_TIMEOUT_S,
                                  headers={"Content-Type": "application/json"})
            detail = response.json().get("detail", "") if response.status_code != 200 else ""
            return {"error": f"HTTP {response.status_code}: {detail}"} if detail else {"data": [response.text]}
        return send

    def prepare(megabytes: float) -> Callable[[str], None]:
        return lambda session: bodies.__setitem__(session, empty_strokes_body(megabytes, session))

    print(f"\nBodies over the cap, each from a new session ({repeats} rounds), next to the plain digit's "
          f"{plain.cpu_s:.3f} CPU s:")
    ratios = []
    for megabytes, chunked in [*((mb, False) for mb in BODY_MB), (5, True)]:
        row = cost(server, repeats, post(megabytes, chunked), prepare=prepare(megabytes))
        ratios.append(row.cpu_s / plain.cpu_s)
        print(f"  {megabytes:>4g} MB{' chunked, no length' if chunked else '':<19} {row.cpu_s:.3f} CPU s "
              f"({ratios[-1]:.1f}x), {row.wall_s:.2f} s wall, peak RSS +{row.peak_mb:.1f} MB: {row.answer[:70]}")
    before = server.memory_mb("VmRSS")
    for _ in range(4):
        session = uuid.uuid4().hex[:12]
        prepare(5)(session)
        post(5)(session)
    added = server.memory_mb("VmRSS") - before
    with AnotherClient(server.url, 20) as other:
        # In turn, so that what else the machine runs weighs on the three alike.
        times = [[timed_reading(read_plain, beside) for beside in (None, other.send_one, other.send_one_to_sink)]
                 for _ in range(5 * repeats)]
        alone, during, control = (statistics.median(column) for column in zip(*times))
        other.flood()
        flooded = statistics.median(timed_reading(read_plain) for _ in range(5 * repeats))
        sent = other.stop_flood()
    print(f"  four new sessions of 5 MB bodies: RSS +{added:.1f} MB (target {BODY_RSS_TARGET_MB:g}: "
          f"{'met' if added <= BODY_RSS_TARGET_MB else 'MISSED'})")
    print(f"  a plain reading, median of {5 * repeats}: {alone:.3f} s alone, {during:.3f} s as another client sends a "
          f"20 MB body ({during / alone:.2f}x, target {DELAY_TARGET:g}x: "
          f"{'met' if during <= DELAY_TARGET * alone else 'MISSED'}), {control:.3f} s ({control / alone:.2f}x) as it "
          f"sends one to a sink of its own (the machine's share); {flooded:.3f} s ({flooded / alone:.2f}x) while it "
          f"sends them back to back to the app ({sent} in all); load average {os.getloadavg()[0]:.1f}")
    print(f"  costliest body: {max(ratios):.1f}x a plain digit (target {BODY_CPU_TARGET:g}x: "
          f"{'met' if max(ratios) <= BODY_CPU_TARGET else 'MISSED'})")


# Part 2: what the bound changed on real drawings.

def dev_digits(every: int) -> tuple[list[list[np.ndarray]], np.ndarray]:
    """Every `every`-th dev digit of pen_digits.npz: (strokes, labels)."""
    with np.load(PEN_DIGITS) as z:
        points, strokes_at, samples_at = z["points"], z["stroke_offsets"], z["sample_offsets"]
        chosen = np.flatnonzero(z["split"] == "dev")[::every]
        labels = z["labels"][chosen]
    return [[points[strokes_at[k] : strokes_at[k + 1]].astype(np.float64)
             for k in range(samples_at[i], samples_at[i + 1])] for i in chosen], labels


def per_pixel(value: dict) -> dict:
    """The pad's value with each stroke resampled to a point per canvas pixel of its path and rounded to
    whole pixels, repeats dropped, a stroke of over MAX_POINTS going on as a new one: what the pad
    (stroke_pad.js) sends of a slow pen."""
    from mnist_sketch.strokes import MAX_POINTS

    strokes = []
    for stroke in map(np.asarray, value["strokes"]):
        along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))])
        at = np.append(np.arange(0.0, along[-1]), along[-1])
        xy = np.rint(np.stack([np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])], axis=1))
        xy = xy[np.concatenate([[True], (np.diff(xy, axis=0) != 0).any(axis=1)])]
        strokes += [xy[k : k + MAX_POINTS].tolist() for k in range(0, max(len(xy) - 1, 1), MAX_POINTS - 1)]
    return {**value, "strokes": strokes}


def frame_and_split(out: Path, every: int) -> None:
    """(A worker, run with the mnist_sketch under test first on the path.) Per variant of the dev digits
    ("as recorded", "a point per pixel"): their whole-drawing inputs (n, 28, 28), their splits, the mean
    CPU seconds to parse and split one, and the points parsed; pickled to `out`."""
    from mnist_sketch.preprocess import EmptyDrawing
    from mnist_sketch.segment import split
    from mnist_sketch.strokes import frame_strokes, parse_strokes
    from training.pen_digits import on_pad

    digits, _ = dev_digits(every)
    results = {}
    for variant, place in (("as recorded", on_pad), ("a point per pixel", lambda s: per_pixel(on_pad(s)))):
        values = [place(strokes) for strokes in digits]
        frames, found, cpu, points = [], [], 0.0, 0
        for value in values:
            start = time.process_time()
            drawing = parse_strokes(value)
            try:
                found.append(split(drawing))
            except EmptyDrawing as exc:
                found.append(exc)
            cpu += time.process_time() - start
            frames.append(frame_strokes(drawing))
            points += sum(map(len, drawing.strokes))
        results[variant] = (np.stack(frames), found, cpu / len(values), points)
    out.write_bytes(pickle.dumps(results))


def inputs_of(code: Path | None, every: int) -> dict:
    """`frame_and_split` in a process of its own, with the mnist_sketch in folder `code` (None: this tree's)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "inputs.pickle"
        env = {**os.environ, "PYTHONPATH": str(code or ROOT)}
        subprocess.run([sys.executable, __file__, "--worker", str(out), "--every", str(every)], env=env, check=True)
        return pickle.loads(out.read_bytes())


def measure_change(before: str, every: int) -> None:
    """Part 2: the dev digits framed and read by revision `before` and by this tree."""
    from mnist_sketch.model import load_model_file
    from mnist_sketch.model_source import bundled_source, load_number_model
    from mnist_sketch.predict import DigitReader

    archive = subprocess.run(["git", "archive", before, "mnist_sketch"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tempfile.TemporaryDirectory() as code:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(code, filter="data")
        old = inputs_of(Path(code), every)
    new = inputs_of(None, every)
    source = bundled_source()
    reader = DigitReader(load_model_file(source.path), number_model=load_number_model(source))
    _, labels = dev_digits(every)
    print(f"\n{len(labels):,} dev digits of {PEN_DIGITS.name} on the pad (every {every}), by {before} and by this "
          f"tree; read with the bundled model")
    print(f"{'variant':<18} {'points parsed':>20} {'max |diff|':>10} {'mean |diff|':>11} {'centred 1 px off':>16} "
          f"{'then max |diff|':>15} {'readings changed':>16} {'right, before -> now':>20} {'ms per split':>16}")
    for variant in new:
        (frames0, found0, cpu0, points0), (frames1, found1, cpu1, points1) = old[variant], new[variant]
        diff = np.abs(frames1 - frames0)
        aligned = aligned_difference(frames0, frames1)
        texts0 = [r.text for r in reader.choose(found0)]
        texts1 = [r.text for r in reader.choose(found1)]
        changed = sum(a != b for a, b in zip(texts0, texts1))
        right0, right1 = (sum(t == str(y) for t, y in zip(texts, labels)) for texts in (texts0, texts1))
        print(f"{variant:<18} {points0:>9,}->{points1:<9,} {diff.max():>10.3f} {diff.mean():>11.5f} "
              f"{int((aligned < diff.max(axis=(1, 2))).sum()):>16,} {aligned.max():>15.3f} {changed:>16,} "
              f"{right0:>9,} -> {right1:<7,} {1000 * cpu0:>7.2f} -> {1000 * cpu1:<6.2f}")
    print("(centred 1 px off: inputs closer to the old one moved by a pixel, as `center_by_mass` rounds the centre "
          "of mass; then max |diff|: the largest difference, so aligned)")


def aligned_difference(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(n,) the largest absolute difference of each of `after` (n, 28, 28) from `before`, `after` moved by the
    whole pixel (up to one each way) that makes it least."""
    moved = [np.abs(np.roll(after, (dy, dx), axis=(1, 2)) - before).max(axis=(1, 2))
             for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.min(moved, axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", help="a git revision whose rendering to compare this tree's with, on real drawings")
    parser.add_argument("--every", type=int, default=1, help="with --before: every n-th dev digit")
    parser.add_argument("--skip-cost", action="store_true", help="with --before: only compare the renderings")
    parser.add_argument("--bodies-only", action="store_true", help="of the costs, only the bodies over the cap")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        frame_and_split(args.worker, args.every)
        return 0
    if not args.skip_cost:
        measure_cost(args.repeats, drawings=not args.bodies_only)
    if args.before:
        measure_change(args.before, args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
