"""The smallest useful ASGI application: answers every HTTP request with ``Hello, world!``.

Run it from the repository root::

    uvicorn examples.hello:app

then ``curl 127.0.0.1:8000``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b"Hello, world!"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        # Lifespan and anything else: nothing to set up, so decline politely.
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(BODY)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})
