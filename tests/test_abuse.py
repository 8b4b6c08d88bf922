"""The app under hostile or careless clients: every payload answered clearly, nothing read that was not
uploaded, nothing mixed up between clients, bounded disk, previews never cut short.

Payloads that gradio_client cannot send (it uploads files itself) go through Gradio's queue over raw
HTTP: POST /gradio_api/queue/join, then the event's result from /gradio_api/queue/data.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from drawing import draw_digit
from PIL import Image
from test_app import plain_file, predict, predict_strokes, serve_app, sketch_value, top_digit

from mnist_sketch.example_digits import pad_value

pytestmark = [
    pytest.mark.app,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def app_url():
    with serve_app(delete_cache=(1, 2)) as url:  # the cache swept every second, of files over 2 s old
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False, download_files=False)


def raw_call(app_url: str, api_name: str, data: list) -> dict:
    """One event through Gradio's queue over plain HTTP: the `output` of its process_completed message."""
    config = httpx.get(app_url + "config").json()
    fn_index = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == api_name)
    session = uuid.uuid4().hex[:12]
    joined = httpx.post(app_url + "gradio_api/queue/join",
                        content=json.dumps({"data": data, "fn_index": fn_index, "session_hash": session,
                                            "event_data": None, "trigger_id": None}),
                        headers={"Content-Type": "application/json"})
    assert joined.status_code == 200, joined.text
    with httpx.stream("GET", app_url + "gradio_api/queue/data", params={"session_hash": session},
                      timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:") and (message := json.loads(line[5:])).get("msg") == "process_completed":
                return message["output"]
    raise AssertionError("the event never completed")


def png(array: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **save)
    return buffer.getvalue()


BAD_PAYLOADS = {
    "composite a string": ({"composite": "hello"}, "not an uploaded file"),
    "composite a number": ({"composite": 5}, "not an uploaded file"),
    "composite an empty dict": ({"composite": {}}, "not an uploaded file"),
    "layers a string": ({"layers": "x"}, "'layers': Input should be a valid list"),
    "a file dict without meta": ({"path": "/etc/passwd"}, "The file is not an uploaded file"),
    "an unknown key": ({"image": "x.png"}, "got a dict with keys \\['image'\\]"),
    "a list": (["a", "b"], "got list"),
}


@pytest.mark.parametrize("name", BAD_PAYLOADS)
def test_a_bad_image_payload_gets_a_message_not_a_null_error(app_url, name):
    payload, message = BAD_PAYLOADS[name]
    output = raw_call(app_url, "predict", [payload])
    assert output.get("error"), output
    assert __import__("re").search(message, output["error"]), output["error"]


@pytest.mark.parametrize("payload", [
    {"width": 900, "height": 600, "strokes": [[[1, float("nan")]]]},
    {"width": float("inf"), "height": 600, "strokes": []},
    {"width": 900, "height": 600, "strokes": [[[1, 2]]] * 10_000},
    {"width": 900, "height": 600, "strokes": {"0": [[1, 2]]}},
], ids=["NaN", "infinite width", "10,000 strokes", "strokes a dict"])
def test_a_bad_stroke_payload_gets_a_message(app_url, payload):
    output = raw_call(app_url, "predict_strokes", [payload])
    assert output.get("error"), output


def test_a_sketchpad_value_with_empty_layers_asks_for_a_drawing(app_url):
    output = raw_call(app_url, "predict", [{"layers": [None]}])
    assert output["data"][2].startswith("Draw a digit")


def test_no_file_outside_the_uploads_can_be_read(app_url, client, tmp_path):
    secret = tmp_path / "secret.png"
    Image.fromarray(draw_digit(7)).save(secret)  # an image the server can read, never uploaded
    for payload in ({"path": str(secret), "meta": {"_type": "gradio.FileData"}},
                    {"composite": {"path": str(secret), "meta": {"_type": "gradio.FileData"}}},
                    {"composite": {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}}):
        output = raw_call(app_url, "predict", [payload])
        assert "data" not in output and "error" in output  # refused by Gradio before any code of ours
    for path in (str(secret), "/etc/passwd"):
        assert httpx.get(app_url + f"gradio_api/file={path}").status_code in (403, 404)


def test_a_truncated_png_is_an_error_that_says_so(client, tmp_path):
    from gradio_client.exceptions import AppError

    whole = png(draw_digit(7))
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AppError, match="not an image PIL can read"):
        predict(client, plain_file(tmp_path / "cut.png"))


