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
from time import perf_counter
from typing import TYPE_CHECKING, Any, BinaryIO

from uvicorn.server.protocols.context import HTTP_TASK_NAME
from uvicorn.server.protocols.flow import WriteFlow
from uvicorn.server.protocols.http.cycle import (
    DISCARD_LIMIT,
    HIGH_WATER,
    RequestCycle,
    ResponseState,
)
from uvicorn.server.protocols.http.framing import error_response
from uvicorn.server.protocols.http.limits import CLOCK_BODY as _CLOCK_BODY
from uvicorn.server.protocols.http.limits import CLOCK_HEAD as _CLOCK_HEAD
from uvicorn.server.protocols.http.limits import CLOCK_IDLE as _CLOCK_IDLE
from uvicorn.server.protocols.http.limits import CLOCK_NONE as _CLOCK_NONE
from uvicorn.server.protocols.transport import client_addr, is_tls, server_addr, tls_extension

if TYPE_CHECKING:
    from uvicorn.server.protocols.context import ServerContext, ServerState, TaskMaker
    from uvicorn.server.protocols.http.backends.base import HTTPBackend
    from uvicorn.server.protocols.http.head import RequestHead

__all__ = ["HTTPConnection"]

logger = logging.getLogger("uvicorn.error")

_START = ResponseState.START  # a global, not an attribute of the class: one lookup

MAX_PIPELINE = 16  # queued requests parsed ahead before reading pauses
DRAIN_GRACE = 5.0  # seconds a fresh connection gets to send its request during shutdown
LINGER = 2.0  # seconds a closing connection reads and drops input after its FIN (_close)


