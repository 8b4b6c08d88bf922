"""The app in a real browser (Debian's chromium, driven by Playwright), at a desktop's size and a phone's:
draw, read, undo, clear, examples, corrections, a steady layout, keyboard and screen readers, zoom, resize,
dark mode.

A visitor must be able to draw at once, with a mouse or a finger, and see the
guess after each stroke. The page may only talk to the app on loopback: every
other request is aborted. With UPDATE_SCREENSHOT=1, saves docs/screenshot.png
and docs/screenshot-phone.png for the README (tests otherwise leave the working
tree alone).
"""

from __future__ import annotations

import base64
import itertools
import json
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

from space.feedback import ALREADY, BAD_ANSWER, SAME_AS_READ, SAVED
from mnist_sketch.preprocess import EMPTY_MESSAGE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),  # Gradio 6.31's queue on pandas 3
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parent.parent / "docs"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 30_000  # a prediction takes well under a second; this machine may be busy training
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
SIZES = {"desktop": DESKTOP, "phone": PHONE}

# Strokes in a unit box (x right, y down), drawn inside the middle of the pad.
SEVEN = [[(0.15, 0.1), (0.85, 0.1), (0.62, 0.5), (0.4, 0.95)]]
ONE = [[(0.32, 0.22), (0.55, 0.05), (0.55, 0.95)]]
FOUR = [[(0.6, 0.0), (0.1, 0.66), (0.94, 0.66)], [(0.7, 0.32), (0.7, 1.0)]]
UPRIGHT = [[(0.5, 0.05), (0.5, 0.95)]]

PAD = "#pad canvas"
MESSAGE = "#message [aria-live='polite']"
GUESSES = "#label .confidence-set"
STATUS = "#correction-status [aria-live='polite']"
TOAST = "[data-testid='toast-body']"  # how Gradio shows an error
# What must not move when a reading comes or goes.
STEADY = [PAD, "#message", "#label", "#preview", "#correction", "#quick-digits", "#correction-status", "#footer"]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium to run the browser tests", allow_module_level=True)


@pytest.fixture(scope="module")
def feedback(tmp_path_factory):
    from space.feedback import FeedbackStore

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


def open_app(browser, url: str, query: str = "", **context_options):
    """A new browser context's page at `url` + `query`, allowed to reach `url` only; (context, page, errors)."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + query)
    page.locator(PAD).wait_for()
    return context, page, errors


def pad_square(page) -> tuple[float, float, float]:
    """Left, top and side (page px) of a square well inside the pad, centred on it; the pad scrolled into view."""
    page.locator(PAD).scroll_into_view_if_needed()
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
        for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
            points += [(x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10) for i in range(10)]
        points.append(stroke[-1])
        for i, (x, y) in enumerate(points):
            kind = "touchStart" if i == 0 else "touchMove"
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": left + x * side,
                                                                               "y": top + y * side}]})
            page.wait_for_timeout(10)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
    # A finger takes a moment to go from the pad to a button; a tap within ~300 ms of the last touch
    # can be taken by Chromium's gesture detector for the second half of a double tap, and not click.
    page.wait_for_timeout(400)


def draw(page, strokes, phone: bool) -> None:
    (draw_with_finger if phone else draw_with_mouse)(page, strokes)


def press(page, target, phone: bool, force: bool = False) -> None:
    """Click `target` (a selector or a locator), or on a phone tap it once the page is idle: a tap whose
    touchstart waits on a busy page (a reading just shown) can be taken for a long press, which clicks
    nothing."""
    control = page.locator(target) if isinstance(target, str) else target
    if phone:
        page.evaluate("() => new Promise(done => requestIdleCallback(done, {timeout: 2000}))")
        control.tap(force=force)
    else:
        control.click(force=force)


def message(page) -> str:
    return page.locator(MESSAGE).inner_text().strip()


def wait_for_top_guess(page, text: str, guesses: int | None = 3) -> None:
    """Wait until the top 3's first guess is `text`, with `guesses` guesses listed (None: any number)."""
    page.wait_for_function(
        """([selector, text, guesses]) => {
            const sets = document.querySelectorAll(selector);
            return sets.length > 0 && (guesses === null || sets.length === guesses)
                   && sets[0].dataset.testid === `${text}-confidence-set`;
        }""",
        arg=[GUESSES, text, guesses],
    )


