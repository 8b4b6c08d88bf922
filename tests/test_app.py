"""The Gradio app over HTTP, as an API client sees it: strokes and image files in, top-3 guesses out, clear errors.

The app runs in this process on a free loopback port with the bundled model;
nothing here may reach the network (a guard refuses any other connection).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from drawing import draw_digit
from PIL import Image

pytestmark = [
    pytest.mark.app,
    # Gradio 6.31's queue uses pandas options that pandas 3 deprecates: not ours to fix.
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
CANVAS = 800  # image files as an API client (or the old Sketchpad page) sends them
BRUSH = 36

# Set while the app is built and serving: no Hub, no telemetry, no version check.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _loopback_only(connect):
    def guarded(sock: socket.socket, address, *args):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            raise OSError(f"tests must not reach the network (tried {address!r})")
        return connect(sock, address, *args)

    return guarded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(**build_options) -> Iterator[str]:
    """Build the app with the bundled models (model/mnist.h5, model/numbers.h5) and `build_options`
    (app.build_demo's), serve it on a free loopback port, yield its URL.

    Also used by test_browser.py and test_abuse.py.
    """
    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE_ENV.items():
            mp.setenv(key, value)
        mp.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect))
        mp.setattr(socket.socket, "connect_ex", _loopback_only(socket.socket.connect_ex))
        sys.path.insert(0, str(ROOT))
        import app
        from space.feedback import FeedbackStore
        from mnist_sketch.model import load_model_file
        from mnist_sketch.model_source import bundled_source, load_number_model, load_path_model
        from mnist_sketch.predict import DigitReader

        source = bundled_source()  # model/mnist.h5, its metrics.json, model/numbers.h5 and model/trajectory.h5
        feedback = build_options.pop("feedback", None) or FeedbackStore(Path(tempfile.mkdtemp()) / "feedback")
        reader = DigitReader(load_model_file(source.path), number_model=load_number_model(source),
                             path_model=load_path_model(source))  # as app.main builds it
        demo = app.build_demo(reader, source, feedback, **build_options)
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **app.LAUNCH_OPTIONS)
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            demo.close()


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    with serve_app() as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False, download_files=False)


@pytest.fixture(scope="module")
def drawings(tmp_path_factory) -> dict[str, Path]:
    """PNG files: canvas-like drawings of 1 and 7, a blank canvas, and bad files."""
    d = tmp_path_factory.mktemp("drawings")
    files = {
        "1": Image.fromarray(draw_digit(1, canvas=(CANVAS, CANVAS), brush=BRUSH)),
        "7": Image.fromarray(draw_digit(7, canvas=(CANVAS, CANVAS), brush=BRUSH)),
        # A Sketchpad layer: black ink on a transparent canvas.
        "7 transparent": Image.fromarray(draw_digit(7, canvas=(CANVAS, CANVAS), brush=BRUSH, background=None)),
        "blank": Image.new("RGB", (CANVAS, CANVAS), "white"),
        "huge": Image.new("L", (6000, 6000), 255),
    }
    paths = {}
    for name, image in files.items():
        paths[name] = d / f"{name.replace(' ', '_')}.png"
        image.save(paths[name])
    paths["text"] = d / "notes.png"
    paths["text"].write_text("this is a text file with an image's name\n")
    return paths


def predict(client, payload):
    return client.predict(payload, api_name="/predict")


def predict_strokes(client, value):
    return client.predict(value, api_name="/predict_strokes")


def top_digit(label: dict) -> str | None:
    return label.get("label") if label else None


def sketch_value(path: Path) -> dict:
    from gradio_client import handle_file

    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def plain_file(path: Path):
    from gradio_client import handle_file

    return handle_file(str(path))


def pad(strokes: list, width: float = 900, height: float = 600) -> dict:
    return {"width": width, "height": height, "strokes": strokes}


SEVEN = [[[300, 120], [600, 120], [420, 500]]]  # as the pad sends it: canvas pixels


def test_the_public_endpoints_are_the_two_readers(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert sorted(endpoints) == ["/predict", "/predict_strokes"]


def test_the_image_inputs_schema_is_made_once_and_each_caller_gets_its_own_copy():
    """Gradio asks for it three times per new session (each REST API call is one)."""
    from space.image_input import ImageInput, ImageOrSketchpad, payload_schema

    image = ImageInput(visible=False)
    first = image.api_info()
    assert first == ImageOrSketchpad.model_json_schema()
    first.clear()  # what one session's config does with its copy...
    assert image.api_info() == ImageOrSketchpad.model_json_schema()  # ...is not the next one's
    assert payload_schema.cache_info().misses == 1


def test_the_page_holds_no_image_editor(app_url):
    """The pad is a plain canvas: no Sketchpad or ImageEditor, so no blob upload route to abuse."""
    import httpx

    config = httpx.get(app_url + "config").json()
    types = {component["type"] for component in config["components"]}
    assert "html" in types and not types & {"imageeditor", "sketchpad"}
    blobs = httpx.post(app_url + "gradio_api/component_server",
                       json={"session_hash": "x", "component_id": 1, "fn_name": "accept_blobs", "data": {}})
    assert blobs.status_code >= 400


def json_leaves(value) -> int:
    """How many numbers, strings, booleans and nulls a JSON value holds."""
    if isinstance(value, dict):
        return sum(map(json_leaves, value.values()))
    if isinstance(value, list):
        return sum(map(json_leaves, value))
    return 1


def test_the_pads_props_stay_light(app_url):
    """On each of the page's events Gradio copies every component's props, value by value (Svelte's
    $state.snapshot). The examples' strokes as numbers made that a thousand copies per event, and a long
    stroke read as it goes took 8 s instead of 3 in Chromium (benchmarks/long_strokes.py): each example
    travels as JSON text, and the pad's props stay a few dozen values however many examples there are."""
    import httpx

    config = httpx.get(app_url + "config").json()
    pad = next(c for c in config["components"] if c["props"].get("elem_id") == "pad")
    examples = pad["props"]["props"]["examples"]
    assert len(examples) == 12 and all(isinstance(e["value"], str) for e in examples)
    assert json_leaves(pad["props"]) < 200


def assert_read_as(result, digit: str) -> None:
    label, preview, message = result
    assert top_digit(label) == digit
    confidences = label["confidences"]
    assert len(confidences) == 3 and confidences[0]["label"] == digit
    assert [c["confidence"] for c in confidences] == sorted((c["confidence"] for c in confidences), reverse=True)
    assert message.startswith(f"It's a {digit}")
    with Image.open(preview["path"] if isinstance(preview, dict) else preview) as img:  # what the model saw
        assert img.size == (224, 224)
        pixels = np.asarray(img.convert("L"))
    assert np.unique(pixels).size > 2 and pixels[0, 0] == 0  # white ink on black, as in MNIST


def test_strokes_are_read(client):
    assert_read_as(predict_strokes(client, pad(SEVEN)), "7")


@pytest.mark.parametrize("as_payload", [sketch_value, plain_file], ids=["sketchpad value", "plain file"])
@pytest.mark.parametrize("digit", ["1", "7", "7 transparent"])
def test_an_image_is_read(client, drawings, digit, as_payload):
    assert_read_as(predict(client, as_payload(drawings[digit])), digit[0])


@pytest.mark.parametrize("as_payload", [sketch_value, plain_file], ids=["sketchpad value", "plain file"])
def test_an_empty_canvas_asks_for_a_digit_and_guesses_nothing(client, drawings, as_payload):
    from mnist_sketch.preprocess import EMPTY_MESSAGE

    label, preview, message = predict(client, as_payload(drawings["blank"]))
    assert not top_digit(label) and not (label or {}).get("confidences")
    assert preview is None
    assert message == EMPTY_MESSAGE


@pytest.mark.parametrize("value", [{"background": None, "layers": [], "composite": None}, {"layers": [None]}],
                         ids=["cleared", "an empty layer"])
def test_a_sketchpad_value_without_images_asks_for_a_digit(client, value):
    from mnist_sketch.preprocess import EMPTY_MESSAGE

    label, preview, message = predict(client, value)
    assert not top_digit(label) and preview is None and message == EMPTY_MESSAGE


@pytest.mark.parametrize("value,message", [(pad([]), "Draw a digit"), (None, "Draw a digit"),
                                           (pad([[[400, 300]]]), "only a dot")], ids=["empty pad", "None", "a dot"])
def test_an_empty_pad_or_a_dot_asks_for_a_digit(client, value, message):
    label, preview, text = predict_strokes(client, value)
    assert not top_digit(label) and preview is None and message in text


BAD_PAYLOADS = {
    "None": (lambda d: None, "No image was sent"),
    "empty dict": (lambda d: {}, "No image was sent"),
    "a string": (lambda d: "digit.png", "Expected an image file or a Sketchpad value"),
    "text file named .png": (lambda d: plain_file(d["text"]), "not an image"),
    "text file as composite": (lambda d: sketch_value(d["text"]), "not an image"),
    "6000x6000 image": (lambda d: plain_file(d["huge"]), r"too large \(6000x6000 pixels\)"),
}


@pytest.mark.parametrize("name", list(BAD_PAYLOADS))
def test_a_bad_payload_gets_a_clear_error_and_the_server_keeps_serving(client, drawings, name):
    from gradio_client.exceptions import AppError

    make, expected = BAD_PAYLOADS[name]
    with pytest.raises(AppError, match=expected):
        predict(client, make(drawings))
    label, _, _ = predict(client, plain_file(drawings["7"]))
    assert top_digit(label) == "7"


BAD_STROKES = {
    "a string": ("strokes", "Expected a drawing"),
    "missing strokes": ({"width": 900, "height": 600}, "lacks 'strokes'"),
    "a point not a pair": (pad([[[1, 2, 3]]]), "pair"),
    "a coordinate a string": (pad([[[1, "x"]]]), "not a number"),
    "a huge canvas": (pad([], width=1e12), "1 to 10000 px"),
    "too many strokes": (pad([[[1, 1]]] * 65), "at most 64"),
}


@pytest.mark.parametrize("name", list(BAD_STROKES))
def test_bad_strokes_get_a_clear_error_and_the_server_keeps_serving(client, name):
    from gradio_client.exceptions import AppError

    bad, expected = BAD_STROKES[name]
    with pytest.raises(AppError, match=expected):
        predict_strokes(client, bad)
    assert top_digit(predict_strokes(client, pad(SEVEN))[0]) == "7"


def test_a_number_is_read_whole_with_its_digits_side_by_side_in_the_preview(client, tmp_path):
    from app import SHOWN_FROM
    from gradio_client import handle_file

    from mnist_sketch.example_digits import pad_value
    from mnist_sketch.strokes import draw_on_paper, parse_strokes

    label, preview, message = predict_strokes(client, pad_value("2026"))
    assert label["label"] == "2026" and message.startswith("It's 2026 (")
    assert label["confidences"][0]["label"] == "2026" and 1 <= len(label["confidences"]) <= 3
    assert all(len(c["label"]) == 4 for c in label["confidences"])
    assert all(c["confidence"] >= SHOWN_FROM for c in label["confidences"][1:])  # no unlikely filler
    with Image.open(preview["path"] if isinstance(preview, dict) else preview) as img:
        assert img.size == ((4 * 28 + 3) * 8, 224)  # four 28x28 inputs, a line between two
    draw_on_paper(parse_strokes(pad_value("42")), 20).save(tmp_path / "42.png")
    assert top_digit(predict(client, handle_file(str(tmp_path / "42.png")))[0]) == "42"


def test_an_image_of_a_number_whose_digits_cross_is_read_through_the_api(client, tmp_path):
    """The 7's bar runs into the 0: one blot of ink, read by the number reader."""
    from gradio_client import handle_file

    from test_number_reader import CROSSING, image_of

    Image.fromarray(image_of(CROSSING["170"](), 24)).save(tmp_path / "170.png")
    label, preview, message = predict(client, handle_file(str(tmp_path / "170.png")))
    assert label["label"] == "170" and "170" in message
    with Image.open(preview["path"] if isinstance(preview, dict) else preview) as img:
        assert img.size == ((3 * 28 + 2) * 8, 224)  # the three digits it read, cut apart


def test_concurrent_clients_all_get_their_answers(app_url, drawings):
    from gradio_client import Client

    def one_client(digit: str) -> list[str]:
        c = Client(app_url, verbose=False, download_files=False)
        if digit == "strokes 7":
            return [top_digit(predict_strokes(c, pad(SEVEN))[0]) for _ in range(3)]
        return [top_digit(predict(c, plain_file(drawings[digit]))[0]) for _ in range(3)]

    digits = ["1", "7", "strokes 7"] * 2
    with ThreadPoolExecutor(len(digits)) as pool:
        results = list(pool.map(one_client, digits))
    assert results == [[d[-1]] * 3 for d in digits]


def test_each_example_is_read_as_its_digit(client):
    from mnist_sketch.example_digits import STROKES, pad_value

    for digit in STROKES:
        label, _, _ = predict_strokes(client, pad_value(str(digit)))
        assert top_digit(label) == str(digit)


EXAMPLE_FILES = sorted(EXAMPLES_DIR.glob("digit_*.png"))


def test_the_example_files_are_ten_small_canvas_sized_pngs():
    assert [p.name for p in EXAMPLE_FILES] == [f"digit_{d}.png" for d in range(10)]
    for path in EXAMPLE_FILES:
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == (CANVAS, CANVAS)
        assert path.stat().st_size < 32 * 1024


def test_the_example_files_are_what_make_examples_draws():
    from mnist_sketch.example_digits import draw_png

    for digit in range(10):
        drawn = np.asarray(draw_png(digit), np.int16)
        with Image.open(EXAMPLES_DIR / f"digit_{digit}.png") as img:
            committed = np.asarray(img.convert("L"), np.int16)
        assert np.abs(drawn - committed).max() <= 1, f"examples/digit_{digit}.png is stale: rerun make_examples.py"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_each_example_file_is_read_as_its_digit(client, path):
    label, _, _ = predict(client, sketch_value(path))
    assert top_digit(label) == path.stem[-1]
    assert label["confidences"][0]["confidence"] > 0.9


def test_the_footer_names_the_model_its_version_and_accuracy():
    sys.path.insert(0, str(ROOT))
    from app import footer_text

    from mnist_sketch.model_source import ModelSource

    hub = ModelSource(Path("x/mnist.h5"), "hub", repo_id="me/mnist", commit="0123456789abcdef",
                      metrics={"test_accuracy": 0.9919, "created": "2026-11-26T11:17:00+00:00"})
    assert footer_text(hub) == ("The model: me/mnist on the Hugging Face Hub, version 0123456 · it reads 99.19% of "
                                "MNIST's 10,000 test digits right")
    bundled = ModelSource(Path("model/mnist.h5"), "bundled", metrics={"test_accuracy": 0.99, "created": "2026-11-26"})
    assert footer_text(bundled) == ("The model: the copy that comes with this app, trained 2026-11-26 · it reads "
                                    "99.00% of MNIST's 10,000 test digits right")
    assert footer_text(ModelSource(Path("m.h5"), "local")) == "The model: the file m.h5 on this server"


def test_the_readme_api_snippet_runs_as_documented(app_url):
    """The README's gradio_client snippet, pointed at the test app, prints what its comments say."""
    import contextlib
    import io
    import re

    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"## API\n.*?```python\n(.*?)```", readme, re.S).group(1)
    assert 'Client("http://127.0.0.1:7860/")' in snippet
    code = snippet.replace("http://127.0.0.1:7860/", app_url)
    printed = io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    lines = [line for line in printed.getvalue().splitlines() if not line.startswith("Loaded as API")]
    expected = [line.split("# ")[-1] for line in snippet.splitlines() if line.startswith("print(message)")]
    messages = [line for line in lines if line.startswith("It's")]
    assert [m.split(" (")[0] for m in messages] == [e.split(" (")[0] for e in expected]  # same digits
    assert len(lines) == len(messages) + 3  # and the three guesses of the strokes
