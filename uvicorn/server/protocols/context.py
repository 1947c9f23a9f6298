"""What the protocol cores receive from the server: frozen context and live state.

:class:`ServerContext` is composed once by ``Config.load()`` and never changes
while serving, so the cores read plain attributes instead of asking
"is this on?" per request. :class:`ServerState` is the small mutable part the
server and its connections share.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from uvicorn._types import RequestRecord

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application, Observer, ScopeLayer
    from uvicorn.server.protocols.http.backends.base import BackendFactory
    from uvicorn.server.protocols.http.limits import Limits

__all__ = [
    "HTTP_TASK_NAME",
    "ServerContext",
    "ServerState",
    "TaskMaker",
    "WebSocketFactory",
    "WebSocketSettings",
]

# Every request task is named: without a name, Python 3.11's Task formats "Task-<n>"
# for each one.
HTTP_TASK_NAME = "uvicorn-http-request"
TaskMaker = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]

logger = logging.getLogger("uvicorn.error")


class WebSocketSettings:
    """The ``--ws-*`` options, as the WebSocket core reads them."""

    __slots__ = ("max_queue", "max_size", "per_message_deflate", "ping_interval", "ping_timeout")

    def __init__(
        self,
        max_size: int = 16 * 1024 * 1024,
        max_queue: int = 32,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        per_message_deflate: bool = True,
    ) -> None:
        self.max_size = max_size
        self.max_queue = max_queue
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.per_message_deflate = per_message_deflate


WebSocketFactory = Callable[..., asyncio.Protocol]
"""``factory(ctx, state, app_state, head, client, server, scheme, tls_extension)``: the
protocol that takes the socket over after a WebSocket upgrade request head."""


class ServerContext:
    """Everything a connection needs, decided at start-up."""

    __slots__ = (
        "admission",
        "app",
        "asgi_info",
        "backend_factory",
        "finished",
        "limits",
        "log_trace",
        "observers",
        "on_rejected",
        "prepare_forwarded",
        "prepare_scope",
        "reset_contextvars",
        "timeout_keep_alive",
        "ws",
        "ws_factory",
    )

    def __init__(
        self,
        *,
        app: ASGI3Application,
        asgi_version: str,
        backend_factory: BackendFactory,
        limits: Limits,
        timeout_keep_alive: float,
        prepare_scope: ScopeLayer | None,
        admission: Callable[[ServerState], bool] | None,
        observers: tuple[Observer, ...],
        on_rejected: Callable[[str], None] | None = None,
        reset_contextvars: bool,
        log_trace: bool,
        ws_factory: WebSocketFactory | None = None,
        ws: WebSocketSettings | None = None,
        prepare_forwarded: ScopeLayer | None = None,
    ) -> None:
        self.app = app
        self.asgi_info = {"version": asgi_version, "spec_version": "2.4"}
        self.backend_factory = backend_factory
        self.limits = limits
        self.timeout_keep_alive = timeout_keep_alive
        self.prepare_scope = prepare_scope
        self.prepare_forwarded = prepare_forwarded  # for heads with X-Forwarded-* only
        self.admission = admission
        self.observers = observers
        self.finished: list[RequestRecord] = []  # this loop iteration's, for the observers
        self.on_rejected = on_rejected  # metrics: why a request was refused
        self.reset_contextvars = reset_contextvars
        self.log_trace = log_trace
        self.ws_factory = ws_factory  # None: upgrade requests are plain HTTP (--ws none)
        self.ws = ws

    def report(self, record: RequestRecord) -> None:
        """Queue a finished request (HTTP or WebSocket); the observers get the batch
        at the end of this loop iteration."""
        finished = self.finished
        finished.append(record)
        if len(finished) == 1:
            asyncio.get_running_loop().call_soon(self.notify_observers)

    def notify_observers(self) -> None:
        records = self.finished  # never empty: scheduled by the first report()
        self.finished = []
        for observer in self.observers:
            try:
                observer(records)
            except Exception:  # one broken observer must not silence the others
                logger.exception("Request observer %r failed", observer)


class ServerState:
    """Shared between the server and all its connections (one per process).

    ``default_headers`` keeps uvicorn's shape (a list of byte pairs) for code that
    reads it; the cores use ``encoded_default_headers``, re-rendered when the
    ``date`` changes, once a second, by the server's tick.
    """

    def __init__(
        self,
        server_header: bool = True,
        date_header: bool = True,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.total_requests = 0
        self.total_connections = 0
        self.connections: set[asyncio.Protocol] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        # connections whose whole small responses wait in conn.output for the end of
        # this loop iteration (RequestCycle.send's one-write path, write_outputs)
        self.unflushed: list[Any] = []
        self._server_header = server_header
        self._date_header = date_header
        self._extra = list(headers or [])
        self.default_headers: list[tuple[bytes, bytes]] = []
        self.encoded_default_headers = b""
        self._task_loop: asyncio.AbstractEventLoop | None = None
        self._task_maker: TaskMaker | None = None
        self.refresh_date()

    def task_maker(self, loop: asyncio.AbstractEventLoop) -> TaskMaker:
        """``asyncio.Task(coro, loop=loop, name=...)`` as one callable, made once per
        loop: what ``loop.create_task`` does without a task factory, less a call.

        A partial hands its keywords over as the dict it holds, where a call with
        keywords builds one per task. The loop is given because a Task without one
        asks ``get_event_loop()``, which on Linux makes a ``getpid`` system call
        each time (CPython checks that the running loop was not inherited through a
        fork): one more system call per request besides its read and write.
        """
        if self._task_loop is not loop or self._task_maker is None:
            self._task_maker = functools.partial(asyncio.Task, loop=loop, name=HTTP_TASK_NAME)
            self._task_loop = loop
        return self._task_maker

    def running_tasks(self) -> set[asyncio.Task[Any]]:
        """The request and WebSocket tasks still running: those in ``tasks``, and
        the HTTP request tasks made by :meth:`task_maker`, which are not tracked
        there (HTTPConnection.data_received) but found by name among the loop's.
        Safe to call from another thread (``asyncio.all_tasks`` retries when the
        loop changes its set under it)."""
        running = set(self.tasks)
        loop = self._task_loop
        if loop is not None and not loop.is_closed():
            running.update(
                task for task in asyncio.all_tasks(loop) if task.get_name() == HTTP_TASK_NAME
            )
        return running

    def refresh_date(self) -> None:
        headers: list[tuple[bytes, bytes]] = []
        if self._server_header and not any(name == b"server" for name, _ in self._extra):
            headers.append((b"server", b"uvicorn"))
        if self._date_header:
            headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
        headers.extend(self._extra)
        self.default_headers = headers
        self.encoded_default_headers = _encode(headers)

    def default_headers_without(self, server: bool, date: bool) -> bytes:
        """The default block minus the names the app set itself (the app wins)."""
        drop = {b"server"} if server else set()
        if date:
            drop.add(b"date")
        return _encode([(n, v) for n, v in self.default_headers if n not in drop])


def _encode(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)
