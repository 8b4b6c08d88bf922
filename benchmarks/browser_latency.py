"""The pen as a visitor feels it, in Debian's Chromium: our stroke pad next to a bare gr.Sketchpad page.

Starts two servers on loopback, each `python` process reading drawings with
the bundled model: the app (`app.py`, its stroke pad) and, as the baseline, a
page built by this script around a bare `gr.Sketchpad` (800x800 canvas, black
brush, its change event reading the composite image, as the app did before).
Playwright drives headless Chromium over the same real pen-drawn digits (UNIPEN,
../shared/data/unipen_dev_strokes.npz) on both pages and prints, per page:

- pen-up -> label: from the last stroke's pointerup to the reading of the
  finished drawing on the page (label and 28x28 preview arrive together),
  timed inside the page; p50 and p95;
- stroke time: how long the page takes to accept one 40-point mouse stroke
  (down, 40 moves, up), as Playwright waits for each event to be handled, and
  the main thread's busy time meanwhile (Chrome's TaskDuration metric). A bare
  <canvas> page that only draws lines gives the harness's floor: Chromium
  hands mouse moves to a page once per frame, so about 16 ms per move. The
  pad reads a stroke as it goes only once it has lasted a second
  (stroke_pad.LIVE_AFTER_MS), which a 40-point stroke does not; a long stroke
  (LONG_STROKE_POINTS, about 2 s) is timed too, on our page and the bare one,
  to show what those readings cost;
- bytes sent per stroke: request bodies the page sends from pen-down until its
  reading of that stroke has arrived (uploads, queue joins).

    python benchmarks/browser_latency.py [--digits 20] [--strokes 5] [--max-points 24]

No timed assertion lives in the tests; this prints figures for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from load import free_port, wait_until_up  # noqa: E402

STROKES = ROOT.parent / "shared" / "data" / "unipen_dev_strokes.npz"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1200, "height": 900}
STROKE_POINTS = 40
LONG_STROKE_POINTS = 120
SETTLE_TIMEOUT_MS = 60_000
QUIET_S = 0.5  # no request under way for this long: the page has settled (as Playwright's networkidle)

# Installed in every page before its scripts: the time of the last pointerup, and of the last change of
# the preview image (the reading arrives as one message: label, preview and sentence together).
TIMING_JS = """
window.__penUp = 0; window.__previewAt = 0; window.__previewSrc = "";
window.addEventListener("pointerup", () => { window.__penUp = performance.now(); }, true);
new MutationObserver(() => {
  const img = document.querySelector("#preview img");
  const src = img ? img.getAttribute("src") : "";
  if (src !== window.__previewSrc) { window.__previewSrc = src; window.__previewAt = performance.now(); }
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
"""


def serve_baseline(port: int) -> None:
    """The baseline page: a bare gr.Sketchpad whose change event reads the composite image."""
    import gradio as gr

    from mnist_sketch.model import load_model_file
    from mnist_sketch.predict import DigitReader
    from mnist_sketch.preprocess import InvalidDrawing

    import app

    reader = DigitReader(load_model_file(ROOT / "model" / "mnist.h5"))

    def predict(sketch):
        try:
            reading = reader.read(sketch)
        except InvalidDrawing as exc:
            raise gr.Error(str(exc)) from exc
        return {str(d): p for d, p in reading.top(3)} or None, app.preview_image(reading), reading.message

    with gr.Blocks() as demo:
        sketch = gr.Sketchpad(elem_id="sketch", canvas_size=(800, 800), layers=False, transforms=(), sources=(),
                              brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=18))
        label = gr.Label(num_top_classes=3, elem_id="label")
        message = gr.Markdown(elem_id="message")
        preview = gr.Image(elem_id="preview", format="png", interactive=False)
        sketch.change(predict, sketch, [label, preview, message], trigger_mode="always_last", show_progress="hidden")
    demo.launch(server_name="127.0.0.1", server_port=port, quiet=True)


def start(args: list[str], port: int, env: dict) -> tuple[str, subprocess.Popen]:
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, process)
    return url, process


@contextlib.contextmanager
def app_and_baseline(baseline_args: list[str]) -> Iterator[tuple[str, str]]:
    """`python app.py` and a baseline server (`python *baseline_args PORT`), each on a free loopback port,
    offline, with the bundled model: their URLs; both are stopped on exit."""
    env = {**os.environ, "MODEL_PATH": str(ROOT / "model" / "mnist.h5"), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "TF_CPP_MIN_LOG_LEVEL": "2", "GRADIO_SERVER_NAME": "127.0.0.1"}
    ours_port, base_port = free_port(), free_port()
    processes = []
    try:
        ours_url, ours = start(["app.py"], ours_port, {**env, "GRADIO_SERVER_PORT": str(ours_port)})
        processes.append(ours)
        base_url, base = start([*baseline_args, str(base_port)], base_port, env)
        processes.append(base)
        yield ours_url, base_url
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def dev_digits(count: int, max_points: int) -> list[list[np.ndarray]]:
    """`count` UNIPEN digits spread over the file, each stroke resampled to at most `max_points` points."""
    sys.path.insert(0, str(ROOT.parent / "shared" / "tools"))
    from render_sketch import strokes_of

    with np.load(STROKES) as z:
        data = {k: z[k] for k in z.files}
    picks = np.linspace(0, len(data["labels"]) - 1, count).astype(int)
    return [[resample(s, max_points) for s in strokes_of(data, int(i))] for i in picks]


def resample(stroke: np.ndarray, points: int) -> np.ndarray:
    """At most `points` points evenly spaced along the stroke (a one-point stroke stays a dot)."""
    if len(stroke) <= points:
        return stroke
    along = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))])
    at = np.linspace(0, along[-1], points)
    return np.stack([np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])], axis=1)


class Page:
    """One app open in a fresh browser context, with the pad's on-screen box and byte counting."""

    def __init__(self, browser, url: str, pad_selector: str, init_script: str = TIMING_JS):
        """`init_script`: JavaScript installed before the page's own scripts (wait_for_reading needs TIMING_JS)."""
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(SETTLE_TIMEOUT_MS)
        self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(url) else r.abort())
        self.sent = 0
        self.open: set = set()  # requests under way, but the session's heartbeat (open as long as the page)
        self.page.on("request", self._count)
        self.page.on("requestfinished", lambda request: self.open.discard(request))
        self.page.on("requestfailed", lambda request: self.open.discard(request))
        self.page.goto(url)
        self.pad = self.page.locator(pad_selector).first
        self.pad.wait_for()
        self.page.wait_for_timeout(500)

    def _count(self, request) -> None:
        self.sent += len(request.post_data_buffer or b"")
        if "/heartbeat/" not in request.url:
            self.open.add(request)

    def wait_quiet(self, quiet_s: float = QUIET_S) -> None:
        """Wait until no request but the heartbeat has been under way for `quiet_s` (Playwright's networkidle,
        which an app with session state never reaches: Gradio keeps a heartbeat stream open for it)."""
        deadline, quiet_since = time.monotonic() + SETTLE_TIMEOUT_MS / 1000, None
        while time.monotonic() < deadline:
            if self.open:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return
            self.page.wait_for_timeout(50)
        raise TimeoutError("the page's requests never settled")

    def box(self) -> tuple[float, float, float]:
        """Left, top and side of a square in the middle of the drawing area (60 % of its shorter side)."""
        b = self.pad.bounding_box()
        side = 0.6 * min(b["width"], b["height"])
        return b["x"] + (b["width"] - side) / 2, b["y"] + (b["height"] - side) / 2, side

    def stroke(self, points: np.ndarray) -> float:
        """Draw one stroke (points in page px); seconds until the page has taken every event."""
        return draw_stroke(self.page, points)

    def wait_for_reading(self) -> float:
        """Wait for the reading of the drawing as it is at pen-up; ms from the pointerup to it.

        Readings of the stroke sent while it was drawn may arrive after pen-up too, but the reading of
        the last value always arrives last: wait for a change after pen-up, then for the network to be
        quiet, and take the last change.
        """
        self.page.wait_for_function("() => window.__previewAt > window.__penUp")
        self.wait_quiet()
        return self.page.evaluate("window.__previewAt - window.__penUp")

    def close(self) -> None:
        self.context.close()


def draw_stroke(page, points: np.ndarray) -> float:
    """Draw one mouse stroke (points in page px); seconds until the page has taken every event."""
    start = time.perf_counter()
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y)
    page.mouse.up()
    return time.perf_counter() - start


