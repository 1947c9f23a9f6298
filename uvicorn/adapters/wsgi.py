"""WSGI apps on a thread pool owned by the adapter, with a2wsgi's environ and input.

a2wsgi builds the WSGI environ (``build_environ``) and the blocking ``wsgi.input``
(``Body``) from the ASGI scope and ``receive``. The response side is ours: a2wsgi
hands every message (start, each chunk, the end) from the worker thread to the
event loop and blocks the thread until the loop has taken it, three round trips
for the smallest response.

Here an app that returns a list or tuple (the whole body, already produced) costs
one hand-off: the thread returns and the loop sends the response. A body produced
by an iterator is streamed as PEP 3333 requires ("must not delay the transmission
of any block"): each block is posted to the loop at once, without the thread
waiting for it to be written, while at most :data:`MAX_PENDING` blocks may be in
flight, so a slow client slows the app down instead of filling memory.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from a2wsgi.wsgi import Body, build_environ

if TYPE_CHECKING:
    from collections.abc import Iterable

    from uvicorn._types import ASGI3Application, Message, Receive, Scope, Send, WSGIApp

__all__ = ["MAX_PENDING", "WSGI_THREADS", "WSGIAdapter", "wsgi_adapter"]

WSGI_THREADS = 10  # concurrent WSGI requests per process
MAX_PENDING = 16  # streamed blocks posted to the loop and not yet written


class _Response:
    """One WSGI call: collected in the app's thread, streamed by the loop when it must be."""

    __slots__ = (
        "body",
        "failed",
        "headers",
        "loop",
        "queue",
        "send",
        "sender",
        "slots",
        "started",
        "status",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, send: Send) -> None:
        self.loop = loop
        self.send = send
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.body: list[bytes] = []  # the whole body, when the app returned a sequence
        self.started = False  # set in the app's thread once streaming began
        self.queue: asyncio.Queue[bytes | None] | None = None
        self.sender: asyncio.Task[None] | None = None
        self.slots = threading.Semaphore(MAX_PENDING)
        self.failed: BaseException | None = None

    # in the app's thread ------------------------------------------------------------

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        if exc_info is not None:
            try:
                if self.started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None  # PEP 3333: avoid a reference cycle
        elif self.headers is not None:
            raise RuntimeError("start_response() called twice without exc_info.")
        code, _, _ = status.partition(" ")
        self.status = int(code)
        self.headers = [
            (name.strip().lower().encode("latin-1"), value.strip().encode("latin-1"))
            for name, value in headers
        ]
        return self.post

    def post(self, data: bytes) -> None:
        """Stream one block (the body iterator's, or the legacy ``write()`` callable's)."""
        if self.headers is None:
            raise RuntimeError("WSGI app wrote body data before calling start_response().")
        if not data:
            return
        while not self.slots.acquire(timeout=0.5):
            if self.failed is not None:
                raise self.failed
        self.started = True
        self.loop.call_soon_threadsafe(self._enqueue, data)

    def run(self, app: WSGIApp, environ: dict[str, Any]) -> None:
        result: Iterable[bytes] = app(environ, self.start_response)
        try:
            if type(result) in (list, tuple) and not self.started:
                self.body = list(result)
            else:
                for chunk in result:
                    self.post(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if self.headers is None:
            raise RuntimeError("WSGI app returned without calling start_response().")

    # in the loop ------------------------------------------------------------------------

    def _enqueue(self, data: bytes) -> None:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.sender = self.loop.create_task(self._stream())
        self.queue.put_nowait(data)

    async def _stream(self) -> None:
        assert self.queue is not None and self.headers is not None
        try:
            await self.send(
                {"type": "http.response.start", "status": self.status, "headers": self.headers}
            )
            while (data := await self.queue.get()) is not None:
                await self.send({"type": "http.response.body", "body": data, "more_body": True})
                self.slots.release()
        except BaseException as exc:
            self.failed = exc
            raise

    async def finish(self) -> None:
        """After the app returned: end the stream, or send the whole response at once."""
        if self.sender is not None:
            assert self.queue is not None
            self.queue.put_nowait(None)
            await self.sender
            await self.send({"type": "http.response.body", "body": b""})
            return
        assert self.headers is not None
        await self.send(
            {"type": "http.response.start", "status": self.status, "headers": self.headers}
        )
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        await self.send({"type": "http.response.body", "body": body})

    async def abandon(self) -> None:
        """The app raised: stop the stream (if any) so the error reaches the server."""
        if self.sender is not None and self.queue is not None:
            self.queue.put_nowait(None)
            try:
                await self.sender
            except BaseException:  # the app's own exception is the one to report
                pass


class WSGIAdapter:
    def __init__(self, app: WSGIApp, threads: int = WSGI_THREADS) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        environ = cast("dict[str, Any]", build_environ(scope, Body(loop, receive)))  # type: ignore[arg-type]
        environ["wsgi.errors"] = sys.stderr
        response = _Response(loop, send)
        call = functools.partial(contextvars.copy_context().run, response.run, self.app, environ)
        try:
            await loop.run_in_executor(self.executor, call)
        except BaseException:
            await response.abandon()
            raise
        await response.finish()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message: Message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        if message["type"] == "lifespan.shutdown":
            self.executor.shutdown(wait=False)
            await send({"type": "lifespan.shutdown.complete"})


def wsgi_adapter(app: WSGIApp, threads: int = WSGI_THREADS) -> ASGI3Application:
    return WSGIAdapter(app, threads)
