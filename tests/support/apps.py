"""Small ASGI apps and a gate, shared by the protocol tests.

The apps run on the server's event loop (another thread); the test thread sees
what they did through plain lists and ``threading.Event``\\ s.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

__all__ = ["Gate", "Recorder", "read_body", "respond"]


class Gate:
    """Hold an app until the test opens the gate; safe to open from any thread.

    ``entered`` is set once the app is waiting, so a test knows the request
    is in flight before it acts.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._opened = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    async def wait(self, timeout: float = 5.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self.entered.set()
        if self._opened.is_set():
            return
        await asyncio.wait_for(self._event.wait(), timeout)

    def open(self) -> None:
        self._opened.set()
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            loop.call_soon_threadsafe(event.set)


class Recorder:
    """An app that records every scope it is called with and answers 200 ``ok``."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.called = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        self.called.set()
        await read_body(receive)
        await respond(send, b"ok")


async def read_body(receive: Any) -> bytes:
    """Drain the request body; stops early on ``http.disconnect``."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def respond(
    send: Any,
    body: bytes,
    status: int = 200,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A whole response in two messages (the server computes Content-Length)."""
    await send({"type": "http.response.start", "status": status, "headers": headers or []})
    await send({"type": "http.response.body", "body": body})


def with_task_factory(factory: Any, app: Any) -> Any:
    """``app`` behind a lifespan that installs ``factory`` as the loop's task factory
    at startup, as an app may (``asyncio.eager_task_factory``, or its own)."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        await receive()
        asyncio.get_running_loop().set_task_factory(factory)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    return wrapped