def time_strokes(page, left: float, top: float, side: float, count: int,
                 points: int = STROKE_POINTS) -> tuple[list[float], list[float]]:
    """`count` zigzag strokes of `points` points across the square: (seconds each, main-thread busy seconds
    each)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def busy() -> float:
        return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")

    t = np.linspace(0, 1, points)
    walls, tasks = [], []
    for k in range(count):
        y = top + side * (0.2 + 0.6 * k / max(1, count - 1))
        before = busy()
        walls.append(draw_stroke(page, np.stack([left + side * t, y + 0.05 * side * np.sin(12 * t)], axis=1)))
        tasks.append(busy() - before)
    cdp.detach()
    return walls, tasks


BARE_CANVAS = """<canvas width=900 height=600 style="width: 600px; height: 400px; touch-action: none"></canvas>
<script>
const c = document.querySelector("canvas"), ctx = c.getContext("2d");
let last = null;
c.onpointerdown = (e) => { last = [e.offsetX, e.offsetY]; };
c.onpointerup = () => { last = null; };
c.onpointermove = (e) => {
  if (!last) return;
  ctx.beginPath(); ctx.moveTo(...last); ctx.lineTo(e.offsetX, e.offsetY); ctx.stroke(); last = [e.offsetX, e.offsetY];
};
</script>"""


def bare_canvas_floor(browser, count: int) -> dict:
    """The harness's floor: the same strokes on a page that is only a canvas drawing lines."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_content(BARE_CANVAS)
    walls, tasks = time_strokes(page, 20, 20, 360, count)
    long_walls, long_tasks = time_strokes(page, 20, 20, 360, count, LONG_STROKE_POINTS)
    context.close()
    return {"latency": [], "stroke": walls, "busy": tasks, "bytes": [], "long": long_walls, "long_busy": long_tasks}