IMAGE_KINDS = {
    "16-bit greyscale PNG": lambda: Image.fromarray(
        (draw_digit(4).mean(axis=2) * 257).astype(np.uint16)),
    "CMYK JPEG": lambda: Image.fromarray(draw_digit(4)).convert("CMYK"),
    "GIF": lambda: Image.fromarray(draw_digit(4)).convert("P"),
}


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_unusual_image_formats_are_read(client, tmp_path, kind):
    path = tmp_path / ("digit.jpg" if "JPEG" in kind else "digit.gif" if "GIF" in kind else "digit.png")
    IMAGE_KINDS[kind]().save(path)
    assert top_digit(predict(client, plain_file(path))[0]) == "4"


def test_bombs_svgs_and_oversized_uploads_are_answered(client, tmp_path):
    from gradio_client.exceptions import AppError

    bomb = tmp_path / "bomb.png"
    Image.new("1", (30_000, 30_000), 1).save(bomb)  # a few kB that would decode to 900 megapixels
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(AppError, match="too large"):
        predict(client, plain_file(bomb))
    svg = tmp_path / "digit.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><text y="20">7</text></svg>')
    with pytest.raises(AppError, match="not an image"):
        predict(client, plain_file(svg))
    big = tmp_path / "big.png"
    big.write_bytes(png(np.random.default_rng(0).integers(0, 256, (2200, 2200, 3), dtype=np.uint8)))
    assert big.stat().st_size > 10_000_000
    with pytest.raises(Exception, match="(?i)size|large"):
        predict(client, plain_file(big))
    seven = tmp_path / "seven.png"
    Image.fromarray(draw_digit(7, canvas=(800, 800), brush=36)).save(seven)
    assert top_digit(predict(client, sketch_value(seven))[0]) == "7"  # and the server still serves


def test_a_faint_drawing_is_said_to_be_too_faint(client, tmp_path):
    path = tmp_path / "faint.png"
    Image.fromarray(draw_digit(7, ink=(205, 205, 205), background=(230, 230, 230))).save(path)  # 25/255 contrast
    label, preview, message = predict(client, plain_file(path))
    assert not top_digit(label) and preview is None and message.startswith("The drawing is too faint")


