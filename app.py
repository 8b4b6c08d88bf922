"""The Space: draw a digit and see, as you draw, the model's three best guesses.

    python app.py            # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT

The model is loaded once, at start-up, by `load_app_model()` (MODEL_PATH, else
the Hub, else the bundled model/mnist.h5), the number reader that reads images
of whole numbers beside it by `load_number_model()`, and the path model that reads
the pad's strokes beside the digit CNN by `load_path_model()`. This file is only the user
interface: reading a drawing is `mnist_sketch.predict.DigitReader`'s job.

API (each returns the top-3 label, the 28x28 preview and a sentence):
- `/predict_strokes` takes the stroke pad's value {"width", "height", "strokes"};
- `/predict` takes an image file, or a Sketchpad value {"composite": file, ...}.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from mnist_sketch.example_digits import STROKES, pad_value
from space.feedback import CORRECTED, SAVED, FeedbackStore, ReadDrawing, start_sync, store_from_env
from space.gradio_batches import ItemError, PerItemBatches, columns
from space.gradio_cache import sweep_safely
from space.gradio_sessions import keep_active_sessions
from space.http_guard import GuardedBlocks
from space.image_input import ImageInput
from space.plain_error import plain_error
from space.malloc_arenas import limit_malloc_arenas
from mnist_sketch.model_source import ModelSource, load_app_model, load_number_model, load_path_model
from mnist_sketch.predict import DigitReader, Reading
from mnist_sketch.preprocess import EMPTY_MESSAGE, InvalidDrawing
from space.stroke_pad import StrokePad
from mnist_sketch.strokes import Strokes

CANVAS = (900, 600)  # the pad's drawing resolution (3:2, room for a number); the page scales it to fit
NARROW_CANVAS = (900, 675)  # on a phone held upright: 4:3, the screen's width and room for a finger
PEN_WIDTH = 20  # the ink's width on the pad, in canvas pixels (the model's input is drawn at MNIST's width)
PREVIEW_SCALE = 8  # the 28x28 model input is sent at 224x224, each pixel a crisp square
PREVIEW_HEIGHT = 28 * 5  # and shown 140 px high: still whole screen pixels per input pixel
PREVIEW_SEPARATOR = 96  # grey: the line between two digits' inputs in the preview
MAX_FILE_SIZE = "10mb"  # larger uploads are refused by the server
# Batches of readings (and corrections) run at once, all in one group, and the drawings waiting in the queue
# read as one batch (one model call; each waits for its whole batch, so not more than MAX_BATCH). 4 and 2
# batches at once read alike on 2 cores (32 clients, benchmarks/load.py alone on the machine: 90.4 stroke
# drawings/s with 4, 84.9-102.6 with 2 over three runs): more would only queue up for the CPU.
CONCURRENCY = 4
MAX_BATCH = 16
# Sessions whose state Gradio keeps (its per-session copy of the page's config and the last drawing
# read: about 120 KB, measured by benchmarks/soak.py): the least recently active beyond this are dropped,
# so a visitor idle through 500 newer sessions must draw again to correct. Gradio's default, 10,000, grows
# the server by over a gigabyte as sessions come, a new one with every page load or script; 1,000 still
# grew it by 120 MB over a 30-minute soak.
SESSIONS_KEPT = 500
# Every CACHE_SWEEP_S, files this app put in Gradio's cache (uploads, previews) older than CACHE_MAX_AGE_S
# are deleted, and then their emptied folders: a client fetches its preview within seconds, and the cache
# would otherwise grow forever.
CACHE_SWEEP_S, CACHE_MAX_AGE_S = 30, 120
EXAMPLES = [str(digit) for digit in STROKES] + ["42", "2026"]  # drawn with the project's own strokes
SHOWN_FROM = 0.01  # a number's readings less likely than this are left out of its top 3

KEPT_NOTE = "A correction keeps the drawing and your answer, nothing about you, to train the next model."

TITLE = "# ✏️ MNIST sketch"
INTRO = ("Draw a digit from 0 to 9, or a whole number, on the pad: a small CNN trained on MNIST and on digits "
         "people drew with a pen reads it as you draw.")

# A polite live region: screen readers say its text when it changes (the reading, a correction's answer).
# The value is shown as text, never as HTML: the template holds none of it (Gradio fills a template with
# Handlebars, then evaluates the result as a JavaScript template literal, so a value in it would be markup,
# and even `{{value}}`'s escaped text could hold a `${...}` to run), and LIVE_SCRIPT sets the line's
# textContent, on load and each time the value changes.
LIVE_TEMPLATE = '<p role="status" aria-live="polite"></p>'
LIVE_SCRIPT = """
const line = element.querySelector("p");
const show = () => { line.textContent = props.value ?? ""; };
show();
watch("value", show);
"""

# The sentences and the top 3 keep their height whatever they show, so nothing moves when a reading comes or
# goes. Gradio pads an HTML component's content (.html-container): the pad and the sentences line up with the
# other blocks instead. The page's side margins (Gradio's .app: 32 px) are 4 % of a phone's width, for the pad
# (a top-level rule: Gradio scopes custom CSS under its .contain, but keeps each top-level rule as written too).
CSS = """
.gradio-container .main.app { padding-left: clamp(var(--size-2), 4vw, var(--size-8));
                              padding-right: clamp(var(--size-2), 4vw, var(--size-8)); }
