"""Error messages that the page shows as the text they are."""

from __future__ import annotations

import html

import gradio as gr


def plain_error(message: str) -> gr.Error:
    """A gr.Error for `message`, which may quote what a client sent.

    Gradio's toasts render an error's message as (sanitised) HTML, so a message quoting a client's
    `<img ...>` would show an image, or a link; here <, > and & are escaped, and the toast shows the text
    itself. API clients get the same text, with those three characters escaped.
    """
    return gr.Error(html.escape(message, quote=False), print_exception=False)
