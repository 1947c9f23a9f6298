"""The WebSocket connection: the one place that speaks ASGI ``websocket.*``.

The HTTP core hands a socket over once it has parsed a GET with ``Connection:
upgrade`` and ``Upgrade: websocket``. From then on this protocol owns it, for
both frame backends, and holds everything that is not frame parsing once:

* the opening handshake: checked (:mod:`.handshake`) before the app runs,
  answered with 400 when it is invalid and with 503 past the concurrency
  limit; then ``websocket.connect`` and the app's answer: ``websocket.accept``
  (101, subprotocol, headers, the negotiated permessage-deflate),
  ``websocket.close`` (403), or a denial response
  (``websocket.http.response.start`` / ``.body``, any status, headers, body);
* messages both ways, reassembled from fragments, with ``--ws-max-size``
  enforced on the reassembled size (1009);
* flow control both ways: reading pauses while ``--ws-max-queue`` messages wait
  for the app and resumes at a quarter of it; ``send`` waits for ``drain``
  while the client reads slowly;
* message frames the app sends in one loop iteration leave in one write (one
  system call instead of one per message), at the end of the iteration or as
  soon as :data:`FLUSH_AT` bytes wait; every other write goes out after them;
* keepalive: a ping every ``--ws-ping-interval`` seconds; no pong within
  ``--ws-ping-timeout`` fails the connection with 1011 (not while reading is
  paused because the app is behind: a slow app is not its client's fault);
* the closing handshake both ways: the peer's close frame is echoed and the
  app gets ``websocket.disconnect`` with its code and reason; the app's close
  frame waits up to :data:`CLOSE_TIMEOUT` for the echo. "The underlying TCP
  connection, in most normal cases, SHOULD be closed first by the server"
  (RFC 6455 §7.1.1): the server half-closes once no frame can follow;
* errors: an app exception is logged with its traceback and answered with 500
  before the accept, 1011 after it; graceful shutdown closes open sockets with
  1012 (and waits for the app), answers a pending handshake with 503.

``send`` on a closed connection raises :class:`ClientDisconnected`, an
``OSError`` (ASGI spec 2.4), which the server does not log when the app lets
it escape. Observers see one ``RequestRecord`` per connection, when both the
socket and the app are done: status 101 for an accepted connection (or the
HTTP status sent), sizes counting message payloads.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import struct
from collections import deque
from time import perf_counter
from typing import TYPE_CHECKING, Any

from uvicorn._types import RequestRecord
from uvicorn.server.protocols.context import WebSocketSettings
from uvicorn.server.protocols.flow import WriteFlow
from uvicorn.server.protocols.websocket.handshake import (
    HandshakeError,
    HandshakeRequest,
    accept_response,
    check_request,
    http_response,
    validate_headers,
)

if TYPE_CHECKING:
    from uvicorn._types import Message
    from uvicorn.server.protocols.context import ServerContext, ServerState
    from uvicorn.server.protocols.http.head import RequestHead
    from uvicorn.server.protocols.websocket.backends.base import (
        BackendFactory,
        WebSocketBackend,
    )

__all__ = ["CLOSE_TIMEOUT", "ClientDisconnected", "WebSocketConnection", "WebSocketPhase"]

logger = logging.getLogger("uvicorn.error")

CLOSE_TIMEOUT = 10.0  # seconds the peer has to finish a closing handshake
HANDSHAKE_BUFFER = 65536  # bytes read ahead of the app's accept before reading pauses
FLUSH_AT = 65536  # queued message bytes that are written at once, not at the iteration's end
_DEFAULT_SETTINGS = WebSocketSettings()


class ClientDisconnected(OSError):
    """``send`` was called on a closed WebSocket (ASGI spec 2.4)."""


class WebSocketPhase(enum.Enum):
    """Where the connection is; what ``send`` accepts in each is beside it.

    HANDSHAKE  the app has (or will get) ``websocket.connect``: it may send
               ``websocket.accept`` -> OPEN, ``websocket.close`` -> 403, CLOSED, or
               ``websocket.http.response.start`` -> RESPONSE.
    RESPONSE   a denial response: ``websocket.http.response.body`` until
               ``more_body`` is false -> CLOSED.
    OPEN       ``websocket.send``; ``websocket.close`` -> CLOSING.
    CLOSING    our close frame is out; the peer's echo (or the timeout) -> CLOSED.
               Data the peer still sends is dropped; ``send`` raises.
    CLOSED     no frame either way; ``send`` raises ClientDisconnected.
    """

    HANDSHAKE = 1
    RESPONSE = 2
    OPEN = 3
    CLOSING = 4
    CLOSED = 5


_HANDSHAKE = WebSocketPhase.HANDSHAKE
_RESPONSE = WebSocketPhase.RESPONSE
_OPEN = WebSocketPhase.OPEN
_CLOSING = WebSocketPhase.CLOSING
_CLOSED = WebSocketPhase.CLOSED

_TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")

# RFC 6455 §7.4: codes an endpoint may send in a close frame.
_SENDABLE_CODES = frozenset((1000, 1001, 1002, 1003, *range(1007, 1015)))


def _close_code(code: Any) -> int:
    if code is None:
        return 1000
    if type(code) is not int or not (code in _SENDABLE_CODES or 3000 <= code <= 4999):
        raise ValueError(f"Invalid WebSocket close code {code!r}.")
    return code


def _close_reason(reason: Any) -> str:
    """At most 123 bytes of UTF-8 (a control frame carries 125, the code takes 2)."""
    if not reason:
        return ""
    if not isinstance(reason, str):
        raise TypeError(f"WebSocket close reason must be a string, got {reason!r}.")
    encoded = reason.encode()
    if len(encoded) <= 123:
        return reason
    return encoded[:123].decode("utf-8", "ignore")


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


class WebSocketConnection(asyncio.Protocol):
    __slots__ = (
        "app_state",
        "backend",
        "backend_factory",
        "client",
        "close_due",
        "close_sent",
        "connect_sent",
        "ctx",
        "denial_started",
        "disconnect",
        "ending",
        "fail_with",
        "finished",
        "flow",
        "handshake",
        "head",
        "loop",
        "lost",
        "low_water",
        "max_queue",
        "max_size",
        "out",
        "out_size",
        "part_size",
        "parts",
        "peer_done",
        "pending",
        "phase",
        "ping_due",
        "ping_payload",
        "pings",
        "pong_due",
        "queue",
        "read_paused",
        "received",
        "response_headers",
        "scheme",
        "scope",
        "sent",
        "server",
        "settings",
        "started_at",
        "state",
        "status",
        "task",
        "timer",
        "timer_at",
        "tls",
        "transport",
        "waiter",
    )

    def __init__(
        self,
        ctx: ServerContext,
        state: ServerState,
        app_state: dict[str, Any],
        head: RequestHead,
        client: tuple[str, int] | None,
        server: tuple[str, int | None] | None,
        scheme: str,
        tls_extension: dict[str, Any] | None,
        *,
        backend_factory: BackendFactory,
    ) -> None:
        self.ctx = ctx
        self.state = state
        self.app_state = app_state
        self.head = head
        self.client = client
        self.server = server
        self.scheme = "wss" if scheme == "https" else "ws"
        self.tls = tls_extension
        self.backend_factory = backend_factory
        settings = self.settings = ctx.ws or _DEFAULT_SETTINGS
        self.max_size = settings.max_size or None
        self.max_queue = max(settings.max_queue, 1)
        self.low_water = self.max_queue // 4
        self.loop = asyncio.get_running_loop()
        self.phase = _HANDSHAKE
        self.backend: WebSocketBackend | None = None
        self.handshake: HandshakeRequest | None = None
        self.task: asyncio.Task[None] | None = None
        self.queue: deque[Message] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.connect_sent = False
        self.parts: list[Any] | None = None  # pieces of a fragmented message
        self.part_size = 0
        self.disconnect: tuple[int, str] | None = None  # what the app's receive ends with
        self.close_sent: tuple[int, str] | None = None
        self.fail_with: tuple[int, str] | None = None  # the core fails after this feed
        self.peer_done = False  # the backend saw the peer's close frame or a failure
        self.ending = False  # the TCP connection is being ended; nothing more is written
        self.lost = False
        self.out: list[bytes] = []  # message frames sent in this loop iteration
        self.out_size = 0
        self.finished = False
        self.read_paused = False
        self.flow = WriteFlow(self.loop)
        self.pending = bytearray()  # bytes that came before the accept
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.ping_due = 0.0
        self.pong_due = 0.0
        self.close_due = 0.0
        self.ping_payload = b""
        self.pings = 0
        self.status = 0
        self.received = 0
        self.sent = 0
        self.response_headers: list[tuple[bytes, bytes]] = []
        self.denial_started = False
        self.started_at = perf_counter()

    # asyncio.Protocol -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.state.connections.add(self)
        ctx = self.ctx
        if ctx.log_trace:
            logger.log(5, "%s - WebSocket connection made", _fmt(self.client))
        self.scope = scope = self._build_scope()
        try:
            handshake = self.handshake = check_request(self.head)
        except HandshakeError as exc:
            logger.warning("Invalid WebSocket upgrade request: %s", exc)
            if ctx.on_rejected is not None:
                ctx.on_rejected("bad_request")
            self._refuse(
                400,
                str(exc).encode() + b"\n",
                [_TEXT_PLAIN, (b"sec-websocket-version", b"13")],
            )
            return
        scope["subprotocols"] = handshake.subprotocols
        if ctx.admission is not None and not ctx.admission(self.state):
            if ctx.on_rejected is not None:
                ctx.on_rejected("concurrency_limit")
            self._refuse(503, b"Service Unavailable", [_TEXT_PLAIN])
            return
        if self.head.forwarded and ctx.prepare_forwarded is not None:
            ctx.prepare_forwarded(scope)
        if ctx.prepare_scope is not None:
            ctx.prepare_scope(scope)
        coro = self._run()
        if ctx.reset_contextvars:
            task = contextvars.Context().run(self.loop.create_task, coro)
        else:
            task = self.loop.create_task(coro)
        if task.done():
            # An eager task factory (3.12+) ran the app to its end inside
            # create_task, before there was a task to track (see HTTPConnection._start).
            return
        self.task = task
        self.state.tasks.add(task)

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase is _OPEN or phase is _CLOSING:
            backend = self.backend
            assert backend is not None
            out = backend.feed(data)
            if out:
                self._write(out)
            if self.fail_with is not None:
                code, reason = self.fail_with
                self.fail_with = None
                self._write(backend.close(code, reason))
                self._end_tcp()
            elif self.peer_done:
                self._end_tcp()
        elif phase is _HANDSHAKE:
            # RFC 6455 §4.1: a client waits for the 101 before sending frames; a
            # client that does not is read only once the app accepts.
            self.pending += data
            if len(self.pending) > HANDSHAKE_BUFFER:
                self._pause_reading()
        # RESPONSE, CLOSED (also once half-closed): what still comes is dropped.

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost tells the app

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.state.connections.discard(self)
        if self.ctx.log_trace:
            logger.log(5, "%s - WebSocket connection lost", _fmt(self.client))
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.status == 101:
            logger.info("connection closed")
        if self.disconnect is None:
            self.disconnect = self.close_sent or (1006, "")
        self.phase = _CLOSED
        self._wake()
        self.flow.lost()
        if self.task is None:
            self._finish()

    def pause_writing(self) -> None:
        self.flow.pause()

    def resume_writing(self) -> None:
        self.flow.resume()

    # FrameSink ---------------------------------------------------------------

    def on_data(self, data: str | bytes, fin: bool) -> None:
        if self.phase is not _OPEN:
            return  # after our close frame, or after a failure in this same feed
        max_size = self.max_size
        parts = self.parts
        size = len(data) if type(data) is bytes else _utf8_size(data)  # type: ignore[arg-type]
        if parts is None:
            if max_size is not None and size > max_size:
                self._too_big()
                return
            if fin:
                self.received += size
                self._deliver(data)
                return
            self.parts = [data]
            self.part_size = size
            return
        size += self.part_size
        if max_size is not None and size > max_size:
            self._too_big()
            return
        self.part_size = size
        parts.append(data)
        if fin:
            self.parts = None
            self.received += size
            self._deliver("".join(parts) if type(data) is str else b"".join(parts))

    def on_pong(self, payload: bytes) -> None:
        if self.pong_due and payload == self.ping_payload:
            self.pong_due = 0.0

    def on_close(self, code: int, reason: str) -> None:
        self.peer_done = True
        if self.phase is _OPEN or self.phase is _CLOSING:
            self.phase = _CLOSED
            self.disconnect = (code, reason)
            self._wake()

    def on_fail(self, code: int, reason: str) -> None:
        self.peer_done = True
        if self.ctx.log_trace:
            logger.log(5, "%s - WebSocket protocol error: %s", _fmt(self.client), reason)
        if self.phase is _OPEN or self.phase is _CLOSING:
            self.phase = _CLOSED
            self.disconnect = (code, reason)
            self._wake()

    # ASGI --------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            result: object = await self.ctx.app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except ClientDisconnected:
            self._app_returned(quiet=True)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if not (isinstance(exc, asyncio.CancelledError) and self.lost):
                logger.error("Exception in ASGI application\n", exc_info=exc)
            self._app_failed()
        else:
            if result is not None:
                logger.error("ASGI callable should return None, but returned %r.", result)
            self._app_returned(quiet=False)
        finally:
            task = self.task
            self.task = None
            if task is not None:
                self.state.tasks.discard(task)
            if self.lost:
                self._finish()

    async def receive(self) -> Message:
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        queue = self.queue
        while True:
            if queue:
                message = queue.popleft()
                if self.read_paused and len(queue) <= self.low_water and not self.ending:
                    self._resume_reading()
                return message
            disconnect = self.disconnect
            if disconnect is not None:
                return {
                    "type": "websocket.disconnect",
                    "code": disconnect[0],
                    "reason": disconnect[1],
                }
            waiter = self.waiter
            if waiter is None or waiter.done():
                waiter = self.waiter = self.loop.create_future()
            await waiter

    async def send(self, message: Message) -> None:
        kind = message["type"]
        phase = self.phase
        if phase is _OPEN:
            if kind == "websocket.send":
                backend = self.backend
                assert backend is not None
                text = message.get("text")
                if text is not None:
                    if not isinstance(text, str):
                        raise TypeError(f"'text' must be a string, got {type(text).__name__}.")
                    self.sent += _utf8_size(text)
                    self._send_frame(backend.text(text))
                else:
                    data = message.get("bytes")
                    if type(data) is not bytes:
                        if not isinstance(data, (bytes, bytearray, memoryview)):
                            raise TypeError("websocket.send needs 'text' or 'bytes'.")
                        data = bytes(data)
                    self.sent += len(data)
                    self._send_frame(backend.binary(data))
                if self.flow.paused:
                    await self._drain()
                return
            if kind == "websocket.close":
                self._close(_close_code(message.get("code")), _close_reason(message.get("reason")))
                return
            raise RuntimeError(f"Unexpected ASGI message {kind!r} on an open WebSocket.")
        if phase is _HANDSHAKE:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._log_handshake("403")
                self._refuse(403, b"", [])
            elif kind == "websocket.http.response.start":
                self._start_denial(message)
            else:
                raise RuntimeError(
                    "Expected ASGI message 'websocket.accept', 'websocket.close' or "
                    f"'websocket.http.response.start', but got {kind!r}."
                )
            return
        if phase is _RESPONSE:
            if kind != "websocket.http.response.body":
                raise RuntimeError(
                    f"Expected ASGI message 'websocket.http.response.body', but got {kind!r}."
                )
            await self._denial_body(message)
            return
        if kind in _CONNECTION_MESSAGES:  # CLOSING or CLOSED
            raise ClientDisconnected(f"WebSocket is closed; cannot send {kind!r}.")
        raise RuntimeError(f"Unexpected ASGI message {kind!r} on a closed WebSocket.")

    # the app's answers ----------------------------------------------------------

    def _accept(self, message: Message) -> None:
        subprotocol = message.get("subprotocol")
        headers = validate_headers(message.get("headers") or ())
        if subprotocol is not None:
            if not isinstance(subprotocol, str):
                raise TypeError(f"'subprotocol' must be a string, got {subprotocol!r}.")
            validate_headers([(b"sec-websocket-protocol", subprotocol.encode("latin-1"))])
        handshake = self.handshake
        assert handshake is not None
        offer = handshake.extensions if self.settings.per_message_deflate else None
        backend = self.backend = self.backend_factory(self, self.max_size, offer)
        self.transport.write(
            accept_response(
                handshake.accept,
                subprotocol,
                backend.extensions,
                self._default_headers(headers),
                headers,
            )
        )
        self.status = 101
        self.response_headers = headers
        self.phase = _OPEN
        self._log_handshake("[accepted]")
        logger.info("connection open")
        interval = self.settings.ping_interval
        if interval:
            self.ping_due = self.loop.time() + interval
            self._arm()
        if self.pending:
            pending = bytes(self.pending)
            self.pending = bytearray()
            if self.read_paused:
                self._resume_reading()
            self.data_received(pending)

    def _start_denial(self, message: Message) -> None:
        status = message.get("status")
        if type(status) is not int or not 100 <= status <= 599 or status == 101:
            raise ValueError(f"Invalid status {status!r} for a WebSocket denial response.")
        self.response_headers = validate_headers(message.get("headers") or ())
        self.status = status
        self.phase = _RESPONSE
        self._log_handshake(str(status))

    async def _denial_body(self, message: Message) -> None:
        body = message.get("body", b"")
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"'body' must be bytes, got {type(body).__name__}.")
        body = bytes(body)
        more = bool(message.get("more_body", False))
        self.sent += len(body)
        if not self.denial_started:
            self.denial_started = True
            headers = self.response_headers
            default = self._default_headers(headers)
            if more:
                self._write(http_response(self.status, headers, None, default) + body)
            else:
                self._write(http_response(self.status, headers, body, default))
        elif body:
            self._write(body)
        if more:
            if self.flow.paused:
                await self._drain()
            return
        self.phase = _CLOSED
        self.disconnect = (1006, "")
        self._wake()
        if not self.lost:
            self.transport.close()

    def _refuse(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """Answer the upgrade request with an HTTP error and close; no WebSocket was opened."""
        self.status = status
        self.response_headers = headers
        self.phase = _CLOSED
        if self.disconnect is None:
            self.disconnect = (1006, "")
        self._wake()
        if not self.lost:
            self.transport.write(
                http_response(status, headers, body, self.state.encoded_default_headers)
            )
            self.transport.close()

    def _app_returned(self, quiet: bool) -> None:
        phase = self.phase
        if phase is _OPEN:
            self._close(1000, "")
        elif phase is _HANDSHAKE:
            if not quiet:
                logger.error("ASGI callable returned without sending handshake.")
            self._refuse(500, b"Internal Server Error", [_TEXT_PLAIN])
        elif phase is _RESPONSE:
            if not quiet:
                logger.error("ASGI callable returned without completing response.")
            self._abandon_denial()

    def _app_failed(self) -> None:
        phase = self.phase
        if phase is _OPEN:
            self._close(1011, "")
        elif phase is _HANDSHAKE:
            self._refuse(500, b"Internal Server Error", [_TEXT_PLAIN])
        elif phase is _RESPONSE:
            self._abandon_denial()

    def _abandon_denial(self) -> None:
        if not self.denial_started:
            self._refuse(500, b"Internal Server Error", [_TEXT_PLAIN])
            return
        self.phase = _CLOSED
        self.disconnect = (1006, "")
        self._wake()
        if not self.lost:
            self.transport.close()  # the only honest end of a body cut short

    # closing ---------------------------------------------------------------------

    def _close(self, code: int, reason: str) -> None:
        """Start the closing handshake; the peer's echo ends it."""
        backend = self.backend
        assert backend is not None
        self.close_sent = (code, reason)
        self.phase = _CLOSING
        self._write(backend.close(code, reason))
        self.close_due = self.loop.time() + CLOSE_TIMEOUT
        self._arm()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): a close frame, then the TCP close."""
        backend = self.backend
        assert backend is not None
        self.close_sent = (code, reason)
        self.disconnect = (code, reason)
        self.phase = _CLOSED
        self._wake()
        self._write(backend.close(code, reason))
        self._end_tcp()

    def _too_big(self) -> None:
        self.parts = None
        self.fail_with = (1009, "Message too big")
        self.phase = _CLOSED
        self.disconnect = (1009, "Message too big")
        self._wake()

    def _end_tcp(self) -> None:
        """No frame can follow: half-close, so the peer reads everything before it
        sees the end (a full close with unread input would reset the connection)."""
        if self.ending:
            return
        if self.out:
            self._flush()
        self.ending = True
        if self.lost:
            return
        transport = self.transport
        try:
            half_close = transport.can_write_eof()
        except NotImplementedError:
            half_close = False
        if not half_close:
            transport.close()
            return
        transport.write_eof()
        if self.read_paused:
            self._resume_reading()  # to see the peer's end
        self.close_due = self.loop.time() + CLOSE_TIMEOUT
        self._arm()

    def shutdown(self) -> None:
        """Graceful shutdown: 1012 for open sockets, 503 for pending handshakes."""
        phase = self.phase
        if phase is _OPEN:
            self._close(1012, "")
        elif phase is _HANDSHAKE and not self.lost:
            self.disconnect = (1012, "")
            self._refuse(503, b"Service Unavailable", [_TEXT_PLAIN])

    # flow control and timers ----------------------------------------------------

    def _deliver(self, data: str | bytes) -> None:
        if type(data) is str:
            message: Message = {"type": "websocket.receive", "text": data}
        else:
            message = {"type": "websocket.receive", "bytes": data}
        queue = self.queue
        queue.append(message)
        if self.waiter is not None:  # the app waits only for the first of a batch
            self._wake()
        if len(queue) >= self.max_queue and not self.read_paused:
            self._pause_reading()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _send_frame(self, frame: bytes) -> None:
        """Queue a message frame for this iteration's write."""
        out = self.out
        out.append(frame)
        self.out_size += len(frame)
        if self.out_size >= FLUSH_AT:  # big messages go now, and flow control sees them
            self._flush()
        elif len(out) == 1:
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        out = self.out
        if not out:
            return
        data = b"".join(out)
        out.clear()
        self.out_size = 0
        if not self.ending and not self.lost:
            self.transport.write(data)

    def _write(self, data: bytes) -> None:
        """Any frame or bytes but a message: written after the queued messages."""
        if self.out:
            self._flush()
        if data and not self.ending and not self.lost:
            self.transport.write(data)

    async def _drain(self) -> None:
        if not self.lost:
            await self.flow.drain()

    def _pause_reading(self) -> None:
        if not self.read_paused and not self.lost:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and not self.lost:
            self.read_paused = False
            self.transport.resume_reading()

    def _arm(self) -> None:
        """One timer for the keepalive and close deadlines, re-armed lazily: a later
        deadline costs nothing now; the timer re-arms itself when it fires early."""
        deadline = _earliest(self.ping_due, self.pong_due, self.close_due)
        if not deadline:
            return
        timer = self.timer
        if timer is None or deadline < self.timer_at:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline

    def _on_timer(self) -> None:
        self.timer = None
        if self.lost:
            return
        now = self.loop.time()
        if self.close_due and now >= self.close_due:
            self.close_due = 0.0
            self.transport.abort()  # the peer did not finish the closing handshake
            return
        if self.phase is _OPEN:
            settings = self.settings
            if self.pong_due and now >= self.pong_due:
                if self.read_paused:
                    self.pong_due = now + (settings.ping_timeout or 0.0)  # the app is behind
                else:
                    if self.ctx.log_trace:
                        logger.log(5, "%s - WebSocket keepalive ping timeout", _fmt(self.client))
                    self.ping_due = self.pong_due = 0.0
                    self._fail(1011, "keepalive ping timeout")
                    return
            if self.ping_due and now >= self.ping_due:
                self.ping_due = now + (settings.ping_interval or 0.0)
                if not self.pong_due:  # one ping in flight at a time
                    self.pings += 1
                    payload = self.ping_payload = struct.pack("!I", self.pings)
                    backend = self.backend
                    assert backend is not None
                    self._write(backend.ping(payload))
                    if settings.ping_timeout:
                        self.pong_due = now + settings.ping_timeout
        else:
            self.ping_due = self.pong_due = 0.0
        self._arm()

    # helpers -------------------------------------------------------------------------

    def _build_scope(self) -> dict[str, Any]:
        head = self.head
        extensions: dict[str, Any] = {"websocket.http.response": {}}
        if self.tls is not None:
            extensions["tls"] = self.tls
        return {
            "type": "websocket",
            "asgi": self.ctx.asgi_info,
            "http_version": head.http_version,
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": "",
            "path": head.path,
            "raw_path": head.raw_path,
            "query_string": head.query_string,
            "headers": head.headers,
            "subprotocols": [],
            "state": self.app_state.copy(),
            "extensions": extensions,
        }

    def _default_headers(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        has_server = has_date = False
        for name, _ in headers:
            lowered = name.lower()
            if lowered == b"server":
                has_server = True
            elif lowered == b"date":
                has_date = True
        if has_server or has_date:
            return self.state.default_headers_without(has_server, has_date)
        return self.state.encoded_default_headers

    def _log_handshake(self, outcome: str) -> None:
        scope = self.scope
        path = scope["path"]
        query = scope["query_string"]
        if query:
            path = f"{path}?{query.decode('ascii', 'replace')}"
        logger.info('%s - "WebSocket %s" %s', _fmt(scope.get("client")), path, outcome)

    def _finish(self) -> None:
        """Socket and app are both done: count the connection, tell the observers."""
        if self.finished:
            return
        self.finished = True
        self.state.total_requests += 1
        ctx = self.ctx
        if ctx.observers:
            scope = dict(self.scope)
            scope["method"] = self.head.method  # observers print the upgrade request's line
            ctx.report(
                RequestRecord(
                    scope,
                    self.status,
                    self.received,
                    self.sent,
                    self.started_at,
                    perf_counter(),
                    self.response_headers,
                )
            )


_CONNECTION_MESSAGES = frozenset(
    (
        "websocket.send",
        "websocket.close",
        "websocket.accept",
        "websocket.http.response.start",
        "websocket.http.response.body",
    )
)


def _earliest(*deadlines: float) -> float:
    armed = [deadline for deadline in deadlines if deadline]
    return min(armed) if armed else 0.0


def _fmt(addr: Any) -> str:
    return "%s:%d" % (addr[0], addr[1]) if addr else ""