#pad .html-container, .live-text .html-container { padding: 0; }
.live-text p { margin: 0; }
#message p { min-height: calc(2 * var(--line-md) * var(--text-lg)); font-size: var(--text-lg); }
#label { min-height: 160px; }
#preview img { image-rendering: pixelated; }
.captioned { gap: var(--spacing-sm); }  /* a caption close to what it captions */
.caption p { margin: 0; font-size: var(--text-sm); color: var(--body-text-color-subdued); }
#correction-row { align-items: flex-end; }
#quick-digits { gap: var(--spacing-sm); }
#quick-digits button { min-width: 0; padding-left: 0; padding-right: 0; }
.quick-digit::before {  /* the button's name, for a screen reader: "Correct it: it's a 3" */
  content: "Correct it: it's a "; position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip-path: inset(50%); white-space: nowrap;
}
#footer p { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
"""
# Gradio's default theme, its quieter text (captions, the footer, placeholders) dark enough to read: 7:1 on white.
THEME = gr.themes.Default().set(body_text_color_subdued="*neutral_600", input_placeholder_color="*neutral_600")
# Gradio 6 takes page-wide options in launch(); the tests launch with these too, so they test the same page.
# No run history: Gradio would keep the last 100 readings in the visitor's browser, rewriting all of them
# at each message of each reading; five long strokes on a page took 48 s instead of 15 (benchmarks/long_strokes.py).
LAUNCH_OPTIONS = {"css": CSS, "theme": THEME, "max_file_size": MAX_FILE_SIZE, "state_session_capacity": SESSIONS_KEPT,
                  "run_history": False}


class SpaceBlocks(PerItemBatches, GuardedBlocks):
    """The app's Blocks: a batched event's requests each keep their session and their error (PerItemBatches),
    served behind the request guard: bodies capped, no deep links, browser-only events never run on the
    server, never-uploaded files refused (GuardedBlocks)."""


def live_text(value: str, elem_id: str) -> gr.HTML:
    """A sentence, shown as text, that screen readers say when it changes."""
    return gr.HTML(value, html_template=LIVE_TEMPLATE, js_on_load=LIVE_SCRIPT, elem_id=elem_id,
                   elem_classes="live-text")


def preview_image(reading: Reading) -> Image.Image | None:
    """The 28x28 model inputs side by side, white ink on black like MNIST, a grey line between two
    digits, each pixel a PREVIEW_SCALE-wide square; None when nothing was read."""
    if reading.empty:
        return None
    separator = np.full((28, 1), PREVIEW_SEPARATOR, np.uint8)
    tiles = [np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8) for image in reading.inputs]
    pixels = np.concatenate([part for tile in tiles for part in (separator, tile)][1:], axis=1)
    size = (pixels.shape[1] * PREVIEW_SCALE, 28 * PREVIEW_SCALE)
    return Image.fromarray(pixels, "L").resize(size, Image.Resampling.NEAREST)


def save_preview(image: Image.Image, folder: Path) -> str:
    """Write `image` as folder/<content hash>.png, atomically, and return its path.

    Gradio would write a returned PIL image in place under a content-addressed
    name, so two requests with the same preview could cut each other's download
    short; a complete file is renamed into place here instead, and a preview
    that exists already is only touched (delete_cache ages files by ctime).
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.png"
    if path.exists():
        os.utime(path)
        return str(path)
    folder.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(dir=folder, prefix=".preview-")
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(staging, path)
    return str(path)


def footer_text(source: ModelSource) -> str:
    """The model, for a visitor: e.g. 'The model: the copy that comes with this app, trained 2026-11-26 · it
    reads 99.19% of MNIST's 10,000 test digits right'."""
    model = f"The model: {source.describe()}"
    created = (source.metrics or {}).get("created")
    if created and source.origin != "hub":  # a Hub model's version is its commit, already in describe()
        model += f", trained {str(created)[:10]}"
    if source.test_accuracy is None:
        return model
    return f"{model} · it reads {source.test_accuracy:.2%} of MNIST's 10,000 test digits right"