def test_a_noise_photo_is_not_a_drawing(client, tmp_path):
    path = tmp_path / "noise.jpg"
    noise = np.random.default_rng(1).integers(0, 256, (4000, 4000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=30)
    assert path.stat().st_size < 10_000_000
    label, preview, message = predict(client, plain_file(path))
    assert not top_digit(label) and "does not look like a drawing" in message


def test_concurrent_clients_never_get_each_others_answers(app_url):
    from gradio_client import Client

    def one_client(digit: str) -> list[str]:
        c = Client(app_url, verbose=False, download_files=False)
        return [top_digit(predict_strokes(c, pad_value(digit))[0]) for _ in range(4)]

    digits = [str(d) for d in range(10)] * 2
    with ThreadPoolExecutor(len(digits)) as pool:
        results = list(pool.map(one_client, digits))
    assert results == [[d] * 4 for d in digits]


def test_the_same_preview_downloaded_by_many_clients_at_once_is_never_cut_short(app_url):
    """Gradio writes a returned image in place under its content hash; clients that get the same preview
    at once would read it while it is rewritten. The app writes each preview once, atomically."""
    from gradio_client import Client

    value = pad_value("5")

    def one_client(_: int) -> list[bytes]:
        c = Client(app_url, verbose=False, download_files=False)
        out = []
        for _ in range(6):
            preview = predict_strokes(c, value)[1]
            url = preview["url"] if isinstance(preview, dict) else preview
            response = httpx.get(url if url.startswith("http") else app_url + f"gradio_api/file={url}")
            response.raise_for_status()
            out.append(response.content)
        return out

    with ThreadPoolExecutor(8) as pool:
        downloads = [d for client_downloads in pool.map(one_client, range(8)) for d in client_downloads]
    assert len(set(downloads)) == 1  # every download whole, and the same
    with Image.open(io.BytesIO(downloads[0])) as img:
        assert img.size == (224, 224)


def test_the_cache_is_swept_of_old_uploads_and_previews(app_url, client, tmp_path):
    from gradio.utils import get_upload_folder

    cache = Path(get_upload_folder())
    before = set(cache.rglob("*"))  # the cache is shared: other runs' files are not this app's
    for k in range(5):  # distinct drawings: new uploads and new previews
        path = tmp_path / f"digit{k}.png"
        Image.fromarray(draw_digit(k % 3 + 1, center=(0.3 + 0.1 * k, 0.5))).save(path)
        predict(client, plain_file(path))
    made = {p for p in cache.rglob("*") if p.is_file() and p not in before}
    folders = {p.parent for p in made if p.parent != cache / "previews"}  # one per distinct upload
    assert made and folders
    time.sleep(4)  # two sweeps later
    assert not {p for p in made if p.exists()}
    assert not {p for p in folders if p.exists()}  # Gradio alone keeps them (gradio-app/gradio#9334)


def test_the_cache_sweep_survives_concurrent_uploads(app_url, tmp_path):
    # Gradio's sweep iterates the app's sets of cached files while requests add to them; without
    # mnist_sketch.gradio_cache.sweep_safely it dies on the first clash, and nothing is deleted again.
    from gradio_client import Client
    from gradio.utils import get_upload_folder

    stop = time.time() + 15

    def upload_until_stop(k: int) -> list[str]:
        client, rng, names = Client(app_url, verbose=False, download_files=False), np.random.default_rng(k), []
        while time.time() < stop:
            path = tmp_path / f"up-{k}-{len(names)}.png"  # a new drawing each time: a new file in the cache
            Image.fromarray(draw_digit(7, center=tuple(rng.uniform(0.35, 0.65, 2)))).save(path)
            assert top_digit(predict(client, sketch_value(path))[0]) == "7"
            names.append(path.name)
        return names

    with ThreadPoolExecutor(8) as pool:
        sent = {name for names in pool.map(upload_until_stop, range(8)) for name in names}
    time.sleep(5)  # every upload is over 2 s old, and the sweep has run since
    cache = Path(get_upload_folder())
    assert len(sent) > 50 and not {p for p in cache.rglob("up-*.png") if p.name in sent}


def test_the_sets_gradio_sweeps_are_the_ones_its_requests_fill(reader, tmp_path):
    # What sweep_safely relies on in Gradio's internals: if this fails, Gradio has changed under it.
    import app
    import gradio as gr

    from mnist_sketch.feedback import FeedbackStore
    from mnist_sketch.gradio_cache import SweptFileSet
    from mnist_sketch.model_source import bundled_source

    demo = app.build_demo(reader, bundled_source(), FeedbackStore(tmp_path / "feedback"))
    swept = demo.temp_file_sets
    assert swept and all(isinstance(files, SweptFileSet) for files in swept)
    assert any(files is demo.upload_file_set for files in swept)
    components = [block for block in demo.blocks.values() if isinstance(block, gr.components.Component)]
    assert all(any(block.temp_files is files for files in swept) for block in components)


def test_a_model_file_with_a_lambda_layer_never_runs_its_code(tmp_path):
    """A downloaded mnist.h5 is someone else's file: only weights are read from it, never code."""
    import keras

    from mnist_sketch.model import ModelFileError, load_model_file

    marker = tmp_path / "ran"
    target = str(marker)
    evil = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Lambda(lambda x: x + 0 * len(open(target, "w").name)),
                             keras.layers.Dense(10, activation="softmax")])
    marker.unlink(missing_ok=True)  # building the model ran the lambda once; loading must not
    evil.save(tmp_path / "mnist.h5")
    marker.unlink(missing_ok=True)
    with pytest.raises(ModelFileError, match="Cannot load model weights"):
        load_model_file(tmp_path / "mnist.h5")
    assert not marker.exists()


def test_the_footer_never_shows_a_server_path():
    import app

    from mnist_sketch.model_source import ModelSource

    footer = app.footer_text(ModelSource(Path("/srv/secret/models/mnist.h5").resolve(), "local"))
    assert footer == "The model: the file mnist.h5 on this server" and "/srv" not in footer
