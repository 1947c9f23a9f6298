"""Reads the whole request body and sends it straight back, with its length.

The response keeps the request's ``Content-Type`` (``application/octet-stream`` if none was
given). Run it from the repository root::

    uvicorn examples.body:app

then ``curl --data 'some bytes' 127.0.0.1:8000``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def read_body(receive: Receive) -> bytes | None:
    """Collect every ``http.request`` chunk; ``None`` if the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    if body is None:
        return
    content_type = b"application/octet-stream"
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
            break
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