def wait_for_new_message(page, before: str) -> None:
    """Wait until the message is no longer `before`: the reading of a changed drawing came (half a 4 may
    still be read as a 4, with another confidence)."""
    page.wait_for_function("([s, before]) => document.querySelector(s).innerText.trim() !== before",
                           arg=[MESSAGE, before])


def wait_for_cleared(page) -> None:
    """Wait until no guess, no preview, and the draw-a-digit message are shown."""
    page.wait_for_function(
        """([guesses, message, msg]) => !document.querySelector(guesses)
                  && document.querySelector(message).innerText.trim() === msg
                  && !document.querySelector('#preview img')""",
        arg=[GUESSES, MESSAGE, EMPTY_MESSAGE],
    )


def wait_for_status(page, text: str) -> None:
    """Wait until the correction status says `text`; if it does not in time, fail saying what it says."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("([s, t]) => document.querySelector(s).innerText.trim() === t", arg=[STATUS, text])
    except PlaywrightTimeout:
        shown = page.locator(STATUS).inner_text().strip()
        raise AssertionError(f"the status says {shown!r}, not {text!r}; the message says {message(page)!r}") from None


def ink_pixels(page) -> int:
    """Dark pixels on the pad's canvas (its own resolution, whatever its size on the page)."""
    data_url = page.locator(PAD).evaluate("c => c.toDataURL('image/png')")
    pixels = np.asarray(Image.open(BytesIO(base64.b64decode(data_url.split(",")[1]))).convert("L"))
    return int((pixels < 128).sum())


def boxes(page, selectors: list[str]) -> dict[str, tuple[float, float, float, float]]:
    """Each element's (x, y, width, height) on the page, rounded to a pixel."""
    return {s: tuple(round(v) for v in page.locator(s).first.bounding_box().values()) for s in selectors}


def kept(feedback, but: set[str] = frozenset()) -> list[dict]:
    """The corrections kept, but those with an id in `but`."""
    records = (json.loads(p.read_text()) for p in feedback.folder.glob("*.json"))
    return [record for record in records if record["id"] not in but]


def correction_controls_enabled(page) -> list[bool]:
    """Whether the answer field, Send and each quick digit take an answer."""
    controls = [page.locator("#correction input"), page.locator("#send-correction")]
    return [control.is_enabled() for control in controls + page.locator(".quick-digit").all()]


def quick_digit(page, digit: int):
    return page.get_by_role("button", name=f"Correct it: it's a {digit}")  # named as a correction, not a digit


def test_draw_undo_clear_and_examples_with_a_mouse(browser, app_url):
    context, page, errors = open_app(browser, app_url, **DESKTOP)
    assert message(page) == EMPTY_MESSAGE and ink_pixels(page) == 0
    hint = page.locator("#pad .pad-hint")
    assert hint.is_visible()  # the empty pad says where to draw

    # No tool to pick: the first stroke counts.
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")
    assert message(page).startswith("It's a 7") and hint.is_hidden()
    page.locator("#pad .pad-clear").click()
    wait_for_cleared(page)
    assert ink_pixels(page) == 0 and hint.is_visible()

    draw_with_mouse(page, FOUR)
    wait_for_top_guess(page, "4")
    inked, read = ink_pixels(page), message(page)
    page.locator("#pad .pad-undo").click()  # takes the upright stroke away
    wait_for_new_message(page, read)
    assert 0 < ink_pixels(page) < inked
    page.keyboard.press("Control+z")  # and the first one
    wait_for_cleared(page)
    assert ink_pixels(page) == 0

    # An example, a picture of its strokes, replaces the drawing and is read; it shows as chosen until the
    # pad changes, and the visitor can undo it like their own strokes.
    draw_with_mouse(page, UPRIGHT)
    wait_for_top_guess(page, "1")
    three = page.get_by_role("button", name="Example: 3")
    assert three.locator("svg path").count() == 1
    three.click()
    wait_for_top_guess(page, "3")
    assert ink_pixels(page) > 0 and three.get_attribute("aria-pressed") == "true"
    page.locator("#pad .pad-undo").click()  # the example 3 is one stroke
    wait_for_cleared(page)
    assert three.get_attribute("aria-pressed") == "false"
    three.click()
    wait_for_top_guess(page, "3")
    draw_with_mouse(page, [[(0.0, 0.0), (0.05, 0.05)]])  # a stroke more: no longer the example
    page.wait_for_function("b => b.getAttribute('aria-pressed') === 'false'", arg=three.element_handle())
    assert errors == [] and page.locator(TOAST).count() == 0
    context.close()