def build_demo(reader: DigitReader, source: ModelSource, feedback: FeedbackStore,
               delete_cache: tuple[int, int] = (CACHE_SWEEP_S, CACHE_MAX_AGE_S)) -> gr.Blocks:
    """The app, reading drawings with `reader`; `source` is named in the footer, `feedback` keeps the
    visitors' corrections. `delete_cache` is Gradio's (every seconds, files older than seconds)."""

    def read(drawings: list[Strokes | str | dict | ItemError]) -> list[Reading | ItemError]:
        """The readings of a batch of drawings, in one model call; for each that is not one (or whose payload
        was refused), an ItemError with the gr.Error that says why."""
        todo = [i for i, drawing in enumerate(drawings) if not isinstance(drawing, ItemError)]
        results = list(drawings)
        for i, reading in zip(todo, reader.read_many([drawings[i] for i in todo], invalid="keep")):
            results[i] = (ItemError(plain_error(str(reading)))
                          if isinstance(reading, InvalidDrawing) else reading)
        return results

    def shown(reading: Reading) -> tuple[dict[str, float] | None, str | None, str]:
        """The top-3 readings with their probabilities, the 28x28 image the model saw (a PNG path), a sentence."""
        label = dict(reading.top(3, least=SHOWN_FROM)) or None
        image = preview_image(reading)
        preview_path = save_preview(image, Path(preview.GRADIO_CACHE) / "previews") if image else None
        return label, preview_path, reading.message

    # Both are batched: a list per input, one list per output (one value per drawing). Their parameters'
    # names and their docstrings are the API page's.
    def predict_strokes(strokes: list[Strokes | ItemError]) -> list[list]:
        """Read the stroke pad's value {"width", "height", "strokes": [[[x, y], ...], ...]} (canvas pixels)."""
        # The outputs: label, preview, sentence, and the drawing read (the session's state, for a correction).
        return columns([(reading,) * 4 if isinstance(reading, ItemError)
                        else (*shown(reading), ReadDrawing.of(drawing, reading))
                        for drawing, reading in zip(strokes, read(strokes))])

    def predict(image: list[str | dict | ItemError]) -> list[list]:
        """Read an image file, or a Sketchpad value {"composite": file, "layers": [...], "background": ...}."""
        return columns([(reading,) * 3 if isinstance(reading, ItemError) else shown(reading)
                        for reading in read(image)])

    def correct(drawing: ReadDrawing | None, answer_text: str, request: gr.Request) -> list:
        """Keep the session's last drawing read with the visitor's answer: a sentence for them, then the
        answer field's and each other correction control's update (none take another answer once the
        drawing's correction is kept: the server would refuse it). The drawing is the session's state,
        never a value sent with the correction."""
        status = feedback.save(feedback.address_of(request), drawing, answer_text, source)
        done = {"interactive": False} if status in CORRECTED else {}
        return [status, gr.update(value="" if status == SAVED else answer_text, **done),
                *(gr.update(**done) for _ in controls[1:])]

    def correct_as(digit: str):
        """`correct` with `digit` as the answer, for a quick digit button."""

        def send_digit(drawing: ReadDrawing | None, request: gr.Request) -> list:
            return correct(drawing, digit, request)

        return send_digit

    with SpaceBlocks(title="MNIST sketch", delete_cache=delete_cache) as demo:
        last_read = gr.State(None)  # the session's last drawing read (a ReadDrawing): what a correction keeps
        gr.Markdown(TITLE)
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                pad = StrokePad(elem_id="pad", canvas=CANVAS, narrow_canvas=NARROW_CANVAS, pen_width=PEN_WIDTH,
                                examples={text: pad_value(text, CANVAS) for text in EXAMPLES})
            with gr.Column(scale=2, min_width=300):
                message = live_text(EMPTY_MESSAGE, elem_id="message")
                label = gr.Label(num_top_classes=3, label="Top 3 guesses", show_heading=False, elem_id="label")
                with gr.Column(elem_classes="captioned"):
                    gr.Markdown("What the model sees: 28×28 pixels per digit", elem_classes="caption")
                    preview = gr.Image(
                        show_label=False,
                        alt_text="The drawing as the model sees it: 28×28 pixels per digit",
                        elem_id="preview",
                        format="png",
                        interactive=False,
                        buttons=[],
                        height=PREVIEW_HEIGHT,
                    )
                # Until there is a reading, and after its correction is kept, these take no answer.
                with gr.Row(equal_height=False, elem_id="correction-row"):
                    correction = gr.Textbox(label="Wrong? Type what you drew", placeholder="e.g. 7 or 2026",
                                            elem_id="correction", max_lines=1, scale=3, min_width=120,
                                            interactive=False)
                    send = gr.Button("Send", elem_id="send-correction", scale=1, min_width=80,
                                     interactive=False)
                with gr.Column(elem_classes="captioned"):
                    gr.Markdown("…or tap the right digit:", elem_classes="caption")
                    with gr.Row(elem_id="quick-digits"):
                        quick = [gr.Button(str(d), size="sm", min_width=28, elem_classes="quick-digit",
                                           interactive=False) for d in range(10)]
                correction_status = live_text(KEPT_NOTE, elem_id="correction-status")
        controls = [correction, send, *quick]  # the correction's controls: an answer field, then buttons
        gr.Markdown(footer_text(source), elem_id="footer")
        image_input = ImageInput(visible=False)  # API clients' image files

        outputs = [label, preview, message]
        # The pad's value changes when the pen is lifted (and every 150 ms along a stroke that has lasted
        # a second), or when an example is clicked; a value arriving while a reading runs replaces older
        # waiting ones. Both readers take the drawings waiting in the queue as one batch, read in one model
        # call; each request keeps its own session's state and its own error (PerItemBatches).
        pad.change(
            predict_strokes,
            inputs=pad,
            outputs=[*outputs, last_read],
            api_name="predict_strokes",
            trigger_mode="always_last",
            show_progress="hidden",
            concurrency_limit=CONCURRENCY,
            concurrency_id="read",
            batch=True,
            max_batch_size=MAX_BATCH,
        )
        image_input.change(
            predict,
            inputs=image_input,
            outputs=outputs,
            api_name="predict",
            show_progress="hidden",
            concurrency_limit=CONCURRENCY,
            concurrency_id="read",
            batch=True,
            max_batch_size=MAX_BATCH,
        )
        # Corrections are left off the API page, but any script can still send them through the queue: what
        # holds against one is in FeedbackStore.save (the session's own last reading only, once, within
        # limits per address and overall). They share the readings' concurrency group: no queue of their own.
        as_correction = {"outputs": [correction_status, *controls], "api_visibility": "private",
                         "concurrency_limit": CONCURRENCY, "concurrency_id": "read"}
        gr.on([send.click, correction.submit], correct, inputs=[last_read, correction], api_name="correct",
              **as_correction)
        for digit, button in enumerate(quick):
            button.click(correct_as(str(digit)), inputs=last_read, api_name=f"correct_{digit}", **as_correction)
        # A new drawing starts a new reading: the last correction's thanks no longer applies. In the
        # browser only: a server round trip for it would cost the page as much as the reading itself.
        pad.change(None, outputs=correction_status, api_visibility="private", show_progress="hidden",
                   js=f"() => {json.dumps(KEPT_NOTE)}")
        # The correction controls take an answer once there is a reading, until its correction is kept
        # (`correct` says so), and the next reading. In the browser only, like the above: the function returns
        # gr.update's JSON form, which Gradio applies as it would a Python function's gr.update
        # (tests/test_browser.py fails if it stops doing so). Its input is the label the page shows; a script
        # that sends one to the server for this event is refused (GuardedBlocks), so nothing it sends is kept.
        label.change(None, inputs=label, outputs=controls, api_visibility="private", show_progress="hidden",
                     js=f"(label) => Array({len(controls)}).fill("
                        "{__type__: 'update', interactive: Boolean(label?.confidences?.length)})")
    sweep_safely(demo)  # delete_cache's sweep survives concurrent uploads, and takes their folders too
    keep_active_sessions(demo)  # a flood of new sessions no longer drops a busy session's results
    return demo


def main(**launch_options: Any) -> None:
    """Serve the app as `python app.py` does; `launch_options` add to or override LAUNCH_OPTIONS."""
    limit_malloc_arenas()  # before the model's and the server's threads: memory levels off (see the module)
    model, model_source = load_app_model()
    reader = DigitReader(model, number_model=load_number_model(model_source),
                         path_model=load_path_model(model_source))
    corrections = store_from_env(pen_width=PEN_WIDTH)
    start_sync(corrections)  # with FEEDBACK_REPO set: pushes new corrections in the background
    build_demo(reader, model_source, corrections).launch(**{**LAUNCH_OPTIONS, **launch_options})


if __name__ == "__main__":
    main()
