"""The app in a real browser (Debian's chromium, driven by Playwright): draw, read, undo, clear, examples,
phone, zoom, resize, dark mode.

A visitor must be able to draw at once, with a mouse or a finger, and see the
guess after each stroke. The page may only talk to the app on loopback: every
other request is aborted. With UPDATE_SCREENSHOT=1, saves docs/screenshot.png
for the README (tests otherwise leave the working tree alone).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_app import serve_app

from mnist_sketch.preprocess import EMPTY_MESSAGE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),  # Gradio 6.31's queue on pandas 3
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000  # a prediction takes well under a second; this machine may be busy training
DESKTOP = {"viewport": {"width": 1200, "height": 860}}
PHONE = {"viewport": {"width": 360, "height": 780}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}

# Strokes in a unit box (x right, y down), drawn inside the middle of the pad.
SEVEN = [[(0.15, 0.1), (0.85, 0.1), (0.62, 0.5), (0.4, 0.95)]]
ONE = [[(0.32, 0.22), (0.55, 0.05), (0.55, 0.95)]]
FOUR = [[(0.6, 0.0), (0.1, 0.66), (0.94, 0.66)], [(0.7, 0.32), (0.7, 1.0)]]
UPRIGHT = [[(0.5, 0.05), (0.5, 0.95)]]

PAD = "#pad canvas"
MESSAGE = "#message [data-testid='markdown']"  # not the (hidden) progress timer next to it
HEADLINE = "#label [data-testid='label-output-value']"
TOAST = "[data-testid='toast-body']"  # how Gradio shows an error

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests", allow_module_level=True)


@pytest.fixture(scope="module")
def feedback(tmp_path_factory):
    from mnist_sketch.feedback import FeedbackStore

    return FeedbackStore(tmp_path_factory.mktemp("feedback"))


@pytest.fixture(scope="module")
def app_url(feedback) -> Iterator[str]:
    with serve_app(feedback=feedback) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_app(browser, url: str, **context_options):
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    page.locator(PAD).wait_for()
    return context, page, errors


def pad_square(page) -> tuple[float, float, float]:
    """Left, top and side (page px) of a square well inside the pad, centred on it."""
    box = page.locator(PAD).bounding_box()
    side = 0.7 * min(box["width"], box["height"])
    return box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2, side


def draw_with_mouse(page, strokes) -> None:
    left, top, side = pad_square(page)
    for stroke in strokes:
        page.mouse.move(left + stroke[0][0] * side, top + stroke[0][1] * side)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(left + x * side, top + y * side, steps=10)
        page.mouse.up()


def draw_with_finger(page, strokes) -> None:
    """Touch strokes through the DevTools protocol (Playwright's touchscreen only taps)."""
    cdp = page.context.new_cdp_session(page)
    left, top, side = pad_square(page)
    for stroke in strokes:
        points = []
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            points += [(x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10) for i in range(10)]
        points.append(stroke[-1])
        for i, (x, y) in enumerate(points):
            kind = "touchStart" if i == 0 else "touchMove"
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": left + x * side,
                                                                               "y": top + y * side}]})
            page.wait_for_timeout(10)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def message(page) -> str:
    return page.locator(MESSAGE).inner_text().strip()


def wait_for_top_guess(page, digit: str) -> None:
    """Wait until the label's headline is `digit` with its three guesses listed under it."""
    page.wait_for_function(
        """([headline, digit]) => {
            const h = document.querySelector(headline);
            const guesses = document.querySelectorAll('#label .confidence-set');
            return h && h.innerText.trim() === digit && guesses.length === 3;
        }""",
        arg=[HEADLINE, digit],
    )


def wait_for_cleared(page) -> None:
    """Wait until no guess, no preview, and the draw-a-digit message are shown."""
    page.wait_for_function(
        """([headline, message, msg]) => !document.querySelector(headline)
                  && !document.querySelector('#label .confidence-set')
                  && document.querySelector(message).innerText.trim() === msg
                  && !document.querySelector('#preview img')""",
        arg=[HEADLINE, MESSAGE, EMPTY_MESSAGE],
    )