def test_a_number_drawn_or_picked_is_read_whole_without_unlikely_guesses(browser, app_url):
    context, page, errors = open_app(browser, app_url, **DESKTOP)
    for offset, digit in ((-0.45, SEVEN), (0.45, ONE)):  # a 7, then a 1 beside it
        draw_with_mouse(page, [[(x + offset, y) for x, y in stroke] for stroke in digit])
    page.wait_for_function("s => document.querySelector(s)?.dataset.testid === '71-confidence-set'", arg=GUESSES)
    assert message(page).startswith("It's 71")

    page.get_by_role("button", name="Example: 2026").click()
    page.wait_for_function("s => document.querySelector(s)?.dataset.testid === '2026-confidence-set'", arg=GUESSES)
    # The guesses shown are the likely ones only: none under 1 %.
    for guess in page.locator(GUESSES).all():
        assert int(re.search(r"(\d+)%", guess.inner_text())[1]) >= 1, guess.inner_text()
    assert errors == [] and page.locator(TOAST).count() == 0
    context.close()


def test_a_long_stroke_is_read_as_it_goes_and_a_short_one_at_pen_up(browser, app_url):
    from space.stroke_pad import LIVE_AFTER_MS

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
    # No copy of the drawings in the browser's storage: Gradio's run history, off in LAUNCH_OPTIONS, would
    # rewrite its last 100 readings there at each message, each long stroke slower than the last.
    assert not page.evaluate("Object.values(localStorage).some((v) => v.includes('strokes'))")
    assert errors == []
    context.close()


@pytest.mark.parametrize("size", SIZES)
def test_the_layout_holds_still_when_a_reading_comes_and_goes(browser, app_url, size):
    phone = size == "phone"
    context, page, errors = open_app(browser, app_url, **SIZES[size])
    page.evaluate("document.fonts.ready.then(() => new Promise(requestAnimationFrame))")  # laid out for good
    before = boxes(page, STEADY)
    draw(page, SEVEN, phone)
    wait_for_top_guess(page, "7")
    page.locator("#preview img").wait_for()
    read = boxes(page, STEADY)
    press(page, "#pad .pad-clear", phone)
    wait_for_cleared(page)
    cleared = boxes(page, STEADY)
    print(f"\n{size}: {json.dumps(before)}")  # the figures, for the record (pytest -s)
    assert read == before and cleared == before

    # The pad lines up with the page's other blocks (no inset of its own).
    assert before[PAD][0] == before["#footer"][0]
    if not phone:  # everything, footer included, fits a 1280x800 screen
        footer = before["#footer"]
        assert footer[1] + footer[3] <= DESKTOP["viewport"]["height"]
    assert errors == []
    context.close()


