"""One request/response exchange: the only place that speaks ASGI ``http.*``.

The response side is a small state machine (:class:`ResponseState`)::

    START --http.response.start--> BODY --body, more_body=False--> DONE
                                     |                              ^
                                     +--(trailers=True)--> TRAILERS-+

Any message out of turn is an app error: it is raised from ``send`` so the app
sees it, and the cycle answers 500 (before the response started) or closes the
connection (after). The request side is a buffer the connection fills and
``receive`` drains; once the body is delivered, ``receive`` waits for the
response to finish or the client to leave and then reports ``http.disconnect``.

A whole small response (the one-write path in ``send``) is not written at once: it
is queued on its connection, and :func:`write_outputs` writes the loop iteration's
queued responses together, after the apps that made them have run. Under load that
lets the kernel's send path run for many sockets in a row instead of between two
apps each time, as the reads already are (they come one after the other from the
loop's poll): under wrk, 3-5% less CPU per request on plaintext and about 10% on a
small JSON body (docs/benchmarks.md); writing each response inside the read callback
that parsed it (Python 3.12's eager task start) cost a quarter of the throughput. A
response that is queued still counts as written: the cycle is complete, the
connection takes the next request, and anything the connection writes later, or its
close, comes after it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from typing import TYPE_CHECKING, Any

from uvicorn._types import RequestRecord
from uvicorn.server.protocols.http.framing import (
    CONTINUE,
    HEADER_LINES,
    LAST_CHUNK,
    STATUS_LINES,
    check_framing_headers,
    encode_chunk,
    encode_header,
    encode_trailers,
    error_response,
    explain_headers,
    status_line,
)
from uvicorn.server.protocols.http.head import HEAD_SLOTS
from uvicorn.server.protocols.http.limits import CLOCK_IDLE

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application, Message
    from uvicorn.server.protocols.http.connection import HTTPConnection
    from uvicorn.server.protocols.http.framing import ResponseHeaders

__all__ = ["RequestCycle", "ResponseState"]

# Python 3.11 compiles a method call on a name bound by an import as an attribute
# load and a call: a bound method is made at each call (400 instructions). On these
# names, assigned here, it is a method call.
_HEADER_LINES = HEADER_LINES
_STATUS_LINES = STATUS_LINES

logger = logging.getLogger("uvicorn.error")


class ResponseState(enum.IntEnum):
    START = 0  # waiting for http.response.start
    BODY = 1  # head accepted; http.response.body (or pathsend) expected
    TRAILERS = 2  # final body sent; http.response.trailers expected
    DONE = 3  # response complete; further messages are errors


_START = ResponseState.START
_BODY = ResponseState.BODY
_TRAILERS = ResponseState.TRAILERS
_DONE = ResponseState.DONE

# Framing of the body being sent.
_FRAME_LENGTH = 0  # Content-Length known (declared or computed)
_FRAME_CHUNKED = 1
_FRAME_CLOSE = 2  # HTTP/1.0 stream: the close marks the end
_FRAME_NONE = 3  # HEAD, 1xx, 204, 304: no body on the wire

_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}
# Above this, a body written with its head goes out by writev (writelines) rather than
# copied after it; a chunk of a stream, as one buffer, goes out after the head instead.
_LARGE_BODY = 16384
HIGH_WATER = 65536  # request body bytes buffered before reading pauses
# The most of an unread request body read and dropped after the response so the
# connection can serve another request (Go's net/http uses the same bound); a
# response that starts with more than this still to come says Connection: close.
DISCARD_LIMIT = 262144
# The end of a small whole-body response's head, pre-rendered: formatting the number
# costs more than the rest of the fast path's join.
_LENGTH_LINES_SIZE = 1024
# The statuses whose response has a body and a Content-Length (RFC 9110 §6.4.1,
# §8.6): not 1xx, 204 or 304. One set test, not four comparisons.
_FULL_BODY_STATUSES = frozenset(range(200, 1000)) - {204, 304}
_LENGTH_LINES = [b"content-length: %d\r\n\r\n" % size for size in range(_LENGTH_LINES_SIZE)]


def write_outputs(connections: list[HTTPConnection]) -> None:
    """Write the responses queued in this loop iteration, one write per connection.

    Scheduled by the first response queued (``ServerState.unflushed``, emptied here).
    A connection writes what it queued before anything else it writes, and before it
    closes or hands its socket over (HTTPConnection.flush_output).
    """
    queued = connections[:]
    connections.clear()
    for conn in queued:
        # HTTPConnection.flush_output, inlined (a call per response costs more)
        data = conn.output
        if data:
            conn.output = b""
            if not conn.closed:
                conn.transport.write(data)


class RequestCycle(RequestRecord):
    """Also the request's head and its :class:`RequestRecord`: a backend builds each
    head as one of these (``HTTPConnection.head_type``), and the observers get the
    cycle itself once it is complete. One object per request, not two: a separate
    head cost 2k instructions (its ``__init__``, and the fields copied over).

    There is no ``__init__`` either: build_head makes the object and sets the
    head's fields, and ``HTTPConnection.on_head`` sets the cycle's own (each call
    in between costs 400 instructions a request on 3.11)."""

    __slots__ = (
        *HEAD_SLOTS,
        "body",
        "body_complete",
        "body_delivered",
        "buffered",
        "conn",
        "content_remaining",
        "declared_length",
        "disconnected",
        "framing",
        "no_body",
        "pending",
        "plain",
        "special",
        "state",
        "status_line",
        "task",
        "trailers",
        "waiter",
    )

    # the head's fields, RequestHead's declared again (inheriting the protocol would
    # make this a protocol class to mypy); build_head sets them
    method: str
    raw_path: bytes
    query_string: bytes
    http_version: str
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    expect_continue: bool
    upgrade: bytes | None
    content_length: int | None
    chunked: bool
    has_body: bool
    forwarded: bool
    path: str
    # the request's side, and the response's progress: set by HTTPConnection.on_head
    state: ResponseState
    body: list[bytes] | None  # made by the first chunk: most requests have none
    buffered: int
    body_complete: bool
    body_delivered: bool
    disconnected: bool
    waiter: asyncio.Future[None] | None
    task: asyncio.Task[None] | None
    no_body: bool
    conn: HTTPConnection  # set by the connection, with the scope, once the head is in
    # set by send at http.response.start (framing and content_remaining by
    # _write_first, when its head is written)
    pending: bytes | None  # the encoded header block, until the head is written
    plain: bool
    trailers: bool
    status_line: bytes
    declared_length: int | None
    special: ResponseHeaders | None
    framing: int
    content_remaining: int

    # fed by the connection ------------------------------------------------

    def feed_body(self, chunk: bytes) -> None:
        if self.state is _DONE or self.disconnected:
            return  # nobody will read it
        if self.body is None:
            self.body = [chunk]
        else:
            self.body.append(chunk)
        self.buffered += len(chunk)
        self.request_body_size += len(chunk)
        self._wake()

    def end_body(self) -> None:
        self.body_complete = True
        if self.waiter is not None:
            self._wake()

    def discard(self) -> None:
        """The response is done and the app never read the rest: drop what is held."""
        self.body = None
        self.buffered = 0

    def lost(self) -> None:
        """The client went away: receive() reports a disconnect, send() is a no-op."""
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # the ASGI side ----------------------------------------------------------

    async def run(self, app: ASGI3Application) -> None:
        conn = self.conn
        try:
            if self.state is _DONE:
                return  # refused (broken body framing) before the app could start
            result: object = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if not (isinstance(exc, asyncio.CancelledError) and self.disconnected):
                logger.error("Exception in ASGI application\n", exc_info=exc)
            if self.state is _START and not self.disconnected:
                self._send_error(500, "Internal Server Error")
            elif self.state is not _DONE:
                conn.abort_cycle(self)
        else:
            if result is not None:
                logger.error("ASGI callable should return None, but returned %r.", result)
            state = self.state
            if state is not _DONE and not self.disconnected:  # one test for a finished app
                if state is _START:
                    logger.error("ASGI callable returned without starting response.")
                    self._send_error(500, "Internal Server Error")
                else:
                    logger.error("ASGI callable returned without completing response.")
                    conn.abort_cycle(self)
        finally:
            if self.task is not None:
                conn.state.tasks.discard(self.task)
                self.task = None

    async def receive(self) -> Message:
        if self.expect_continue:
            self.expect_continue = False
            if self.state is _START and not self.disconnected and not self.body_complete:
                self.conn.write(CONTINUE)
        while True:
            if self.disconnected:
                return _DISCONNECT
            body = self.body
            if body:
                data = body[0] if len(body) == 1 else b"".join(body)
                self.body = None
                was_over = self.buffered > HIGH_WATER
                self.buffered = 0
                if was_over:
                    self.conn.body_drained(self)
                more = not self.body_complete
                if not more:
                    self.body_delivered = True
                return {"type": "http.request", "body": data, "more_body": more}
            if self.body_complete and not self.body_delivered:
                self.body_delivered = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.state is _DONE and self.body_delivered:
                return _DISCONNECT
            waiter = self.waiter = self.conn.loop.create_future()
            await waiter

    async def send(self, message: Message) -> None:
        state = self.state
        mtype = message["type"]
        if state is _BODY and mtype == "http.response.body":
            if self.disconnected:
                return
            body = message.get("body", b"")
            more = message.get("more_body", False)
            encoded = self.pending
            if encoded is not None:
                size = len(body)
                if (
                    self.plain
                    and not more
                    and size < _LARGE_BODY
                    and (self.declared_length is None or self.declared_length == size)
                ):
                    # The common response: whole body at once, nothing to negotiate
                    # (a Content-Length the app declared, as frameworks do, is the
                    # body's). One write, head and body. (pending stays: DONE reads none.)
                    self.response_body_size = size
                    conn = self.conn
                    if not conn.closed:
                        data = b"".join(
                            (
                                self.status_line,
                                conn.state.encoded_default_headers,
                                encoded,
                                b"\r\n"
                                if self.declared_length is not None
                                else _LENGTH_LINES[size]
                                if size < _LENGTH_LINES_SIZE
                                else b"content-length: %d\r\n\r\n" % size,
                                body,
                            )
                        )
                        # Queued, and written with the loop iteration's other responses
                        # (write_outputs): see the module's docstring.
                        if conn.output:  # a pipelined response is queued before it
                            conn.output += data
                        else:
                            conn.output = data
                            unflushed = conn.state.unflushed
                            if not unflushed:
                                conn.loop.call_soon(write_outputs, unflushed)
                            unflushed.append(conn)
                    self.state = _DONE
                    if self.waiter is not None:
                        self._wake()
                    if (
                        conn.cycle is self
                        and self.keep_alive
                        and self.body_complete
                        and not (
                            conn.closed
                            or conn.queue
                            or conn.read_paused
                            or conn.pending_error is not None
                            or conn.ctx.observers
                        )
                    ):
                        # HTTPConnection.cycle_complete's common case, inlined (a
                        # call costs 450 instructions): the connection has nothing
                        # else to do and waits for its next request, on its
                        # keep-alive clock.
                        conn.cycle = None
                        conn.served = True
                        conn.state.total_requests += 1
                        # HTTPConnection._go_idle, with set_clock's common case (the
                        # armed timer fires first and re-arms itself) inlined too
                        deadline = conn.loop.time() + conn.ctx.timeout_keep_alive
                        if conn.timer is None or deadline < conn.timer_at:
                            conn.set_clock(CLOCK_IDLE, deadline)
                        else:
                            conn.clock = CLOCK_IDLE
                            conn.deadline = deadline
                    else:
                        conn.cycle_complete(self)
                    if conn.flow.paused:
                        await conn.drain()
                    return
                self._write_first(body, more)
                if not more:
                    self._finish_body()
            elif not more and body and self.framing == _FRAME_CHUNKED and not self.trailers:
                # The last chunk and the end of the body as one buffer, in one write.
                self.response_body_size += len(body)
                self.conn.write(encode_chunk(body, last=True))
                self._complete()
            else:
                if body:
                    self._write_body(body)
                if not more:
                    self._finish_body()
            if self.conn.flow.paused:
                await self.conn.drain()
        elif state is _START:
            if mtype != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{mtype}'."
                )
            # The response starts (inlined: a call costs 400+ instructions on 3.11).
            status = message["status"]
            self.response_headers = raw_headers = message.get("headers", ())
            # noted by encode_header: the app's Content-Length, and anything else that
            # matters for framing (None, and no object made, for most header lists)
            self.declared_length = None
            self.special = None
            # The header block: a pair seen before is one lookup in HEADER_LINES,
            # encode_header checks, notes and encodes the others. (Here, not in a
            # function: a call costs 380 instructions on 3.11.)
            parts = []
            try:
                for pair in raw_headers:
                    try:
                        header_line = _HEADER_LINES.get(pair)
                    except TypeError:  # a list pair is valid ASGI, but not a dict key
                        header_line = None
                    if header_line is None:
                        header_line = encode_header(self, pair)
                    parts.append(header_line)
            except (TypeError, AttributeError, ValueError):
                explain_headers(raw_headers)
                raise
            special = self.special
            if special is not None:
                check_framing_headers(self)
            encoded = b"".join(parts)
            line = _STATUS_LINES.get(status)
            # status_line validates a status not in the table before anything is written
            self.status_line = status_line(status) if line is None else line
            self.status = status
            self.pending = encoded
            if self.keep_alive and not self.body_complete:
                # The app answers before the body is in: unless the rest is small enough
                # to read and drop afterwards, this is the connection's last response.
                # A client still waiting for 100 Continue may never send its body.
                remaining = self.content_length
                if self.expect_continue or (
                    remaining is not None and remaining - self.request_body_size > DISCARD_LIMIT
                ):
                    self.keep_alive = False
            self.expect_continue = False
            self.state = _BODY
            trailers = self.trailers = message.get("trailers", False)
            # eligible for the one-write fast path
            self.plain = (
                special is None  # no header that needs the general path
                and not trailers
                and self.keep_alive
                and not self.no_body
                and status in _FULL_BODY_STATUSES
                and self.http_version == "1.1"
            )
        elif state is _BODY and mtype == "http.response.pathsend":
            await self._pathsend(message)
        elif state is _TRAILERS:
            if mtype != "http.response.trailers":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.trailers', but got '{mtype}'."
                )
            if message.get("more_trailers", False):
                raise RuntimeError("'more_trailers' is not supported; send all trailers at once.")
            if self.disconnected:
                return
            if self.framing == _FRAME_CHUNKED:
                self.conn.write(encode_trailers(message.get("headers", ())))
            self._complete()
        elif state is _DONE:
            if self.disconnected:
                return
            raise RuntimeError(
                f"Unexpected ASGI message '{mtype}' sent, after response already completed."
            )
        else:
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{mtype}'.")

    # response internals -------------------------------------------------------

    def _head(self, encoded: bytes, framing_line: bytes) -> bytes:
        special = self.special
        if special is None:
            defaults = self.conn.state.encoded_default_headers
            app_closes = False
        else:
            defaults = self.conn.default_headers(special.has_server, special.has_date)
            app_closes = special.close
        if app_closes:
            self.keep_alive = False
            connection = b""  # the app's own header already says it
        elif not self.keep_alive:
            connection = b"connection: close\r\n"
        elif self.http_version == "1.0":
            connection = b"connection: keep-alive\r\n"
        else:
            connection = b""
        return b"".join((self.status_line, defaults, encoded, framing_line, connection, b"\r\n"))

    def _write_first(self, body: bytes, more: bool) -> None:
        encoded = self.pending
        assert encoded is not None
        self.pending = None
        special = self.special
        chunked = special is not None and special.chunked
        status = self.status
        if self.no_body or status < 200 or status == 204 or status == 304:
            self.framing = _FRAME_NONE
            framing_line = b""
            if self.no_body:
                # HEAD: the headers a GET would get, no body
                if self.declared_length is None and not more and not chunked:
                    framing_line = b"content-length: %d\r\n" % len(body)
                elif chunked:
                    framing_line = b"transfer-encoding: chunked\r\n"
            self.conn.write(self._head(encoded, framing_line))
            return
        declared = self.declared_length
        if declared is not None:
            self.framing = _FRAME_LENGTH
            self.content_remaining = declared
            head = self._head(encoded, b"")
            self._write_with_head(head, body, counted=True)
            return
        if not more and not chunked and not self.trailers:
            self.framing = _FRAME_LENGTH
            self.content_remaining = len(body)
            head = self._head(encoded, b"content-length: %d\r\n" % len(body))
            self._write_with_head(head, body, counted=True)
            return
        if self.http_version == "1.0":
            self.framing = _FRAME_CLOSE
            self.keep_alive = False
            self._write_with_head(self._head(encoded, b""), body, counted=False)
            return
        self.framing = _FRAME_CHUNKED
        head = self._head(encoded, b"transfer-encoding: chunked\r\n")
        self.response_body_size += len(body)
        if len(body) < _LARGE_BODY:
            self.conn.write(head + encode_chunk(body) if body else head)
        else:
            # A stream of large chunks goes out as the reference server's does: the
            # head alone, then each chunk as one buffer (see encode_chunk).
            self.conn.write(head)
            self.conn.write(encode_chunk(body))

    def _write_with_head(self, head: bytes, body: bytes, counted: bool) -> None:
        if counted:
            self._count(len(body))
        else:
            self.response_body_size += len(body)
        if len(body) < _LARGE_BODY:
            self.conn.write(head + body if body else head)
        else:
            self.conn.writelines((head, body))

    def _count(self, size: int) -> None:
        remaining = self.content_remaining - size
        if remaining < 0:
            raise RuntimeError("Response content longer than Content-Length")
        self.content_remaining = remaining
        self.response_body_size += size

    def _write_body(self, body: bytes) -> None:
        framing = self.framing
        if framing == _FRAME_LENGTH:
            self._count(len(body))
            self.conn.write(body)
        elif framing == _FRAME_CHUNKED:
            self.response_body_size += len(body)
            self.conn.write(encode_chunk(body))
        elif framing == _FRAME_CLOSE:
            self.response_body_size += len(body)
            self.conn.write(body)

    def _finish_body(self) -> None:
        framing = self.framing
        if self.trailers:
            self.state = _TRAILERS  # the last chunk goes out with the trailers
            return
        if framing == _FRAME_CHUNKED:
            self.conn.write(LAST_CHUNK)
        elif framing == _FRAME_LENGTH and self.content_remaining > 0:
            self.keep_alive = False
            self.state = _DONE
            self.conn.abort_cycle(self)
            raise RuntimeError("Response content shorter than Content-Length")
        self._complete()

    def _complete(self) -> None:
        self.state = _DONE
        if self.waiter is not None:
            self._wake()
        self.conn.cycle_complete(self)

    async def _pathsend(self, message: Message) -> None:
        path = message["path"]
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            encoded = self.pending
            if encoded is not None:
                special = self.special
                if self.declared_length is None and (special is None or not special.chunked):
                    self.pending = encoded + b"content-length: %d\r\n" % size
                    self.declared_length = size
                self._write_first(b"", True)
            if self.framing == _FRAME_NONE or self.disconnected:
                self._finish_body()
                return
            if self.framing == _FRAME_LENGTH:
                self._count(size)
            else:
                self.response_body_size += size
            await self.conn.send_file(file, size, chunked=self.framing == _FRAME_CHUNKED)
        self._finish_body()

    def _send_error(self, status: int, message: str) -> None:
        """Answer with a plain error response and close (no keep-alive after an error)."""
        self.keep_alive = False
        self.status = status
        self.state = _DONE
        self.pending = None
        self._wake()
        self.conn.write(error_response(status, message, self.conn.default_headers(False, False)))
        self.conn.cycle_complete(self)