def to_page(strokes: list[np.ndarray], left: float, top: float, side: float) -> list[np.ndarray]:
    """A digit's strokes scaled into the square (left, top, side), keeping its aspect ratio."""
    points = np.concatenate(strokes)
    lo, extent = points.min(axis=0), np.ptp(points, axis=0)
    scale = side / max(extent.max(), 1e-6)
    offset = np.array([left, top]) + (side - extent * scale) / 2
    return [(s - lo) * scale + offset for s in strokes]


def measure(browser, url: str, pad_selector: str, digits: list, n_strokes: int, select_brush: bool,
            long_strokes: bool = False) -> dict:
    """Pen-up -> label per digit, stroke times (and long strokes' if asked), bytes per stroke, on one page."""
    latencies, bytes_per_stroke = [], []
    for strokes in digits:
        page = Page(browser, url, pad_selector)
        if select_brush:  # a bare Sketchpad starts with no tool: pick the brush, as a visitor must
            page.page.locator("#sketch .toolbar-wrap button").first.click()
        for k, points in enumerate(to_page(strokes, *page.box())):
            sent = page.sent
            page.stroke(points)
            latency = page.wait_for_reading()
            bytes_per_stroke.append(page.sent - sent)
            if k == len(strokes) - 1:
                latencies.append(latency)
        page.close()

    page = Page(browser, url, pad_selector)
    if select_brush:
        page.page.locator("#sketch .toolbar-wrap button").first.click()
    walls, tasks = time_strokes(page.page, *page.box(), n_strokes)
    page.close()
    row = {"latency": latencies, "stroke": walls, "busy": tasks, "bytes": bytes_per_stroke}
    if long_strokes:  # on a fresh page, so the first timed strokes' readings are not in the way
        page = Page(browser, url, pad_selector)
        row["long"], row["long_busy"] = time_strokes(page.page, *page.box(), n_strokes, LONG_STROKE_POINTS)
        page.close()
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", type=int, default=20, help="dev digits drawn on each page")
    parser.add_argument("--strokes", type=int, default=5, help="40-point strokes timed on each page")
    parser.add_argument("--max-points", type=int, default=24, help="points per drawn stroke, at most")
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0
    if not STROKES.is_file():
        print(f"error: no stroke data at {STROKES} (see ../shared/data/README.md)", file=sys.stderr)
        return 1

    from playwright.sync_api import sync_playwright

    with app_and_baseline([__file__, "--serve-baseline"]) as (ours_url, base_url), sync_playwright() as p:
        digits = dev_digits(args.digits, args.max_points)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        rows = {
            "stroke pad (app.py)": measure(browser, ours_url, "#pad canvas", digits, args.strokes, False, True),
            "gr.Sketchpad (baseline)": measure(browser, base_url, "#sketch canvas", digits, args.strokes, True),
            "bare <canvas> (the floor)": bare_canvas_floor(browser, args.strokes),
        }
        browser.close()

    points = sum(len(s) for d in digits for s in d)
    print(f"\n{args.digits} UNIPEN digits ({sum(len(d) for d in digits)} strokes, {points} points) drawn with the "
          f"mouse in Chromium {VIEWPORT['width']}x{VIEWPORT['height']}; {args.strokes} strokes of {STROKE_POINTS} "
          f"points timed; {os.cpu_count()} CPUs")
    print(f"{'page':<26} {'pen-up->label p50':>17} {'p95':>7} {'40-pt stroke s':>14} {'per move ms':>11} "
          f"{'main thread s':>13} {'KB sent/stroke':>14}")
    for name, r in rows.items():
        stroke = statistics.median(r["stroke"])
        latency = (f"{np.percentile(r['latency'], 50):>14.0f} ms {np.percentile(r['latency'], 95):>4.0f} ms"
                   if r["latency"] else f"{'-':>17} {'-':>7}")
        sent = f"{np.mean(r['bytes']) / 1024:>14.1f}" if r["bytes"] else f"{'-':>14}"
        print(f"{name:<26} {latency} {stroke:>14.2f} {1000 * stroke / (STROKE_POINTS + 2):>11.1f} "
              f"{statistics.median(r['busy']):>13.3f} {sent}")
    for name, r in rows.items():
        if "long" in r:
            print(f"{name:<26} {LONG_STROKE_POINTS}-point stroke: {statistics.median(r['long']):.2f} s, "
                  f"main thread {statistics.median(r['long_busy']):.3f} s")
    ours, base = rows["stroke pad (app.py)"], rows["gr.Sketchpad (baseline)"]
    stroke_ratio = statistics.median(base["stroke"]) / statistics.median(ours["stroke"])
    print(f"ours / baseline: stroke time 1/{stroke_ratio:.1f}, "
          f"main-thread time 1/{statistics.median(base['busy']) / statistics.median(ours['busy']):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
