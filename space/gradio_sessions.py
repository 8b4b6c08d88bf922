"""Gradio's queue under many sessions: every page load, and every session hash a script makes up, is a new one.

The queue keeps each session's pending messages (its events' results, on their
way to its stream) in an LRU cache of 2,000 sessions (gradio 6.31,
`Queue.pending_messages_per_session`), but only a session's first event counts
as use: 2,000 new sessions later its messages are dropped even while it is
busy, and an event then in flight never reaches its client ("session not
found"; the soak saw it at about 2,000 new sessions). `keep_active_sessions`
makes each message sent or read count as use, so the sessions dropped are the
idle ones.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.utils import LRUCache


class ActiveSessionsLRU(LRUCache):
    """Gradio's LRUCache, where reading a session's entry (each message sent to it or read by its stream, at
    least every 10 s while its stream is open) also counts as use."""

    def __getitem__(self, key: Any) -> Any:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value


def keep_active_sessions(demo: gr.Blocks) -> None:
    """Replace `demo`'s cache of per-session message queues by an ActiveSessionsLRU of the same size.

    This reaches into Gradio's internals (`Blocks._queue.pending_messages_per_session`, an
    OrderedDict subclass with `max_size`, read with `[]` by `Queue.send_message` and the
    /queue/data stream); tests/test_abuse.py fails if they change.
    """
    pending = demo._queue.pending_messages_per_session
    active = ActiveSessionsLRU(pending.max_size)
    active.update(pending)
    demo._queue.pending_messages_per_session = active
