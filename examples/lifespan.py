"""Uses the ASGI lifespan protocol and its ``state`` to share data with requests.

At startup the app puts a counter dict into ``scope["state"]``; the server hands a shallow copy
of that state to every request, so all requests see the same dict. Each request bumps the count
and reports it. Run it from the repository root::

    uvicorn examples.lifespan:app

then ``curl 127.0.0.1:8000`` a few times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state = scope.get("state")
            if state is None:
                await send(
                    {
                        "type": "lifespan.startup.failed",
                        "message": "this server does not support lifespan state",
                    }
                )
                return
            state["counter"] = {"requests": 0}
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    counter: dict[str, int] = scope["state"]["counter"]
    counter["requests"] += 1
    body = f"Request number {counter['requests']} since startup".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)
