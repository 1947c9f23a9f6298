"""The HTTP/1.1 connection: the one place that owns the socket.

Everything that is not parsing or ASGI lives here, once, for both backends:
keep-alive (a lazily re-armed idle deadline, not a timer per response),
pipelining (cycles queued and answered in order), flow control both ways
(reading pauses while a request body or the pipeline queue is over its mark;
``send`` waits for ``drain`` while the client reads slowly), admission (the
concurrency limit), parse errors turned into a 4xx and a close, and graceful
shutdown.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote

from uvicorn.server.protocols.http.cycle import HIGH_WATER, RequestCycle, ResponseState
from uvicorn.server.protocols.http.framing import error_response
from uvicorn.server.protocols.transport import client_addr, is_tls, server_addr, tls_extension

if TYPE_CHECKING:
    from uvicorn.server.protocols.context import ServerContext, ServerState
    from uvicorn.server.protocols.http.backends.base import HTTPBackend
    from uvicorn.server.protocols.http.head import RequestHead

__all__ = ["HTTPConnection"]

logger = logging.getLogger("uvicorn.error")

MAX_PIPELINE = 16  # queued requests parsed ahead before reading pauses


class HTTPConnection(asyncio.Protocol):
    __slots__ = (
        "app_state",
        "backend",
        "client",
        "closed",
        "ctx",
        "cycle",
        "drain_waiter",
        "extensions",
        "idle_deadline",
        "loop",
        "parsing",
        "pending_error",
        "queue",
        "read_paused",
        "scheme",
        "server",
        "starting",
        "state",
        "timer",
        "transport",
        "write_paused",
    )

    def __init__(
        self,
        ctx: ServerContext,
        state: ServerState,
        app_state: dict[str, Any],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.ctx = ctx
        self.state = state
        self.app_state = app_state
        self.loop = loop or asyncio.get_running_loop()
        self.cycle: RequestCycle | None = None
        self.parsing: RequestCycle | None = None
        self.queue: deque[RequestCycle] = deque()
        self.pending_error: tuple[int, str] | None = None
        self.read_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.idle_deadline = 0.0
        self.closed = False
        self.starting: RequestCycle | None = None  # head parsed, app not yet started

    # asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.state.connections.add(self)
        self.client = client_addr(transport)
        self.server = server_addr(transport)
        tls = is_tls(transport)
        self.scheme = "https" if tls else "http"
        self.extensions = tls_extension(transport) if tls else None
        self.backend: HTTPBackend = self.ctx.backend_factory(
            self, self.ctx.h11_max_incomplete_event_size
        )
        if self.ctx.log_trace:
            logger.log(5, "%s - HTTP connection made", _fmt(self.client))
        self._go_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.state.connections.discard(self)
        if self.ctx.log_trace:
            logger.log(5, "%s - HTTP connection lost", _fmt(self.client))
        self.backend.stop()
        if self.cycle is not None:
            self.cycle.lost()
        self.queue.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.backend.feed(data)
        cycle = self.starting
        if cycle is not None:
            # Started only once the parser is done with these bytes: the app never
            # runs inside a parser callback, and a request that arrived whole
            # (head and body) is complete before the app first looks at it.
            self.starting = None
            if not self.closed:
                self._start(cycle)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # RequestSink ----------------------------------------------------------

    def on_head(self, head: RequestHead) -> None:
        ctx = self.ctx
        raw_path = head.raw_path
        if b"%" in raw_path:
            path = unquote(raw_path.decode("latin-1"))
        else:
            path = raw_path.decode("latin-1")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": ctx.asgi_info,
            "http_version": head.http_version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": head.method,
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": head.query_string,
            "headers": head.headers,
            "state": self.app_state.copy(),
            "extensions": {"http.response.trailers": {}, "http.response.pathsend": {}},
        }
        if self.extensions is not None:
            scope["extensions"]["tls"] = self.extensions
        cycle = RequestCycle(self, head, scope)
        if ctx.observers:
            cycle.started_at = self.loop.time()
        self.parsing = cycle
        if self.cycle is None:
            self.cycle = self.starting = cycle
        else:
            self.queue.append(cycle)
            if len(self.queue) >= MAX_PIPELINE:
                self._pause_reading()

    def on_body(self, chunk: bytes) -> None:
        cycle = self.parsing
        if cycle is not None:
            cycle.feed_body(chunk)
            if cycle.buffered > HIGH_WATER and not self.read_paused:
                self._pause_reading()

    def on_end(self) -> None:
        cycle = self.parsing
        if cycle is not None:
            self.parsing = None
            cycle.end_body()

    def on_error(self, status: int, reason: str) -> None:
        logger.warning("Invalid HTTP request received: %s", reason)
        parsing = self.parsing
        self.parsing = None
        if parsing is not None and not parsing.body_complete:
            # The body of a request already handed over is broken.
            if parsing is self.cycle:
                parsing.lost()
                if parsing.state is ResponseState.START:  # nothing written yet: answer it
                    parsing.status = status
                    parsing.state = ResponseState.DONE  # an app not yet started never will
                    self._write_error(status, reason)
                self._close()
                return
            self.queue.remove(parsing)
        if self.cycle is None:
            self._write_error(status, reason)
            self._close()
        else:
            self.pending_error = (status, reason)

    # used by RequestCycle --------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        """Several buffers in one system call where the loop can (uvloop, 3.12+ asyncio)."""
        if not self.closed:
            self.transport.writelines(parts)

    async def drain(self) -> None:
        if not self.write_paused or self.closed:
            return
        waiter = self.drain_waiter
        if waiter is None:
            waiter = self.drain_waiter = self.loop.create_future()
        await waiter

    async def send_file(self, file: BinaryIO, size: int, chunked: bool) -> None:
        """Send ``size`` bytes of ``file`` as the body, chunk-encoded if asked."""
        if chunked:
            self.write(b"%x\r\n" % size)
        sent = 0
        if not chunked and not self.extensions:
            try:
                await self.drain()
                sent = await self.loop.sendfile(self.transport, file, 0, size, fallback=False)
            except (NotImplementedError, RuntimeError, AttributeError):
                sent = 0
        file.seek(sent)
        remaining = size - sent
        while remaining > 0 and not self.closed:
            data = await self.loop.run_in_executor(None, file.read, min(remaining, 262144))
            if not data:
                break
            remaining -= len(data)
            self.write(data)
            await self.drain()
        if chunked:
            self.write(b"\r\n")

    def default_headers(self, has_server: bool, has_date: bool) -> bytes:
        if has_server or has_date:
            return self.state.default_headers_without(has_server, has_date)
        return self.state.encoded_default_headers

    def body_drained(self, cycle: RequestCycle) -> None:
        if self.read_paused and len(self.queue) < MAX_PIPELINE:
            self._resume_reading()

    def cycle_complete(self, cycle: RequestCycle) -> None:
        """The response is fully written: move on to the next request or close."""
        self.state.total_requests += 1
        ctx = self.ctx
        if ctx.observers:
            ctx.observe(cycle, self.loop.time())
        if self.cycle is not cycle:
            return
        self.cycle = None
        if not cycle.keep_alive or self.closed or not cycle.body_complete:
            self._close()
            return
        if self.queue:
            self._start(self.queue.popleft())
            if self.read_paused and len(self.queue) < MAX_PIPELINE:
                self._resume_reading()
            return
        if self.pending_error is not None:
            status, reason = self.pending_error
            self._write_error(status, reason)
            self._close()
            return
        if self.read_paused:
            self._resume_reading()
        self._go_idle()

    def abort_cycle(self, cycle: RequestCycle) -> None:
        """A response broke off half-way: the only honest signal left is a close."""
        cycle.keep_alive = False
        if self.cycle is cycle:
            self.cycle = None
        self._close()

    # shutdown -----------------------------------------------------------------

    def shutdown(self) -> None:
        """Graceful close: idle connections now, busy ones after their response."""
        if self.cycle is None:
            self._close()
        else:
            self.cycle.keep_alive = False
            self.queue.clear()
            self.backend.stop()

    # internals ------------------------------------------------------------------

    def _start(self, cycle: RequestCycle) -> None:
        self.cycle = cycle
        ctx = self.ctx
        if ctx.admission is not None and not ctx.admission(self.state):
            cycle.status = 503
            cycle.keep_alive = False
            cycle.state = ResponseState.DONE
            self.write(
                error_response(503, "Service Unavailable", self.default_headers(False, False))
            )
            self.cycle_complete(cycle)
            return
        if ctx.prepare_scope is not None:
            ctx.prepare_scope(cycle.scope)
        coro = cycle.run(ctx.app)
        context = contextvars.Context() if ctx.reset_contextvars else None
        # Eager task start (3.12+) was measured here and not kept: no gain on uvloop,
        # a third fewer requests per second on the asyncio loop under wrk.
        if context is None:
            task = self.loop.create_task(coro)
        else:
            task = context.run(self.loop.create_task, coro)
        cycle.task = task
        self.state.tasks.add(task)

    def _write_error(self, status: int, reason: str) -> None:
        message = {
            400: "Invalid HTTP request received.",
            501: "Not Implemented",
            505: "HTTP Version Not Supported",
        }.get(status, reason)
        self.write(error_response(status, message, self.default_headers(False, False)))

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.backend.stop()
            self.transport.close()

    def _pause_reading(self) -> None:
        if not self.read_paused and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and not self.closed:
            self.read_paused = False
            self.transport.resume_reading()

    def _go_idle(self) -> None:
        """Start the keep-alive clock without creating a timer per response.

        The deadline moves on every idle period; the single timer, when it fires
        early, re-arms itself for the current deadline.
        """
        timeout = self.ctx.timeout_keep_alive
        self.idle_deadline = self.loop.time() + timeout
        if self.timer is None:
            self.timer = self.loop.call_at(self.idle_deadline, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.closed or self.cycle is not None or self.parsing is not None:
            return  # busy: the clock restarts when it goes idle again
        deadline = self.idle_deadline
        if self.loop.time() < deadline:
            self.timer = self.loop.call_at(deadline, self._on_timer)
            return
        if self.ctx.log_trace:
            logger.log(5, "%s - HTTP connection closed (keep-alive timeout)", _fmt(self.client))
        self._close()


def _fmt(addr: tuple[str, int] | None) -> str:
    return "%s:%d" % addr if addr else ""
