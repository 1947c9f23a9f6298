"""Streams ``Hello, world!`` in three chunks, pausing between them (chunked encoding).

The pause is ``EXAMPLE_STREAM_DELAY`` seconds (default 1.0), read on every request.
Run it from the repository root::

    uvicorn examples.streaming:app

then ``curl -N 127.0.0.1:8000`` to watch the chunks arrive.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHUNKS = (b"Hello", b", ", b"world!")
DEFAULT_DELAY = 1.0


def stream_delay() -> float:
    """The pause between chunks, from ``EXAMPLE_STREAM_DELAY`` (seconds)."""
    raw = os.environ.get("EXAMPLE_STREAM_DELAY", "")
    try:
        return max(0.0, float(raw)) if raw.strip() else DEFAULT_DELAY
    except ValueError:
        return DEFAULT_DELAY


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    delay = stream_delay()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    for index, chunk in enumerate(CHUNKS):
        if index:
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
