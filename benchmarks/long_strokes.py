"""Long strokes read as they go, one after another on one page: what each costs the page, in Chromium.

A stroke that lasts more than a second is read while the pen is down
(stroke_pad.LIVE_AFTER_MS), so one long stroke is several Gradio events; what
each event costs the page grows with what the page keeps. Starts the app
(`app.py`) and, as the baseline, the same app with Gradio's run history on
(its default: the browser keeps the last 100 runs in localStorage), each on
loopback. On a fresh page of each, draws `--strokes` zigzag mouse strokes of
`--points` points (about 16 ms a point), one under the other, and prints per
stroke:

- seconds until the page has taken every event of the stroke (Playwright
  waits for each to be handled), and the main thread's busy time meanwhile
  (Chrome's TaskDuration metric);
- values copied: how many times the page called `structuredClone` (Gradio
  copies every component's props value by value on each event: Svelte's
  `$state.snapshot`), a count of the work that grows with the props.

A bare <canvas> page that only draws lines gives the harness's floor.

    python benchmarks/long_strokes.py [--strokes 5] [--points 120]

No timed assertion lives in the tests; this prints figures for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from browser_latency import (  # noqa: E402
    BARE_CANVAS, CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Page, app_and_baseline, time_strokes)

# Installed before the page's scripts: counts the page's calls of structuredClone.
COUNT_CLONES_JS = """
window.__clones = 0;
const clone = window.structuredClone;
window.structuredClone = (value, options) => { window.__clones += 1; return clone(value, options); };
"""


def serve_with_run_history(port: int) -> None:
    """The baseline: app.py's app, launched with Gradio's run history on (Gradio's default)."""
    import app

    app.main(run_history=True, server_name="127.0.0.1", server_port=port, quiet=True)


def long_strokes(page, left: float, top: float, side: float, count: int, points: int) -> list[tuple[float, ...]]:
    """`count` zigzag strokes of `points` points across the square (left, top, side), one under the other:
    (seconds, main-thread busy seconds, values copied) for each."""
    rows = []
    for k in range(count):
        clones = page.evaluate("window.__clones ?? 0")
        # time_strokes draws one stroke at a fifth of its square's height: the square moves down instead.
        shift = side * (0.8 * k / max(1, count - 1) - 0.1)
        (wall,), (busy,) = time_strokes(page, left, top + shift, side, 1, points)
        rows.append((wall, busy, page.evaluate("window.__clones ?? 0") - clones))
    return rows


def on_app(browser, url: str, count: int, points: int) -> list[tuple[float, ...]]:
    """The strokes on a fresh page of the app at `url`, in the middle of its pad."""
    page = Page(browser, url, "#pad canvas", init_script=COUNT_CLONES_JS)
    box = page.pad.bounding_box()
    side = 0.8 * min(box["width"], box["height"])
    rows = long_strokes(page.page, box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2,
                        side, count, points)
    page.close()
    return rows


def on_bare_canvas(browser, count: int, points: int) -> list[tuple[float, ...]]:
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(COUNT_CLONES_JS)
    page = context.new_page()
    page.set_content(BARE_CANVAS)
    rows = long_strokes(page, 20, 20, 360, count, points)
    context.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strokes", type=int, default=5, help="long strokes drawn on each page")
    parser.add_argument("--points", type=int, default=120, help="points per stroke (about 16 ms each)")
    parser.add_argument("--serve-with-run-history", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_with_run_history:
        serve_with_run_history(args.serve_with_run_history)
        return 0

    from playwright.sync_api import sync_playwright

    with app_and_baseline([__file__, "--serve-with-run-history"]) as (ours_url, base_url), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        rows = {
            "app.py": on_app(browser, ours_url, args.strokes, args.points),
            "app.py, run history on": on_app(browser, base_url, args.strokes, args.points),
            "bare <canvas> (floor)": on_bare_canvas(browser, args.strokes, args.points),
        }
        browser.close()

    print(f"\n{args.strokes} mouse strokes of {args.points} points, one under the other on one page, in Chromium "
          f"{VIEWPORT['width']}x{VIEWPORT['height']}; {os.cpu_count()} CPUs")
    print(f"{'page':<24} {'stroke':>6} {'seconds':>8} {'main thread s':>13} {'values copied':>13}")
    for name, strokes in rows.items():
        for k, (wall, busy, clones) in enumerate(strokes, 1):
            print(f"{name:<24} {k:>6} {wall:>8.2f} {busy:>13.3f} {clones:>13,}")
        walls = [s[0] for s in strokes]
        print(f"{name:<24} {'total':>6} {sum(walls):>8.2f} {sum(s[1] for s in strokes):>13.3f} "
              f"{sum(s[2] for s in strokes):>13,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
