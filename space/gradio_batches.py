"""Gradio's batched events (`batch=True`), each item kept to its own session and its own error.

Gradio 6.31 runs up to `max_batch_size` queued requests for a batched function
in one call, but treats the batch as one request of the first one's session:

- every item's gr.State is read from, and written to, the first request's
  session (`route_utils.call_process_api` restores that session alone), and a
  gr.Request parameter is the first request's (`Blocks.call_function`);
- any exception, in one item's preprocessing (a payload a component refuses)
  or in the function, fails every request of the batch with that error
  (`Queue.process_events`).

`PerItemBatches` (a gr.Blocks) gives each item of a batched event its own
session's state, in preprocessing and postprocessing, and turns an item's
exception, raised by a component or returned by the function as an
`ItemError`, into that item's own error message, as Gradio sends it for a
request alone; the other items get their results. It relies on internals of
gradio 6.31 (the batched path of `Blocks.process_api`: per-item
`preprocess_data` / `postprocess_data` calls in order, and a list of per-request
`gr.Request`s; `Queue.send_message`); tests/test_batching.py's concurrent clients fail
if they change.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr
from gradio.exceptions import Error
from gradio.server_messages import ProcessCompletedMessage
from gradio.state_holder import SessionState
from gradio.utils import error_payload

log = logging.getLogger(__name__)


class ItemError:
    """One item of a batch that failed: `error` is what it would have raised alone. A batched function
    returns it in every output of a failed item."""

    def __init__(self, error: BaseException):
        self.error = error


# The sessions' states of the batch being processed, for its items in order: one iterator for
# preprocessing, one for postprocessing (Gradio calls both once per item, in order).
_item_states: contextvars.ContextVar[tuple[Iterator[SessionState], Iterator[SessionState]] | None] = (
    contextvars.ContextVar("item_states", default=None))


class PerItemBatches(gr.Blocks):
    """gr.Blocks whose batched events treat each request as its own: its session's state, its own error."""

    def queue(self, *args: Any, **kwargs: Any) -> PerItemBatches:
        """Gradio's queue (Blocks makes one at once, and anew at each call), its messages sent per item."""
        super().queue(*args, **kwargs)
        send = self._queue.send_message

        def send_message(event: Any, message: Any) -> None:
            """Gradio's send_message; an item's ItemError is sent as its error, as process_events sends one."""
            data = (message.output.get("data") or ()) if isinstance(message, ProcessCompletedMessage) else ()
            failed = next((value for value in data if isinstance(value, ItemError)), None)
            if failed is not None:
                if not isinstance(failed.error, Error) or failed.error.print_exception:
                    log.error("an item of a batch failed", exc_info=failed.error)
                content = error_payload(failed.error, self.show_error)
                message = ProcessCompletedMessage(output=content, title=content.get("title", "Error"), success=False)
            send(event, message)

        self._queue.send_message = send_message
        return self

    async def process_api(self, block_fn: Any, inputs: list[Any], state: SessionState | None = None,
                          request: Any = None, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if not getattr(block_fn, "batch", False) or not isinstance(request, list) or state is None:
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        # One gr.Request per queued request, in the batch's order, each naming its session.
        states = [self.state_holder[r.session_hash] if r.session_hash else state for r in request]
        token = _item_states.set((iter(states), iter(states)))
        try:
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        finally:
            _item_states.reset(token)

    async def preprocess_data(self, block_fn: Any, inputs: list[Any], state: SessionState | None,
                              explicit_call: bool = False) -> list[Any]:
        item_states = _item_states.get()
        if item_states is None:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        state = next(item_states[0], state)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except Exception as exc:  # this item's payload alone is refused; the function sees why
            return [ItemError(exc)] * len(block_fn.inputs)

    async def postprocess_data(self, block_fn: Any, predictions: list | dict, state: SessionState | None) -> list[Any]:
        item_states = _item_states.get()
        if item_states is None:
            return await super().postprocess_data(block_fn, predictions, state)
        state = next(item_states[1], state)
        if isinstance(predictions, (list, tuple)) and any(isinstance(p, ItemError) for p in predictions):
            return list(predictions)  # sent as the item's error by send_message; its state is left as it was
        return await super().postprocess_data(block_fn, predictions, state)


def columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """A batched function's return, one list per output, from its items' outputs, one tuple per item."""
    return [list(column) for column in zip(*rows)]