def test_on_a_phone_the_pad_is_the_screens_width_squarer_and_a_finger_draws(browser, app_url):
    context, page, errors = open_app(browser, app_url, **PHONE)
    width = PHONE["viewport"]["width"]
    sent: list[dict] = []
    page.on("request", lambda r: sent.append(r.post_data_json) if "/queue/join" in r.url else None)
    box = page.locator(PAD).bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width and box["width"] >= 0.9 * width
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    assert page.locator(PAD).evaluate("c => [c.width, c.height]") == [900, 675]  # 4:3, not the desktop's 3:2
    assert abs(box["width"] / box["height"] - 4 / 3) < 0.02

    draw_with_finger(page, ONE)
    wait_for_top_guess(page, "1")
    assert page.evaluate("window.scrollY") == 0  # drawing did not scroll the page
    # The strokes reach the server as on a desktop, in the canvas's pixels, with its size.
    value = next(d["data"][0] for d in sent if d and isinstance(d["data"][0], dict) and "strokes" in d["data"][0])
    assert (value["width"], value["height"]) == (900, 675) and len(value["strokes"]) == 1
    assert all(0 <= x <= 900 and 0 <= y <= 675 for x, y in value["strokes"][0])
    # The reading is in view without scrolling.
    assert page.locator("#message").bounding_box()["y"] < PHONE["viewport"]["height"]

    press(page, "#pad .pad-clear", phone=True)
    wait_for_cleared(page)
    # No hover colour stays on a button after a tap: hover rules are for a mouse only.
    assert not page.evaluate("matchMedia('(hover: hover)').matches")
    clear = page.locator("#pad .pad-clear")
    assert clear.evaluate("b => getComputedStyle(b).backgroundColor") == page.locator("#pad .pad-undo").evaluate(
        "b => getComputedStyle(b).backgroundColor")
    draw_with_finger(page, SEVEN)
    wait_for_top_guess(page, "7")
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        page.locator("#preview img").wait_for()
        page.screenshot(path=str(DOCS / "screenshot-phone.png"))
    assert errors == [] and page.locator(TOAST).count() == 0
    context.close()


@pytest.mark.parametrize("size", SIZES)
def test_a_correction_is_offered_once_per_drawing_and_confirmed_under_it(browser, app_url, feedback, size):
    phone = size == "phone"
    context, page, errors = open_app(browser, app_url, **SIZES[size])
    before = {record["id"] for record in kept(feedback)}
    assert "nothing about you" in page.locator(STATUS).inner_text()  # what is kept, said before anything is sent
    # Nothing to correct before a reading: the controls take no answer.
    assert not any(correction_controls_enabled(page))
    four = quick_digit(page, 4)

    draw(page, SEVEN, phone)
    wait_for_top_guess(page, "7")
    page.wait_for_function("() => !document.querySelector('#send-correction').disabled")
    assert all(correction_controls_enabled(page))

    # The answer the model gave is not a correction.
    seven = quick_digit(page, 7)
    press(page, seven, phone)
    wait_for_status(page, SAME_AS_READ)
    assert kept(feedback, but=before) == [] and all(correction_controls_enabled(page))

    # A quick digit sends at once; the thanks shows right under the controls, and is said.
    press(page, four, phone)
    wait_for_status(page, SAVED)
    record, = kept(feedback, but=before)
    assert record["answer"] == "4"
    assert record["read_as"][0]["text"] == "7" and len(record["strokes"]["strokes"]) == 1
    digits, status = page.locator("#quick-digits").bounding_box(), page.locator(STATUS).bounding_box()
    assert 0 <= status["y"] - (digits["y"] + digits["height"]) < 40
    assert status["y"] + status["height"] <= page.evaluate("scrollY + innerHeight")  # in view
    # One correction per drawing: the controls close, and a second tap keeps nothing.
    page.wait_for_function("() => document.querySelector('#send-correction').disabled")
    assert not any(correction_controls_enabled(page))
    press(page, four, phone, force=True)
    page.wait_for_timeout(1000)
    assert len(kept(feedback, but=before)) == 1 and page.locator(STATUS).inner_text().strip() == SAVED

    # A new drawing opens them again, and the thanks gives way to what is kept; typed answers are checked.
    press(page, "#pad .pad-clear", phone)
    wait_for_cleared(page)
    draw(page, UPRIGHT, phone)
    wait_for_top_guess(page, "1", guesses=None)  # its reading came, not only the status the pen's change set
    page.wait_for_function("s => document.querySelector(s).innerText.includes('nothing about you')", arg=STATUS)
    page.wait_for_function("() => !document.querySelector('#send-correction').disabled")
    answer = page.locator("#correction input")
    answer.fill("one")
    press(page, "#send-correction", phone)
    wait_for_status(page, BAD_ANSWER)
    answer.fill("8")
    answer.press("Enter")
    wait_for_status(page, SAVED)
    assert sorted(record["answer"] for record in kept(feedback, but=before)) == ["4", "8"]
    assert answer.input_value() == ""
    assert errors == []
    context.close()


