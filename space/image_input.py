"""The API's image input: an image file, or a Sketchpad value {"composite": file, ...}, never a path in JSON.

Clients of the app's first page sent drawings as Gradio Sketchpad values, or as
plain files (`gradio_client.handle_file`); `/predict` keeps taking both. The
input is a Gradio file input (it renders as a hidden gr.Image), so every file
arrives through Gradio's upload and its checks, and the function gets local
paths in the upload folder only. Every payload that is not such a file or
Sketchpad value gets a gr.Error that says what was wrong with it, and a file
reference that was never uploaded, in any event's payload, gets one from the
app's Blocks (`UploadedFilesOnly`).

Gradio writes an image_input.pyi type stub beside this file when the class is
defined (as for any Component subclass); it is git-ignored.
"""

from __future__ import annotations

import copy
import functools
from typing import Annotated, Any, Union

import gradio as gr
from gradio.data_classes import FileData, GradioModel, GradioRootModel
from gradio.exceptions import InvalidPathError
from pydantic import ConfigDict, Field, ValidationError

from space.plain_error import plain_error

SKETCHPAD_KEYS = ("background", "layers", "composite")
NO_IMAGE = ('No image was sent: send an image file (handle_file("digit.png")) '
            'or a Sketchpad value {"composite": handle_file("digit.png")}.')
NEVER_UPLOADED = ("The request names a file that was never uploaded to this server: send files with gradio_client's "
                  'handle_file("digit.png") (or upload them first and send what the upload returns).')
NOT_UPLOADED = ("{where} is not an uploaded file: send files with gradio_client's handle_file(\"digit.png\") "
                "(or upload them first and send what the upload returns).")


class SketchpadValue(GradioModel):
    """What Gradio's Sketchpad sent: a composite image, stroke layers and a background, each optional."""

    # Unknown keys are refused, but not advertised as `additionalProperties: false`: gradio_client 2.7
    # cannot turn a boolean there into a Python type, and its view of the API would fail.
    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: schema.pop("additionalProperties"))

    background: FileData | None = None
    layers: list[FileData | None] = []
    composite: FileData | None = None
    id: str | None = None


class ImageOrSketchpad(GradioRootModel):
    """The /predict payload: a file (FileData) or a SketchpadValue."""

    root: Annotated[Union[FileData, SketchpadValue], Field(union_mode="left_to_right")]

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> ImageOrSketchpad:
        # Gradio validates a payload with this before `preprocess`; any exception but gr.Error reaches
        # the client as an error without a message, so every way a payload can be wrong is said here.
        if isinstance(obj, (FileData, SketchpadValue)):
            return cls(root=obj)
        if not isinstance(obj, dict):
            raise plain_error(f"Expected an image file or a Sketchpad value, got {type(obj).__name__} "
                              f"{str(obj)[:40]!r}.")
        if "path" in obj or "meta" in obj:
            return cls(root=_validate(FileData, obj, "The file", kwargs))
        if not obj or not set(obj) & set(SKETCHPAD_KEYS):
            raise plain_error(NO_IMAGE if not obj else
                              f"Expected an image file or a Sketchpad value {{{', '.join(SKETCHPAD_KEYS)}}}; "
                              f"got a dict with keys {sorted(obj)}.")
        return cls(root=_validate(SketchpadValue, obj, "The Sketchpad value", kwargs))


def _validate(model: type[GradioModel], obj: dict, what: str, kwargs: dict) -> Any:
    """`model.model_validate(obj)`, its first problem turned into a gr.Error naming the field."""
    try:
        return model.model_validate(obj, **kwargs)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"] if part not in ("FileData", "function-after"))
        where = f"{what}'s {where!r}" if where else what
        if "meta" in problem["msg"]:  # a file reference made by hand, not by the client's upload
            raise plain_error(NOT_UPLOADED.format(where=where)) from None
        raise plain_error(f"{where}: {problem['msg']} (got {str(problem.get('input'))[:40]!r}). "
                          'Files must be sent as handle_file("digit.png").') from None


class ImageInput(gr.Image):
    """An input for API clients (create it with visible=False): gives the function an image file's local
    path, or a dict of the Sketchpad value's paths."""

    is_template = True  # rendered by gr.Image's frontend
    data_model = ImageOrSketchpad

    def preprocess(self, payload: ImageOrSketchpad | None) -> str | dict[str, Any]:
        """A file's local path, or {"composite", "layers", "background"} with local paths (or None)."""
        if payload is None:
            raise plain_error(NO_IMAGE)
        value = payload.root
        if isinstance(value, FileData):
            return value.path
        return {"composite": value.composite.path if value.composite else None,
                "layers": [layer.path for layer in value.layers if layer is not None],
                "background": value.background.path if value.background else None}

    def api_info(self) -> dict[str, Any]:
        return copy.deepcopy(payload_schema())  # a copy for each caller: Gradio keeps one in each session's config


@functools.cache
def payload_schema() -> dict[str, Any]:
    """ImageOrSketchpad's JSON schema, generated once. Gradio builds every new session's config with it
    (three times: the API info, as input and as output), and pydantic took 1.1 ms each time, half the
    CPU of a session's creation, which each REST API call (/gradio_api/call/...) pays."""
    return ImageOrSketchpad.model_json_schema()


class UploadedFilesOnly(gr.Blocks):
    """gr.Blocks whose events answer a file reference that was never uploaded with a message, not a blank error.

    Before any component sees an event's payload, Gradio checks every file reference in it ({"path": ...,
    "meta": {"_type": "gradio.FileData"}}, anywhere in any input) and refuses one outside its upload
    folder with InvalidPathError, which its queue sends as {"error": null}. This overrides
    `Blocks.preprocess_data`, where gradio 6.31 does that check; tests/test_abuse.py fails if it moves.
    """

    async def preprocess_data(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().preprocess_data(*args, **kwargs)
        except InvalidPathError as exc:
            raise plain_error(NEVER_UPLOADED) from exc
