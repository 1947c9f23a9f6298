"""Request parsing with h11, used as a pure parser.

h11 is a full HTTP state machine and will not parse a second request until it
has seen our response to the first. Responses here are serialised by the core
(``framing.py``), so instead of showing h11 a response it never writes, a fresh
``h11.Connection`` takes over the bytes left after each request
(``trailing_data``): pipelined requests parse at once, in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h11

from uvicorn.server.protocols.http.chunked import ChunkedReader
from uvicorn.server.protocols.http.head import HeadError, build_head, check_raw_head

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.backends.base import RequestSink
    from uvicorn.server.protocols.http.limits import Limits

__all__ = ["H11Backend"]

_NEED_DATA = h11.NEED_DATA
_PAUSED = h11.PAUSED
_Request = h11.Request
_Data = h11.Data
_EndOfMessage = h11.EndOfMessage


class H11Backend:
    """h11 unfolds obs-fold, merges repeated Content-Length and takes bare LF line
    endings, all of which llhttp refuses; so each request head is also checked
    as raw bytes (:func:`check_raw_head`) before h11 sees it complete. Its
    chunked-body reader is laxer still, so a chunked body is read by
    :class:`ChunkedReader` instead, from the bytes h11 left after the head.
    """

    __slots__ = (
        "_body",
        "_chunked",
        "_conn",
        "_head",
        "_head_cap",
        "_keep_alive",
        "_limits",
        "_max_size",
        "_sink",
        "_stopped",
        "_upgrading",
    )

    def __init__(self, sink: RequestSink, limits: Limits) -> None:
        self._sink = sink
        self._limits = limits
        self._max_size = limits.h11_max_incomplete_event_size
        # h11 only ever sees complete heads, so its incomplete-event bound is applied here.
        self._head_cap = min(limits.max_head, self._max_size)
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_size)
        self._stopped = False
        self._keep_alive = True
        self._body = False  # the current request's head announced a body
        self._upgrading = False  # the sink took the connection over at the last head
        self._head: bytes | None = b""  # bytes of the head being received; None in a body
        self._chunked: ChunkedReader | None = None  # reading a chunked body

    def _take_head(self, data: bytes) -> bytes | None:
        """Accumulate head bytes; h11 sees a head only once it is complete and
        checked raw, without the empty lines that may precede it (RFC 9112 §2.2:
        a server SHOULD ignore them; h11 would refuse them). Returns the bytes
        for h11 (the head and whatever followed it), or None: incomplete or refused.
        """
        head = self._head + data if self._head else data
        start = 0
        while head.startswith(b"\r\n", start):
            start += 2
        end = head.find(b"\r\n\r\n", start)
        # Only the head is searched for a bare-LF ending, never the body after it.
        lf_end = head.find(b"\n\n", start, len(head) if end == -1 else end + 2)
        limits = self._limits
        if lf_end != -1:
            error = HeadError(400, "Invalid line ending in request head.")
        elif end == -1:
            size = len(head) - start
            if limits.request_line and size > limits.request_line:
                line_end = head.find(b"\r\n", start)
                if line_end == -1:  # the line so far, less a CR whose LF may follow
                    line_end = len(head) - 1 if head.endswith(b"\r") else len(head)
                if line_end - start > limits.request_line:
                    self._fail(HeadError(414, "Request line too long."))
                    return None
            if size > self._head_cap:
                self._fail(HeadError(431, "Request header fields too large."))
                return None
            self._head = head[start:] if start else head
            return None
        else:
            try:
                check_raw_head(head[start:end], limits)
            except HeadError as exc:
                error = exc
            else:
                self._head = None
                return head[start:] if start else head
        self._fail(error)
        return None

    def _fail(self, error: HeadError) -> None:
        self._stopped = True
        self._sink.on_error(error.status, error.reason)

    def feed(self, data: bytes) -> None:
        if self._stopped:
            return
        if self._chunked is not None:
            ready = self._feed_chunked(data)
            if ready is None:
                return
            data = ready
        elif self._head is not None:
            ready = self._take_head(data)
            if ready is None:
                return
            data = ready
        conn = self._conn
        conn.receive_data(data)
        sink = self._sink
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                self._stopped = True
                status = exc.error_status_hint
                sink.on_error(status, _reason(status, exc))
                return
            if event is _NEED_DATA:
                return
            event_type = type(event)
            if event_type is _Data:
                sink.on_body(event.data)  # type: ignore[union-attr]
            elif event_type is _Request:
                try:
                    head = build_head(
                        event.method.decode("ascii"),  # type: ignore[union-attr]
                        event.target,  # type: ignore[union-attr]
                        event.http_version.decode("ascii"),  # type: ignore[union-attr]
                        list(event.headers),  # type: ignore[union-attr]
                        sink.head_type,
                    )
                except HeadError as exc:
                    self._stopped = True
                    sink.on_error(exc.status, exc.reason)
                    return
                self._keep_alive = head.keep_alive
                self._body = head.has_body
                self._upgrading = sink.on_head(head)
                if head.chunked and not self._stopped:
                    self._chunked = ChunkedReader(sink, self._limits)
                    trailing = self._feed_chunked(conn.trailing_data[0])
                    if trailing is None:
                        return
                    conn = self._conn
                    conn.receive_data(trailing)
            elif event_type is _EndOfMessage:
                trailing = self._end(conn.trailing_data[0])
                if trailing is None:
                    return
                conn = self._conn
                conn.receive_data(trailing)
            elif event is _PAUSED:
                return
            else:  # ConnectionClosed: the core learns of it through connection_lost
                return

    def _feed_chunked(self, data: bytes) -> bytes | None:
        """Read chunked body bytes; as :meth:`_end`, once the body has ended."""
        reader = self._chunked
        assert reader is not None
        try:
            rest = reader.feed(data)
        except HeadError as exc:
            self._chunked = None
            self._fail(exc)
            return None
        if rest is None or self._stopped:
            return None
        self._chunked = None
        return self._end(rest)

    def _end(self, trailing: bytes) -> bytes | None:
        """The current request has ended with ``trailing`` after it: tell the sink
        (if it had a body: one without was complete at on_head) and set up for the
        next request. Returns the checked bytes of the next
        head for the fresh h11 connection to parse, or None when there are none."""
        sink = self._sink
        if self._upgrading:
            self._stopped = True
            sink.on_upgrade(trailing)
            return None
        if not self._keep_alive:
            self._stopped = True
            if self._body:
                sink.on_end()
            return None
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_size)
        self._head = b""
        if self._body:
            sink.on_end()
        if self._stopped or not trailing:
            return None
        return self._take_head(trailing)

    def stop(self) -> None:
        self._stopped = True


def _reason(status: int, exc: h11.RemoteProtocolError) -> str:
    if status == 431:
        return "Request header fields too large."
    if status == 501:
        return "Unsupported Transfer-Encoding."
    return f"{exc}." if exc.args else "malformed request."