def test_a_second_correction_of_one_drawing_is_refused_by_the_server_too(browser, app_url, feedback):
    """The page closes the controls after a correction; the server holds even if they were used."""
    context, page, errors = open_app(browser, app_url, **DESKTOP)
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")
    page.get_by_role("button", name="Correct it: it's a 2").click()
    wait_for_status(page, SAVED)
    saved = len(kept(feedback))
    # Reopened as a script could: the server still answers that this drawing is corrected already.
    page.evaluate("() => document.querySelectorAll('.quick-digit').forEach(b => { b.disabled = false; })")
    page.get_by_role("button", name="Correct it: it's a 3").click()
    wait_for_status(page, ALREADY)
    assert len(kept(feedback)) == saved and errors == []
    context.close()


def test_the_page_speaks_to_keyboards_and_screen_readers(browser, app_url):
    context, page, errors = open_app(browser, app_url, **DESKTOP)
    draw_with_mouse(page, FOUR)
    wait_for_top_guess(page, "4")

    # The reading is said: the message is a polite live region, and holds the sentence shown.
    region = page.locator(MESSAGE)
    assert region.get_attribute("role") == "status" and message(page).startswith("It's a 4")
    assert page.locator(STATUS).get_attribute("aria-live") == "polite"

    # Undo and Clear keep the focus, pressed from the keyboard, even when they have nothing left to do.
    undo, clear = page.locator("#pad .pad-undo"), page.locator("#pad .pad-clear")
    undo.focus()
    read = message(page)
    page.keyboard.press("Enter")
    wait_for_new_message(page, read)
    assert undo.evaluate("b => b === document.activeElement")
    clear.focus()
    page.keyboard.press("Enter")
    wait_for_cleared(page)
    assert clear.evaluate("b => b === document.activeElement")
    assert clear.get_attribute("aria-disabled") == "true" and ink_pixels(page) == 0
    page.keyboard.press("Enter")  # nothing to clear: nothing happens, and the focus stays
    assert clear.evaluate("b => b === document.activeElement")

    # Every element that takes the focus has a name, as Chromium gives it to screen readers.
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")
    page.locator("#preview img").wait_for()
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    focusable = [(n.get("role", {}).get("value"), (n.get("name") or {}).get("value", "").strip()) for n in nodes
                 if not n.get("ignored") and any(p["name"] == "focusable" and p["value"].get("value")
                                                 for p in n.get("properties", []))]
    unnamed = [role for role, name in focusable if not name and role != "RootWebArea"]
    assert len(focusable) > 30 and unnamed == [], unnamed
    names = {name for _, name in focusable}
    assert {"Example: 3", "Correct it: it's a 3", "Undo", "Clear"} <= names and "3" not in names
    assert errors == []
    context.close()