class HTTPConnection(asyncio.Protocol):
    # RequestSink: each head is built as the cycle that serves it
    head_type = RequestCycle

    __slots__ = (
        "app_state",
        "backend",
        "client",
        "clock",
        "closed",
        "ctx",
        "cycle",
        "deadline",
        "discard_left",
        "draining",
        "extensions",
        "extensions_base",
        "flow",
        "head_seen",
        "loop",
        "new_task",
        "output",
        "parsing",
        "paused_at",
        "pending_error",
        "pipelined_context",
        "queue",
        "quick_start",
        "read_paused",
        "scheme",
        "scope_base",
        "served",
        "server",
        "starting",
        "state",
        "timer",
        "timer_at",
        "transport",
        "upgrade_head",
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
        self.flow = WriteFlow(self.loop)
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.clock = _CLOCK_NONE  # which deadline runs: none, idle, head or body
        self.deadline = 0.0
        self.head_seen = False  # a byte of the current head has arrived
        self.paused_at = 0.0  # when reading paused during a body (its clock stops)
        self.closed = False
        self.starting: RequestCycle | None = None  # head parsed, app not yet started
        self.served = False  # a response was completed on this connection
        self.draining = False  # shutting down: answer the request under way, then close
        self.upgrade_head: RequestHead | None = None  # a WebSocket handshake to hand over
        self.discard_left = -1  # reading an answered request's unread body: bytes allowed
        self.pipelined_context: contextvars.Context | None = None  # see _start
        self.output = b""  # whole responses queued for the end of this loop iteration

    # asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.state.connections.add(self)
        self.state.total_connections += 1
        self.client = client_addr(transport)
        self.server = server_addr(transport)
        tls = is_tls(transport)
        self.scheme = "https" if tls else "http"
        self.extensions = tls_extension(transport) if tls else None
        # What every request's scope shares on this connection, in scope order: a
        # request's scope is a copy with the rest filled in, 1.2k instructions less
        # than a 14-key literal (3.11).
        self.scope_base: dict[str, Any] = {
            "type": "http",
            "asgi": self.ctx.asgi_info,
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": "GET",
            "root_path": "",
            "path": "",
            "raw_path": b"",
            "query_string": b"",
            "headers": [],
            "state": None,
            "extensions": None,
        }
        # Each scope gets its own copy of this (an app may add to it); the entries,
        # which only say what the server supports, are the connection's.
        self.extensions_base: dict[str, Any] = {
            "http.response.trailers": {},
            "http.response.pathsend": {},
        }
        if self.extensions is not None:
            self.extensions_base["tls"] = self.extensions
        self.backend: HTTPBackend = self.ctx.backend_factory(self, self.ctx.limits)
        # An app may install a task factory at start-up; it is then used for its requests.
        # Without one (and without --reset-contextvars), _start makes the Task itself.
        self.new_task: TaskMaker | None = (
            self.state.task_maker(self.loop)
            if self.loop.get_task_factory() is None and not self.ctx.reset_contextvars
            else None
        )
        # The same, when _start has nothing else to do before it (no admission
        # check, no scope layer): data_received then starts the task itself.
        self.quick_start: TaskMaker | None = (
            self.new_task if self.ctx.admission is None and self.ctx.prepare_scope is None else None
        )
        if self.ctx.log_trace:
            logger.log(5, "%s - HTTP connection made", _fmt(self.client))
        head_timeout = self.ctx.limits.head_timeout
        if head_timeout:  # counted from the connection's opening
            self.set_clock(_CLOCK_HEAD, self.loop.time() + head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.output = b""
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
        self.flow.lost()

    def data_received(self, data: bytes) -> None:
        clock = self.clock
        if clock == _CLOCK_IDLE:  # the first byte of the next request
            self.clock = _CLOCK_NONE
            self.head_seen = True
            self.backend.feed(data)
            # The head clock runs from this byte; it is armed only if the head did
            # not all come with it (on_head clears head_seen and sets the clocks).
            if self.head_seen and not self.clock and not self.closed:
                head_timeout = self.ctx.limits.head_timeout
                if head_timeout:
                    self.set_clock(_CLOCK_HEAD, self.loop.time() + head_timeout)
        else:
            if clock == _CLOCK_HEAD:
                self.head_seen = True
            self.backend.feed(data)
        cycle = self.starting
        if cycle is not None:
            # Started only once the parser is done with these bytes: the app never
            # runs inside a parser callback, and a request that arrived whole
            # (head and body) is complete before the app first looks at it.
            self.starting = None
            if not self.closed:
                new_task = self.quick_start
                if new_task is not None and not cycle.forwarded:
                    # _start's common case, inlined (on_head made it the current
                    # cycle). The task is not tracked in ServerState.tasks: a set
                    # add and discard cost 800 instructions a request, and the
                    # server finds it by name at shutdown (running_tasks). Until it
                    # ends, the loop holds it: scheduled, or through whatever it
                    # awaits (a task that nothing could ever wake may be collected).
                    new_task(cycle.run(self.ctx.app))
                else:
                    self._start(cycle, True)  # in_callback (positional: a keyword costs a lookup)

    def pause_writing(self) -> None:
        self.flow.pause()

    def resume_writing(self) -> None:
        self.flow.resume()

    # RequestSink ----------------------------------------------------------

    def on_head(self, head: RequestHead) -> bool:
        # built as a head_type by the backend: the request's cycle itself
        cycle: RequestCycle = head  # type: ignore[assignment]
        ctx = self.ctx
        if (
            cycle.upgrade is not None
            and cycle.upgrade == b"websocket"
            and ctx.ws_factory is not None
            and self.cycle is None
            and cycle.method == "GET"
        ):
            self.upgrade_head = head  # handed over in on_upgrade, with the bytes after it
            self.clock = _CLOCK_NONE
            return True
        # The cycle's own fields (build_head made it and set the head's), only those
        # read before the response starts: send sets the response's, _write_first
        # its framing, and the times are set only when an observer reads them.
        cycle.state = _START
        cycle.body = None
        cycle.buffered = 0
        cycle.request_body_size = 0
        # a head with no body is the whole request: no on_end follows (RequestSink)
        has_body = cycle.has_body
        cycle.body_complete = not has_body
        cycle.body_delivered = False
        cycle.disconnected = False
        cycle.waiter = None
        cycle.task = None
        cycle.status = 0
        cycle.response_body_size = 0
        cycle.response_headers = ()
        cycle.no_body = cycle.method == "HEAD"
        self.head_seen = False
        if has_body:
            limits = ctx.limits
            length = cycle.content_length
            if limits.body and length is not None and length > limits.body:
                self.backend.stop()
                self.on_error(413, "Request body larger than --limit-request-body.")
                return False
            if limits.body_timeout:
                self.set_clock(_CLOCK_BODY, self.loop.time() + limits.body_timeout)
            elif self.clock:
                self.clock = _CLOCK_NONE
            self.parsing = cycle  # the backend's on_body and on_end are for it
        elif self.clock:
            self.clock = _CLOCK_NONE
        # The base holds the common values (HTTP/1.1, GET, no query): only what
        # differs from them is stored (a store costs 100 instructions).
        scope = self.scope_base.copy()
        if cycle.http_version != "1.1":
            scope["http_version"] = cycle.http_version
        if cycle.method != "GET":
            scope["method"] = cycle.method
        scope["path"] = cycle.path
        scope["raw_path"] = cycle.raw_path
        if cycle.query_string:
            scope["query_string"] = cycle.query_string
        scope["headers"] = cycle.headers
        scope["state"] = self.app_state.copy()
        scope["extensions"] = self.extensions_base.copy()
        cycle.scope = scope
        cycle.conn = self
        if self.draining:
            cycle.keep_alive = False
        if ctx.observers:
            cycle.started_at = perf_counter()  # loop.time() is per-iteration on uvloop
        if self.cycle is None:
            self.cycle = self.starting = cycle
        else:
            if self.pipelined_context is None:  # here in data_received, the connection's
                self.pipelined_context = contextvars.copy_context()
            self.queue.append(cycle)
            if len(self.queue) >= MAX_PIPELINE:
                self._pause_reading()
        return False

    def on_upgrade(self, trailing: bytes) -> None:
        """Hand the socket to a WebSocket connection; this HTTP connection is done."""
        head = self.upgrade_head
        factory = self.ctx.ws_factory
        assert head is not None and factory is not None
        self.upgrade_head = None
        if self.output:
            self.flush_output()
        self.closed = True  # nothing here writes to the transport any more
        self.state.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        protocol = factory(
            self.ctx,
            self.state,
            self.app_state,
            head,
            self.client,
            self.server,
            self.scheme,
            self.extensions,
        )
        transport = self.transport
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if trailing:
            protocol.data_received(trailing)

    def on_body(self, chunk: bytes) -> None:
        cycle = self.parsing
        if cycle is not None:
            if self.discard_left >= 0:  # answered already: drop it, within the bound
                self.discard_left -= len(chunk)
                if self.discard_left < 0:
                    self._close()
                return
            limits = self.ctx.limits
            if limits.body and cycle.request_body_size + len(chunk) > limits.body:
                self.backend.stop()
                self.on_error(413, "Request body larger than --limit-request-body.")
                return
            if self.clock == _CLOCK_BODY and limits.min_body_rate:
                self.deadline += len(chunk) / limits.min_body_rate  # 1 s per rate bytes
            cycle.feed_body(chunk)
            if cycle.buffered > HIGH_WATER and not self.read_paused:
                self._pause_reading()

    def on_end(self) -> None:
        if self.clock == _CLOCK_BODY:
            self.clock = _CLOCK_NONE
        cycle = self.parsing
        if cycle is not None:
            self.parsing = None
            cycle.end_body()
            if self.discard_left >= 0:  # the unread body is behind us: next request
                self.discard_left = -1
                if self.read_paused:
                    self._resume_reading()
                self._go_idle()

    def on_error(self, status: int, reason: str) -> None:
        if status == 400:
            logger.warning("Invalid HTTP request received: %s", reason)
        else:
            logger.warning("Request refused with %d: %s", status, reason)
        self.clock = _CLOCK_NONE
        if self.ctx.on_rejected is not None:
            self.ctx.on_rejected(_REJECT_REASONS.get(status, "bad_request"))
        parsing = self.parsing
        self.parsing = None
        if self.discard_left >= 0:  # the answered request's unread body is broken
            self.discard_left = -1
            self._close()
            return
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
            if self.output:
                self.flush_output()
            self.transport.write(data)

    def writelines(self, parts: tuple[bytes, ...]) -> None:
        """Several buffers in one system call where the loop can (uvloop, 3.12+ asyncio)."""
        if not self.closed:
            if self.output:
                self.flush_output()
            self.transport.writelines(parts)

    def flush_output(self) -> None:
        """Write the responses queued for the end of the loop iteration now: something
        else is about to be written, or the socket closed or handed over."""
        data = self.output
        self.output = b""
        if data and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        if not self.closed:
            await self.flow.drain()

    async def send_file(self, file: BinaryIO, size: int, chunked: bool) -> None:
        """Send ``size`` bytes of ``file`` as the body, chunk-encoded if asked."""
        if chunked:
            self.write(b"%x\r\n" % size)
        sent = 0
        if not chunked and not self.extensions:
            if self.output:
                self.flush_output()
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
        """The response is fully written: move on to the next request or close.

        RequestCycle.send's one-write path has its common case (nothing to report,
        nothing queued, keep-alive) inlined: a change here is a change there."""
        self.state.total_requests += 1
        self.served = True
        ctx = self.ctx
        if ctx.observers:
            cycle.finished_at = perf_counter()
            ctx.report(cycle)
        if self.cycle is not cycle:
            return
        self.cycle = None
        if not cycle.keep_alive or self.closed:
            self._close()
            return
        if not cycle.body_complete:
            if self.parsing is cycle:
                self._discard_rest(cycle)
            else:
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
        self._go_idle()  # (inlined, for the one-write path, in RequestCycle.send)

    def abort_cycle(self, cycle: RequestCycle) -> None:
        """A response broke off half-way: the only honest signal left is a close."""
        cycle.keep_alive = False
        if self.cycle is cycle:
            self.cycle = None
        self._close()

    # shutdown -----------------------------------------------------------------

    def shutdown(self) -> None:
        """Graceful close: busy connections after their response; idle ones now.

        A connection that has not yet sent its first request (accepted from the
        shared backlog just before the drain) or is in the middle of a head is not
        idle: the client is about to be answered. It gets that one request, with
        ``Connection: close``, within a short head deadline.
        """
        if self.closed:
            return  # closing already (lingering after its last response: see _close)
        if self.cycle is None:
            if self.served and not self.head_seen:
                self._close(linger=False)
                return
            self.draining = True
            grace = min(self.ctx.limits.head_timeout or DRAIN_GRACE, DRAIN_GRACE)
            self.set_clock(_CLOCK_HEAD, self.loop.time() + grace)
        else:
            self.cycle.keep_alive = False
            self.queue.clear()
            self.backend.stop()

    # internals ------------------------------------------------------------------

    def _start(self, cycle: RequestCycle, in_callback: bool = False) -> None:
        """Run the app for ``cycle``: from data_received (``in_callback``), or at the
        end of the request before it."""
        self.cycle = cycle
        ctx = self.ctx
        if ctx.admission is not None and not ctx.admission(self.state):
            if ctx.on_rejected is not None:
                ctx.on_rejected("concurrency_limit")
            cycle.status = 503
            cycle.keep_alive = False
            cycle.state = ResponseState.DONE
            self.write(
                error_response(503, "Service Unavailable", self.default_headers(False, False))
            )
            self.cycle_complete(cycle)
            return
        if cycle.forwarded and ctx.prepare_forwarded is not None:
            ctx.prepare_forwarded(cycle.scope)
        if ctx.prepare_scope is not None:
            ctx.prepare_scope(cycle.scope)
        coro = cycle.run(ctx.app)
        new_task = self.new_task
        if in_callback and new_task is not None:
            # What loop.create_task does when no task factory is set, less a call
            # (ServerState.task_maker).
            # Scheduled, not started eagerly (Python 3.12's eager_start=True): eager
            # start saves 7k instructions per request in memory, yet under wrk (3.12,
            # uvloop) it served a quarter fewer requests per second when each app
            # wrote inside the read callback that parsed its request (38.3k against
            # 51.5k req/s). With whole responses written at the end of the loop
            # iteration (write_outputs) it is even: 1.02x on plaintext, 0.98x on json
            # (3 rounds), so not worth a second way to start a request.
            task = new_task(coro)
        else:
            if ctx.reset_contextvars:
                task = contextvars.Context().run(self.loop.create_task, coro, name=HTTP_TASK_NAME)
            elif not in_callback:
                # A pipelined request, started at the end of the one before it, from
                # inside that one's task: its task copies the connection's context,
                # not the context the previous request's app left behind. (A copy to
                # run in: an eager task factory would start the next one inside this
                # run.)
                assert self.pipelined_context is not None
                task = self.pipelined_context.copy().run(
                    self.loop.create_task, coro, name=HTTP_TASK_NAME
                )
            else:  # the app's task factory
                task = self.loop.create_task(coro, name=HTTP_TASK_NAME)
            if task.done():
                # An eager task factory (asyncio.eager_task_factory, 3.12+) ran the
                # app to its end inside create_task, before there was a task to
                # track: tracked now, it would never leave the set.
                return
        cycle.task = task  # RequestCycle.run() takes it out of the set when it ends
        self.state.tasks.add(task)

    def _write_error(self, status: int, reason: str) -> None:
        message = _ERROR_TEXTS.get(status, reason)
        self.write(error_response(status, message, self.default_headers(False, False)))

    def _close(self, linger: bool = True) -> None:
        """Close after what was written. Closing a socket whose input has not all
        been read makes the kernel send a reset, and a reset can destroy the end of
        the response still on its way to the client (a request pipelined behind
        ``Connection: close``, the rest of a refused body). So, as nginx and Apache
        do, a closing connection sends FIN after its response, then reads and drops
        whatever still comes until the client closes or LINGER seconds pass.
        ``linger=False`` where nothing can be unread (an idle connection)."""
        if self.closed:
            return
        if self.output:
            self.flush_output()
        self.closed = True
        self.clock = _CLOCK_NONE
        self.backend.stop()
        transport = self.transport
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        try:
            if not linger or transport.is_closing() or not transport.can_write_eof():
                transport.close()
                return
            transport.write_eof()
        except (OSError, RuntimeError, NotImplementedError):  # a transport with no half-close
            transport.close()
            return
        if self.read_paused:
            self.read_paused = False
            transport.resume_reading()
        self.timer = self.loop.call_later(LINGER, transport.close)
        self.timer_at = self.loop.time() + LINGER

    def _pause_reading(self) -> None:
        if not self.read_paused and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()
            if self.clock == _CLOCK_BODY:
                self.paused_at = self.loop.time()  # the app is behind: stop the body clock

    def _resume_reading(self) -> None:
        if self.read_paused and not self.closed:
            self.read_paused = False
            self.transport.resume_reading()
            if self.clock == _CLOCK_BODY and self.paused_at:
                self.set_clock(_CLOCK_BODY, self.deadline + self.loop.time() - self.paused_at)
                self.paused_at = 0.0

    def _discard_rest(self, cycle: RequestCycle) -> None:
        """The app answered without reading all of the body, and the response kept
        the connection open because the rest is small: read it and drop it, then
        serve the next request, rather than close on a client that did nothing wrong."""
        self.discard_left = DISCARD_LIMIT
        cycle.discard()
        if not self.clock:  # no body timeout: the keep-alive timeout bounds the wait
            self.set_clock(_CLOCK_BODY, self.loop.time() + self.ctx.timeout_keep_alive)
        if self.read_paused:
            self._resume_reading()

    def _go_idle(self) -> None:
        """Start the keep-alive clock."""
        self.set_clock(_CLOCK_IDLE, self.loop.time() + self.ctx.timeout_keep_alive)

    def set_clock(self, kind: int, deadline: float) -> None:
        """Run one deadline; a single timer per connection, re-armed lazily.

        Moving a deadline later costs an attribute write: the timer, when it fires
        early, re-arms itself. Only a deadline earlier than the armed timer (the
        keep-alive after a long body clock, say) replaces it.
        """
        self.clock = kind
        self.deadline = deadline
        timer = self.timer
        if timer is None:
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline
        elif deadline < self.timer_at:
            timer.cancel()
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline

    def _on_timer(self) -> None:
        self.timer = None
        clock = self.clock
        if self.closed or not clock:
            return  # no clock runs: the next one arms a new timer
        if clock == _CLOCK_BODY and self.read_paused and self.paused_at:
            return  # the app is behind, not the client; resuming re-arms
        deadline = self.deadline
        if self.loop.time() < deadline:
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline
            return
        self.clock = _CLOCK_NONE
        if clock == _CLOCK_IDLE:
            if self.ctx.log_trace:
                logger.log(5, "%s - HTTP connection closed (keep-alive timeout)", _fmt(self.client))
            self._close(linger=False)
        elif clock == _CLOCK_HEAD:
            self.backend.stop()
            if self.head_seen and self.ctx.on_rejected is not None:
                self.ctx.on_rejected("timeout")
            if self.head_seen and self.cycle is None:
                logger.warning(
                    "Request head not received within %gs.", self.ctx.limits.head_timeout
                )
                self._write_error(408, "Request Timeout")
            self._close()
        else:
            logger.warning("Request body not received in time.")
            self.backend.stop()
            if self.ctx.on_rejected is not None:
                self.ctx.on_rejected("timeout")
            cycle = self.parsing
            if cycle is not None:
                cycle.lost()
                if cycle is self.cycle and cycle.state is ResponseState.START:
                    cycle.status = 408
                    cycle.state = ResponseState.DONE
                    self._write_error(408, "Request Timeout")
            self._close()


_REJECT_REASONS = {408: "timeout", 413: "limits", 414: "limits", 431: "limits"}
_ERROR_TEXTS = {
    400: "Invalid HTTP request received.",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


def _fmt(addr: tuple[str, int] | None) -> str:
    return "%s:%d" % addr if addr else ""
