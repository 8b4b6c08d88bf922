"""The Space: draw a digit and see, as you draw, the model's three best guesses.

    python app.py            # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT

The model is loaded once, at start-up, by `load_app_model()` (MODEL_PATH, else
the Hub, else the bundled model/mnist.h5). This file is only the user
interface: reading a drawing is `mnist_sketch.predict.DigitReader`'s job.

API: the `predict` endpoint takes a Sketchpad value ({"composite": image, ...})
or a plain image file, and returns (top-3 label, 28x28 preview, message).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Union

import gradio as gr
import numpy as np
from gradio.components.image_editor import EditorData, EditorValue
from gradio.data_classes import FileData, GradioRootModel
from PIL import Image
from pydantic import Field

from mnist_sketch.model_source import ModelSource, load_app_model
from mnist_sketch.predict import EMPTY_MESSAGE, DigitReader, Reading
from mnist_sketch.preprocess import InvalidImage

HERE = Path(__file__).resolve().parent
EXAMPLES = sorted((HERE / "examples").glob("digit_*.png"))

CANVAS = 800  # the drawing's resolution; the page shows it scaled to fit
BRUSH_RADIUS = 18  # a 36 px stroke, 1/22 of the canvas: MNIST's proportion of stroke to digit
SKETCH_HEIGHT = "min(440px, 92vw)"  # on the page, toolbar included: about square, on a phone too
PREVIEW_SCALE = 8  # the 28x28 model input is shown at 224x224, each pixel a crisp square
MAX_PIXELS = 25_000_000  # larger images (e.g. 6000x6000) are refused before they are decoded
MAX_FILE_SIZE = "10mb"  # larger uploads are refused by the server
CONCURRENCY = 4  # predictions run at once; more would only queue up for the CPU
MAX_UNREAD_DRAWINGS = 256  # uploaded canvases kept for a prediction still to come (a few MB at most)

TITLE = "# ✏️ MNIST sketch"
INTRO = "Draw a digit from 0 to 9 in the box: a small CNN trained on MNIST reads it as you draw."

CSS = """
#sketch, #clear { max-width: 460px; margin-left: auto; margin-right: auto; }
#preview img { image-rendering: pixelated; }
#footer { font-size: var(--text-sm); color: var(--body-text-color-subdued); }
"""
# Gradio 6 takes page-wide options in launch(); the tests launch with these too, so they test the same page.
LAUNCH_OPTIONS = {"css": CSS, "max_file_size": MAX_FILE_SIZE}

# Gradio 6.31's Sketchpad starts with no tool selected when it is empty: it shows "select the
# draw tool to start" and ignores strokes until the Brush button is clicked, and it returns to
# that state whenever it is cleared. There is no parameter for the starting tool, so whenever
# that prompt appears, select the brush (the first tool button: no image tools are enabled).
SELECT_BRUSH_JS = """
() => {
    const pad = document.querySelector("#sketch");
    if (!pad) return;
    let pending = false;
    const selectBrush = () => {
        pending = false;
        if (pad.querySelector(".empty.wrap")) pad.querySelector(".toolbar-wrap button")?.click();
    };
    const later = () => { if (!pending) { pending = true; setTimeout(selectBrush, 30); } };
    new MutationObserver(later).observe(pad, { childList: true, subtree: true });
    later();
}
"""


class SketchOrFile(GradioRootModel):
    """What the predict endpoint accepts: a plain image file, or a Sketchpad value."""

    root: Annotated[Union[FileData, EditorData], Field(union_mode="left_to_right")]

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> SketchOrFile:
        # Gradio validates API payloads with this before `preprocess`; say what is wrong with one
        # that is neither (pydantic's own error would reach the client as a generic failure).
        if not isinstance(obj, (dict, FileData, EditorData)):
            raise gr.Error(
                f"Expected an image file or a Sketchpad value, got {type(obj).__name__} {str(obj)[:40]!r}.",
                print_exception=False,
            )
        return super().model_validate(obj, **kwargs)


NO_IMAGE = ('No image was sent: send an image file (handle_file("digit.png")) '
            'or a Sketchpad value {"composite": handle_file("digit.png")}.')


def accept_image_files(pad: gr.Sketchpad) -> gr.Sketchpad:
    """Let `pad`'s API take a plain image file too, as `gradio_client.handle_file` sends it.

    Gradio validates a payload against the component's data model before
    `preprocess`, and the Sketchpad's (EditorData) silently turns a file into
    an empty value; SketchOrFile tries FileData first. Payloads without an
    image, files that are not images and images too large to decode safely
    become clear errors for the client. (Configured on the instance: a
    Component subclass would make Gradio write an app.pyi stub next to this file.)
    """
    editor_preprocess = pad.preprocess

    def preprocess(payload: SketchOrFile | EditorData | None) -> EditorValue | None:
        if payload is None:
            raise gr.Error(NO_IMAGE, print_exception=False)
        value = payload.root if isinstance(payload, SketchOrFile) else payload
        if isinstance(value, FileData):
            value = EditorData(composite=value)
        elif not value.model_fields_set:  # {}: not even an empty Sketchpad value
            raise gr.Error(NO_IMAGE, print_exception=False)
        for file in [value.composite, value.background, *value.layers]:
            if file is not None:
                check_image_file(file.path)
        sketch = editor_preprocess(value)
        forget_unread_drawings(pad)
        return sketch

    pad.data_model = SketchOrFile
    pad.preprocess = preprocess
    return pad


def forget_unread_drawings(pad: gr.Sketchpad) -> None:
    """Bound the drawings the browser uploaded but no prediction read.

    The browser uploads the canvas after every stroke and the prediction takes
    (and frees) the newest; strokes drawn while a prediction runs are skipped
    (trigger_mode="always_last") and Gradio 6.31 keeps their images forever.
    """
    stored = list(pad.blob_storage)  # oldest first
    for key in stored[: max(0, len(stored) - MAX_UNREAD_DRAWINGS)]:
        pad.blob_storage.pop(key, None)


def check_image_file(path: str) -> None:
    """Raise a clear gr.Error for a file that is not an image, or is too large to decode."""
    try:
        with Image.open(path) as img:
            size = img.size
    except Image.DecompressionBombError:  # PIL's own limit, far above MAX_PIXELS
        size = None
    except (OSError, ValueError) as exc:
        raise gr.Error(
            f"The file sent is not an image ({Path(path).name}): send a PNG or JPEG of a digit.",
            print_exception=False,
        ) from exc
    if size is None or size[0] * size[1] > MAX_PIXELS:
        raise gr.Error(
            f"The image is too large ({'x'.join(map(str, size)) if size else 'over 178 million'} pixels): send at "
            f"most {MAX_PIXELS // 1_000_000} megapixels, e.g. {CANVAS}x{CANVAS} like the app's canvas.",
            print_exception=False,
        )


def preview_image(reading: Reading) -> Image.Image | None:
    """The 28x28 model input, white ink on black like MNIST, upscaled with nearest neighbour."""
    if reading.model_input is None:
        return None
    pixels = np.rint(np.clip(reading.model_input, 0, 1) * 255).astype(np.uint8)
    size = 28 * PREVIEW_SCALE
    return Image.fromarray(pixels, "L").resize((size, size), Image.Resampling.NEAREST)


def footer_text(source: ModelSource) -> str:
    """E.g. 'Model: bundled model · version 2026-11-26 · MNIST test accuracy 99.19%'."""
    parts = [f"Model: {source.describe()}"]
    created = (source.metrics or {}).get("created")
    if created and source.origin != "hub":  # a Hub model's version is its commit, already in describe()
        parts.append(f"version {str(created)[:10]}")
    if source.test_accuracy is not None:
        parts.append(f"MNIST test accuracy {source.test_accuracy:.2%}")
    return " · ".join(parts)


def build_demo(reader: DigitReader, source: ModelSource) -> gr.Blocks:
    """The app, reading drawings with `reader`; `source` is named in the footer."""

    def predict(sketch: Any) -> tuple[dict[str, float] | None, Image.Image | None, str]:
        """Read a drawing: the top-3 digits with their probabilities, the 28x28 image the model saw, a sentence."""
        try:
            reading = reader.read(sketch)  # a cleared canvas reads as empty
        except InvalidImage as exc:
            raise gr.Error(str(exc), print_exception=False) from exc
        label = {str(digit): prob for digit, prob in reading.top(3)} or None
        return label, preview_image(reading), reading.message

    def clear_outputs() -> tuple[None, None, str]:
        return None, None, EMPTY_MESSAGE

    def clear() -> tuple[None, None, None, str]:
        return None, *clear_outputs()

    with gr.Blocks(title="MNIST sketch") as demo:
        gr.Markdown(TITLE)
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(min_width=300):
                sketch = gr.Sketchpad(
                    label="Your digit",
                    elem_id="sketch",
                    height=SKETCH_HEIGHT,
                    canvas_size=(CANVAS, CANVAS),
                    brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=BRUSH_RADIUS),
                    layers=False,
                    transforms=(),
                    sources=(),
                    format="png",
                    buttons=[],
                )
                accept_image_files(sketch)
                clear_button = gr.Button("Clear", elem_id="clear")
            with gr.Column(min_width=300):
                label = gr.Label(num_top_classes=3, label="Top 3 guesses", elem_id="label")
                message = gr.Markdown(EMPTY_MESSAGE, label="Message", elem_id="message")
                preview = gr.Image(
                    label="What the model sees (28×28)",
                    elem_id="preview",
                    format="png",
                    interactive=False,
                    buttons=[],
                    height=28 * PREVIEW_SCALE,
                    width=28 * PREVIEW_SCALE,
                )
        outputs = [label, preview, message]

        # Registered before gr.Examples, whose run-on-click event would otherwise take the name
        # "predict". The Sketchpad's .change fires once per finished stroke, after the stroke's image
        # has reached the server; .input fires before, so it reads an empty canvas on the first stroke.
        sketch.change(
            predict,
            inputs=sketch,
            outputs=outputs,
            api_name="predict",
            trigger_mode="always_last",
            show_progress="hidden",
            concurrency_limit=CONCURRENCY,
        )
        clear_button.click(clear, outputs=[sketch, *outputs], show_progress="hidden", api_visibility="private")
        # The editor's own trash button has cleared the canvas already.
        sketch.clear(clear_outputs, outputs=outputs, show_progress="hidden", api_visibility="private")
        demo.load(None, js=SELECT_BRUSH_JS)

        if EXAMPLES:
            examples = gr.Examples(
                examples=[[str(path)] for path in EXAMPLES],
                inputs=[sketch],
                outputs=outputs,
                fn=predict,
                run_on_click=True,
                cache_examples=False,
                examples_per_page=len(EXAMPLES),
                label="Or start from an example",
            )
            # gr.Examples sends every constructor property of the Sketchpad along with the example
            # image (to restore them), and Gradio 6.31's frontend handles each property as a separate
            # update that makes the editor export and re-upload its images: about 60 uploads and
            # seconds of delay per click. This app never changes those properties: send the image only.
            examples.input_component_props = [{} for _ in examples.input_component_props]
        gr.Markdown(footer_text(source), elem_id="footer")

    return demo


if __name__ == "__main__":
    model, model_source = load_app_model()
    build_demo(DigitReader(model), model_source).launch(**LAUNCH_OPTIONS)