def test_the_pen_follows_at_any_zoom_and_after_a_resize(browser, app_url):
    context, page, errors = open_app(browser, app_url, **DESKTOP)
    page.set_viewport_size({"width": 700, "height": 900})  # the window narrowed: the pad is smaller
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")
    page.locator("#pad .pad-clear").click()
    wait_for_cleared(page)

    page.evaluate("document.documentElement.style.zoom = '1.5'")  # as the browser's page zoom does
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
# The page's own text, and what is ours to colour (WCAG AA: 4.5:1 for text; the pad's paper is white always).
TEXTS = ["h1", MESSAGE, GUESSES, STATUS, ".caption p", "#footer p", "#pad .pad-caption", "#pad .pad-clear",
         ".quick-digit", "#correction input"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_is_readable_and_the_ink_visible_in_either_theme(browser, app_url, scheme):
    # A visitor whose system is in dark mode gets Gradio's dark theme.
    context, page, errors = open_app(browser, app_url, **DESKTOP, color_scheme=scheme)
    assert page.evaluate("document.body.classList.contains('dark')") == (scheme == "dark")
    hint = page.locator("#pad .pad-hint")
    assert _contrast(hint.evaluate("el => getComputedStyle(el).color"), "rgb(255, 255, 255)") >= 4.5
    draw_with_mouse(page, SEVEN)
    wait_for_top_guess(page, "7")
    if scheme == "light" and os.environ.get("UPDATE_SCREENSHOT") == "1":
        page.locator("#preview img").wait_for()
        page.screenshot(path=str(DOCS / "screenshot.png"))

    for selector in TEXTS:
        element = page.locator(selector).first
        color = element.evaluate("el => getComputedStyle(el).color")
        background = element.evaluate(BACKGROUND_JS)
        assert _contrast(color, background) >= 4.5, f"{selector}: {color} on {background}"

    # The paper stays white and the black ink shows on it.
    left, top, side = pad_square(page)
    shot = Image.open(BytesIO(page.screenshot(clip={"x": left, "y": top, "width": side, "height": side})))
    pixels = np.asarray(shot.convert("L"))
    assert np.median(pixels) > 200 and (pixels < 60).mean() > 0.02
    assert errors == []
    context.close()


# Issue 43's reproduction: a script sent markup as a component's value for a browser-only event, had Gradio
# save the session as a deep link, and whoever opened /?deep_link=<id> ran its script.
MARKUP = "<img src=x onerror=\"document.title='XSS:'+document.domain\">"
TEMPLATE_CODE = "${(document.title='XSS:template')}"  # run if a template literal ever held a value


def test_a_value_a_script_sends_never_runs_in_another_visitors_page(browser, app_url):
    import uuid

    import httpx
    from gradio.utils import get_upload_folder
    from test_abuse import call_event

    from app import KEPT_NOTE

    config = httpx.get(app_url + "config").json()
    session = uuid.uuid4().hex[:12]
    for fn_index, dependency in enumerate(config["dependencies"]):  # every event, the browser-only ones too
        for value in (TEMPLATE_CODE, MARKUP):  # the markup last: the value a deep link would have saved
            call_event(app_url, fn_index, [value] * len(dependency["inputs"]), session)
    link = httpx.get(app_url + "gradio_api/deep_link", params={"session_hash": session})
    assert link.status_code == 404
    # A link left on the disk (by the Gradio of before, say) whose saved page holds the markup as every
    # component's value: it is not served either.
    saved = [{**component, "props": {**component.get("props", {}), "value": MARKUP}}
             for component in config["components"]]
    folder = Path(get_upload_folder()) / "deep_links" / "issue43link"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "state.json").write_text(json.dumps(saved))
    for query in ("", "?deep_link=issue43link"):
        context, page, errors = open_app(browser, app_url, query, **DESKTOP)
        page.wait_for_timeout(1500)  # an onerror would have run by now
        assert not page.title().startswith("XSS"), query
        assert page.locator(STATUS).inner_text().strip() == KEPT_NOTE
        assert page.locator("#correction-status img").count() == 0 and errors == []
        context.close()


def test_the_live_sentences_show_any_value_as_text(browser):
    """app.live_text in a page of its own, given markup and template code by server functions."""
    import gradio as gr
    from test_app import free_port

    import app

    values = [MARKUP, TEMPLATE_CODE, "{{value}} & <b>bold</b>"]
    with gr.Blocks() as demo:
        line = app.live_text("Waiting", elem_id="line")
        for k, value in enumerate(values):
            gr.Button(f"Show {k}", elem_id=f"show-{k}").click(lambda v=value: v, None, line)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    context = browser.new_context(**DESKTOP)
    try:
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"http://127.0.0.1:{port}/")
        text = "#line [aria-live='polite']"
        page.locator(text).wait_for()
        assert page.locator(text).inner_text() == "Waiting"
        for k, value in enumerate(values):
            page.locator(f"#show-{k}").click()
            page.wait_for_function("([s, v]) => document.querySelector(s).textContent === v", arg=[text, value])
            page.wait_for_timeout(500)
            assert not page.title().startswith("XSS") and page.locator("#line img, #line b").count() == 0
        assert errors == []
    finally:
        context.close()
        demo.close()