def ink_pixels(page) -> int:
    """Dark pixels on the pad's canvas (its own resolution, whatever its size on the page)."""
    data_url = page.locator(PAD).evaluate("c => c.toDataURL('image/png')")
    import base64

    pixels = np.asarray(Image.open(BytesIO(base64.b64decode(data_url.split(",")[1]))).convert("L"))
    return int((pixels < 128).sum())


def test_draw_undo_clear_and_examples_with_a_mouse(browser, app_url):
    context, page, errors = open_app(browser, app_url, **DESKTOP)
    assert message(page) == EMPTY_MESSAGE and ink_pixels(page) == 0

    # No tool to pick: the first stroke counts.
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")
    assert message(page).startswith("It's a 7")
    page.locator("#preview img").wait_for()
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.locator("#pad .pad-clear").click()
    wait_for_cleared(page)
    assert ink_pixels(page) == 0

    draw_with_mouse(page, FOUR)
    wait_for_top_guess(page, "4")
    inked = ink_pixels(page)
    page.locator("#pad .pad-undo").click()  # takes the upright stroke away
    page.wait_for_function("h => document.querySelector(h)?.innerText.trim() !== '4'", arg=HEADLINE)
    assert 0 < ink_pixels(page) < inked
    page.keyboard.press("Control+z")  # and the first one
    wait_for_cleared(page)
    assert ink_pixels(page) == 0

    draw_with_mouse(page, UPRIGHT)
    wait_for_top_guess(page, "1")

    # An example replaces the drawing and is read; the visitor can undo it like their own strokes.
    page.locator(".gallery-item").nth(3).click()
    wait_for_top_guess(page, "3")
    assert ink_pixels(page) > 0
    page.locator("#pad .pad-undo").click()  # the example 3 is one stroke
    wait_for_cleared(page)
    assert errors == [] and page.locator(TOAST).count() == 0
    context.close()


def test_a_number_drawn_or_picked_is_read_whole(browser, app_url):
    context, page, errors = open_app(browser, app_url, **DESKTOP)
    for offset, digit in ((-0.45, SEVEN), (0.45, ONE)):  # a 7, then a 1 beside it
        draw_with_mouse(page, [[(x + offset, y) for x, y in stroke] for stroke in digit])
    wait_for_top_guess(page, "71")
    assert message(page).startswith("It's 71")
    assert page.locator("#label .confidence-set").first.inner_text().startswith("71")

    page.get_by_text("2026", exact=True).click()  # the example
    wait_for_top_guess(page, "2026")
    assert errors == [] and page.locator(TOAST).count() == 0
    context.close()


def test_a_long_stroke_is_read_as_it_goes_and_a_short_one_at_pen_up(browser, app_url):
    from mnist_sketch.stroke_pad import LIVE_AFTER_MS

    context, page, errors = open_app(browser, app_url, **DESKTOP)
    joins: list[float] = []  # when each reading was asked for (seen here no earlier than it was sent)
    page.on("request", lambda r: joins.append(time.monotonic()) if "/queue/join" in r.url else None)
    left, top, side = pad_square(page)

    # A quick 7: nothing is sent before the pen is lifted.
    down = time.monotonic()
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")
    assert joins and all(t >= down + LIVE_AFTER_MS / 1000 for t in joins[:-1])

    # A slow upright stroke: it is read while the pen is still down.
    page.locator("#pad .pad-clear").click()
    wait_for_cleared(page)
    page.mouse.move(left + 0.5 * side, top + 0.05 * side)
    page.mouse.down()
    for y in np.linspace(0.05, 0.95, 30):
        page.mouse.move(left + 0.5 * side, top + y * side)
        page.wait_for_timeout(60)
    wait_for_top_guess(page, "1")  # read while the pen is still down
    page.mouse.up()
    wait_for_top_guess(page, "1")
    assert errors == []
    context.close()


