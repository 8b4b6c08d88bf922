"""What the Space's HTTP server refuses before Gradio sees a request: bodies too large, and deep links.

- **Bodies.** Gradio parses a request's JSON, walks it and keeps each
  session's raw input (up to SESSIONS_KEPT sessions), even when the app then
  refuses it; a client that sent 5 MB bodies from new sessions pinned ~125 MB
  of memory each, and 20 MB cost seconds of CPU. Every request but a file
  upload may now send MAX_BODY_BYTES at most: the bytes are counted as they
  arrive (a chunked body has no length header to trust), the body is held
  here until it is whole, and one over the limit is answered 413 without the
  app ever seeing it, so no session state is kept. Uploads
  (`/gradio_api/upload`) keep Gradio's own `max_file_size`, checked as its
  multipart parser streams them to disk.
- **Deep links.** Gradio 6.31 serves `/gradio_api/deep_link?session_hash=...`,
  which saves a session's component values to disk and returns an id, and
  `/?deep_link=<id>` then renders those values into the page of whoever opens
  it: a value a script sent became script in another visitor's browser, and
  each link was a file on the Space's disk. Gradio has no option to turn them
  off (a Blocks app's `DeepLinkButton` only adds a button that calls them), so
  this guard answers the route 404 and serves a page asked for with
  `deep_link=` as the plain page. tests/test_abuse.py fails if Gradio moves or
  renames either.
- **Forwarded addresses.** Gradio starts uvicorn, which takes a client's
  address from X-Forwarded-For when the connection comes from
  FORWARDED_ALLOW_IPS (by default loopback: any local client could name any
  address). `trust_no_proxy_by_default` makes the default "no proxy";
  FeedbackStore reads the Space's proxy's header itself
  (`space.feedback.forwarded_client`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.middleware import Middleware

from space.image_input import UploadedFilesOnly
from space.plain_error import plain_error

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The largest valid pad value (64 strokes, 10,000 points in all, each coordinate written with full float
# precision) is about 400 KB of JSON, a drawn number about 10 KB; room for the queue's envelope around it.
MAX_BODY_BYTES = 512 * 1024
# A body over the limit is still read to its end (and thrown away) up to this many bytes, so that the client,
# which sends its whole body before it reads an answer, gets the 413 instead of a reset connection; a longer
# one is cut off there.
DRAIN_BYTES = 64 * 1024 * 1024
UPLOAD_ROUTE = "/gradio_api/upload"  # file uploads: limited by max_file_size instead
DEEP_LINK_ROUTE = "/gradio_api/deep_link"
DEEP_LINK_PARAMETER = "deep_link"
TOO_LARGE = (f"The request's body is over {MAX_BODY_BYTES // 1024} KB, more than any drawing needs: it was not "
             "read. Send files through the upload (gradio_client's handle_file).")
NO_DEEP_LINKS = "This app does not make deep links."
BROWSER_ONLY = "This event runs in the browser only: the server does not run it."
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _answer(send: Send, status: int, sentence: str) -> None:
    """A JSON answer {"detail": sentence}, closing the connection (the body may not have been read)."""
    body = json.dumps({"detail": sentence}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware in front of Gradio's app: bodies over `max_body` bytes refused with 413 before the app
    sees them (uploads excepted), deep links not served."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES, drain: int = DRAIN_BYTES):
        self.app, self.max_body, self.drain = app, max_body, drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.rstrip("/").endswith(DEEP_LINK_ROUTE):
            return await _answer(send, 404, NO_DEEP_LINKS)
        query = scope.get("query_string", b"")
        if DEEP_LINK_PARAMETER.encode() in query:
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            scope = {**scope, "query_string": urlencode([(k, v) for k, v in pairs if k != DEEP_LINK_PARAMETER])
                     .encode("latin-1")}
        if scope["method"] in BODILESS or path.rstrip("/").endswith(UPLOAD_ROUTE):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body:
            await self._discard(receive, 0)
            return await _answer(send, 413, TOO_LARGE)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk, more = message.get("body", b""), message.get("more_body", False)
            size += len(chunk)
            if size > self.max_body:
                if more:
                    await self._discard(receive, size)
                return await _answer(send, 413, TOO_LARGE)
            chunks.append(chunk)
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _discard(self, receive: Receive, size: int) -> None:
        """Read the rest of a refused body, up to `self.drain` bytes in all, throwing it away."""
        while size <= self.drain:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            size += len(message.get("body", b""))


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the whole `body` first, then the connection's own messages (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def trust_no_proxy_by_default(environ: MutableMapping[str, str] = os.environ) -> None:
    """Make uvicorn trust no proxy's X-Forwarded-For unless FORWARDED_ALLOW_IPS says which to trust.

    Gradio's `launch` builds its `uvicorn.Config` without `forwarded_allow_ips`, and uvicorn then reads
    FORWARDED_ALLOW_IPS, by default "127.0.0.1,::1"; an empty value trusts no address.
    """
    environ.setdefault("FORWARDED_ALLOW_IPS", "")


class GuardedBlocks(UploadedFilesOnly):
    """The Space's gr.Blocks: served behind a RequestGuard, trusting no proxy unless configured to
    (`trust_no_proxy_by_default`), its browser-only events never run for a client that calls them, and a
    file reference never uploaded answered with a message (UploadedFilesOnly)."""

    def launch(self, *args: Any, app_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        # FastAPI's `middleware` argument, through launch's documented `app_kwargs`: Gradio adds its own
        # middleware (CORS, compression) outside it. A fresh dict: Gradio writes into the one it gets.
        app_kwargs = dict(app_kwargs or {})
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), Middleware(RequestGuard)]
        trust_no_proxy_by_default()
        return super().launch(*args, app_kwargs=app_kwargs, **kwargs)

    async def preprocess_data(self, block_fn: Any, *args: Any, **kwargs: Any) -> Any:
        # An event without a server function (`fn=None`, its `js` runs in the browser) is never sent to the
        # server by the page; Gradio still runs one that a script sends through its queue, and keeps the
        # inputs sent in the session. Refused here, before Gradio stores them (Blocks.preprocess_data,
        # gradio 6.31; tests/test_abuse.py fails if that changes).
        if block_fn.fn is None:
            raise plain_error(BROWSER_ONLY)
        return await super().preprocess_data(block_fn, *args, **kwargs)