def test_a_wrong_reading_is_corrected_and_the_correction_kept(browser, app_url, feedback):
    import json

    from mnist_sketch.feedback import BAD_ANSWER, SAVED

    context, page, errors = open_app(browser, app_url, **DESKTOP)
    status = page.locator("#correction-status")
    assert "nothing about you" in status.inner_text()  # what is kept, said before anything is sent
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")

    page.locator("#correction textarea, #correction input").first.fill("one")
    page.locator("#send-correction").click()
    page.wait_for_function("([s, t]) => document.querySelector(s).innerText.includes(t)",
                           arg=["#correction-status", BAD_ANSWER[:40]])
    assert list(feedback.folder.glob("*.json")) == []

    page.locator("#correction textarea, #correction input").first.fill("1")
    page.locator("#correction textarea, #correction input").first.press("Enter")
    page.wait_for_function("([s, t]) => document.querySelector(s).innerText.includes(t)",
                           arg=["#correction-status", SAVED])
    record, = [json.loads(p.read_text()) for p in feedback.folder.glob("*.json")]
    assert record["answer"] == "1" and record["read_as"][0]["text"] == "7"
    assert len(record["strokes"]["strokes"]) == 1

    page.locator("#quick-digits button", has_text="4").click()  # the quick digit buttons send at once
    for _ in range(100):  # up to 10 s for the second record to land
        if len(list(feedback.folder.glob("*.json"))) == 2:
            break
        page.wait_for_timeout(100)
    assert sorted(json.loads(p.read_text())["answer"] for p in feedback.folder.glob("*.json")) == ["1", "4"]

    draw_with_mouse(page, SEVEN)  # a new drawing: the thanks gives way to what is kept again
    page.wait_for_function("([s, t]) => document.querySelector(s).innerText.includes(t)",
                           arg=["#correction-status", "nothing about you"])
    assert errors == []
    context.close()


def test_on_a_phone_the_pad_fits_and_a_finger_draws(browser, app_url):
    context, page, errors = open_app(browser, app_url, **PHONE)
    box = page.locator(PAD).bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling

    draw_with_finger(page, ONE)
    wait_for_top_guess(page, "1")
    assert page.evaluate("window.scrollY") == 0  # drawing did not scroll the page
    # A finger takes a moment to go from the pad to a button; a tap within ~300 ms of the last touch
    # can be taken by Chromium's gesture detector for the second half of a double tap, and not click.
    page.wait_for_timeout(400)
    page.locator("#pad .pad-clear").tap()
    wait_for_cleared(page)
    draw_with_finger(page, SEVEN)
    wait_for_top_guess(page, "7")
    assert errors == [] and page.locator(TOAST).count() == 0
    context.close()


def test_the_pen_follows_at_any_zoom_and_after_a_resize(browser, app_url):
    context, page, errors = open_app(browser, app_url, **DESKTOP)
    page.set_viewport_size({"width": 700, "height": 900})  # the window narrowed: the pad is smaller
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")
    page.locator("#pad .pad-clear").click()
    wait_for_cleared(page)

    page.evaluate("document.documentElement.style.zoom = '1.5'")  # as the browser's page zoom does
    page.locator(PAD).scroll_into_view_if_needed()
    draw_with_mouse(page, ONE)
    wait_for_top_guess(page, "1")
    assert errors == []
    context.close()


def _luminance(css_color: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", css_color)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


BACKGROUND_JS = """el => {
    for (let e = el; e; e = e.parentElement) {
        const c = getComputedStyle(e).backgroundColor;
        if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c;
    }
    return 'rgb(255, 255, 255)';
}"""


def test_in_dark_mode_text_and_ink_stay_visible(browser, app_url):
    # A visitor whose system is in dark mode gets Gradio's dark theme.
    context, page, errors = open_app(browser, app_url, **DESKTOP, color_scheme="dark")
    assert page.evaluate("document.body.classList.contains('dark')")
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")

    for selector in ["h1", MESSAGE, HEADLINE, "#label .confidence-set", "#footer", "#pad .pad-clear", ".gallery-item"]:
        element = page.locator(selector).first
        color = element.evaluate("el => getComputedStyle(el).color")
        background = element.evaluate(BACKGROUND_JS)
        assert _contrast(color, background) >= 3, f"{selector}: {color} on {background}"

    # The paper stays white and the black ink shows on it.
    left, top, side = pad_square(page)
    shot = Image.open(BytesIO(page.screenshot(clip={"x": left, "y": top, "width": side, "height": side})))
    pixels = np.asarray(shot.convert("L"))
    assert np.median(pixels) > 200 and (pixels < 60).mean() > 0.02
    assert errors == []
    context.close()
