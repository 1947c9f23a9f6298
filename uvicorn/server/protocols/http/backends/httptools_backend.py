"""Request parsing with httptools (llhttp): callbacks straight into the sink.

llhttp owns the byte-level grammar of a head and :func:`build_head` its framing
rules, but llhttp reports no byte offsets, and it is lenient in two places h11
is not: it takes runs of spaces in the request line and a bare CR or LF before
it, and it skips chunk extensions of any length. So this backend cuts the bytes
into messages itself: it finds each head's end (one ``bytes.find``), checks the
raw request line, and feeds llhttp one head at a time. Bodies never go through
llhttp: a Content-Length body is cut from the reads here and handed on as it
came (a read that is all body, with no copy; llhttp would copy it into its
``on_body``), a chunked body goes to the same strict :class:`ChunkedReader` the
h11 backend uses; either way llhttp gets a fresh parser for the next head. A
request head that arrives whole in one read, the common case, is fed to llhttp
as it came, with no copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httptools

from uvicorn.server.protocols.http.chunked import ChunkedReader
from uvicorn.server.protocols.http.head import HeadError, build_head

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.backends.base import RequestSink
    from uvicorn.server.protocols.http.limits import Limits

__all__ = ["HttpToolsBackend"]

_METHODS: dict[bytes, str] = {}

# What the backend is reading: a head (or the empty lines before one), a body of
# known length (read here, llhttp waiting for it), a chunked body (ChunkedReader
# reads it), or the body of an upgrade request the sink declined (llhttp skipped
# it; read here too).
_HEAD, _BODY, _CHUNKED, _RAW_BODY = range(4)

# The bytes a request line may start with: those of a method token (RFC 9110 §9.1).
_TOKEN_BYTES = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def _method_name(raw: bytes) -> str:
    name = _METHODS.get(raw)
    if name is None:
        name = raw.decode("ascii")
        if len(_METHODS) < 64:
            _METHODS[raw] = name
    return name


class HttpToolsBackend:
    """llhttp stops at an ``Upgrade`` request and reports the offset where the
    other protocol begins. An upgrade the sink does not take is served as plain
    HTTP: parsing resumes there with a fresh parser.
    """

    __slots__ = (
        "_at_head_end",
        "_body_left",
        "_chunked",
        "_field_size",
        "_fields",
        "_head_bytes",
        "_headers",
        "_keep_alive",
        "_limits",
        "_line",
        "_line_size",
        "_mode",
        "_parser",
        "_sink",
        "_stopped",
        "_tail",
        "_upgrading",
        "_url",
    )

    def __init__(self, sink: RequestSink, limits: Limits) -> None:
        self._sink = sink
        self._limits = limits
        # the field limits as bounds to compare with (0, no limit, as no bound)
        self._field_size = limits.field_size or 1 << 62
        self._fields = limits.fields or 1 << 62
        self._mode = _HEAD
        self._head_bytes = 0  # bytes of the unfinished head, counted against max_head
        self._tail = b""  # the last bytes of an unfinished head: its end may straddle reads
        # The request line's check: b"" before it starts, b"\r" after half an empty
        # line, b"\0" + its last byte while it is unfinished, None once checked.
        self._line: bytes | None = b""
        # The request line's length, when it was not checked by _check_line; -1 if it was.
        self._line_size = -1
        self._at_head_end = False  # llhttp's input ends where a head ends
        self._body_left = 0  # bytes of a Content-Length body not yet fed to llhttp
        self._chunked: ChunkedReader | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._stopped = False
        self._keep_alive = True
        self._upgrading = False  # the sink took the connection over at the last head

    def feed(self, data: bytes) -> None:
        size = len(data)
        if self._line == b"" and self._mode == _HEAD and not self._tail:
            # The common case: a read that holds one whole request head and nothing
            # after it, starting with its request line (the checks of _feed_head
            # and _check_line, inlined).
            line_end = data.find(b"\r\n")
            if (
                0 < line_end
                and data.find(b"\r\n\r\n", line_end) == size - 4
                and data[0] in _TOKEN_BYTES
                and size <= self._limits.max_head
                and not self._stopped
            ):
                # No run of spaces in the line is checked once llhttp has parsed it:
                # see on_headers_complete.
                self._line = None
                self._line_size = line_end
                self._head_bytes = size
                self._at_head_end = True
                try:
                    self._parser.feed_data(data)
                except (httptools.HttpParserUpgrade, httptools.HttpParserError) as exc:
                    self._parse_stopped(exc, data, size, data)
                return
        position = 0
        while position < size and not self._stopped:
            mode = self._mode
            if mode == _HEAD:
                position = self._feed_head(data, position, size)
            elif mode == _CHUNKED:
                position = self._feed_chunked(data, position)
            else:  # a body of known length
                take = min(self._body_left, size - position)
                self._body_left -= take
                end = position + take
                # Delivered here, not through llhttp (which would copy it once more
                # into on_body): a read that is all body goes to the app as it came.
                self._sink.on_body(data[position:end] if take != size else data)
                if not self._body_left and not self._stopped:
                    if mode == _BODY:  # llhttp still waits for this body: a fresh one
                        self._parser = httptools.HttpRequestParser(self)
                    self._message_complete()
                position = end

    def _feed_head(self, data: bytes, position: int, size: int) -> int:
        """Feed llhttp the bytes up to and including the end of the next head (or
        all of them, when it has not arrived), after checking the request line."""
        tail = self._tail
        if tail:
            probe = tail + data[position : position + 3]
            found = probe.find(b"\r\n\r\n")
            end = -1 if found == -1 else position + found + 4 - len(tail)
        else:
            end = -1
        if end == -1:
            found = data.find(b"\r\n\r\n", position)
            end = size if found == -1 else found + 4
            complete = found != -1
        else:
            complete = True
        if self._line is not None and not self._check_line(data, position, end):
            return size
        taken = end - position
        self._head_bytes += taken
        if self._head_bytes > self._limits.max_head:
            self._refuse(431, "Request header fields too large.")
            return size
        if complete:
            self._tail = b""
        else:
            self._tail = (tail + data[position:])[-3:]
        self._at_head_end = complete
        self._parse(data[position:end] if taken != size else data, end, data)
        return end

    def _check_line(self, data: bytes, position: int, end: int) -> bool:
        """RFC 9112 §3: one SP between the parts of the request line, and nothing
        but CRLF pairs before it (§2.2). llhttp allows more; h11 does not, so
        neither does this backend. Only the last byte of an unfinished line is
        kept. False when the request was refused."""
        pending = self._line
        if not pending:
            chunk = data
            start = position
            stop = end
            started = False
        else:
            if pending == b"\r":
                chunk = pending + data[position:end]
                started = False
            else:
                chunk = pending[1:] + data[position:end]
                started = True
            start = 0
            stop = len(chunk)
        if not started:
            while chunk.startswith(b"\r\n", start, stop):
                start += 2
            if start == stop:
                self._line = b""
                return True
            if start + 1 == stop and chunk[start] == 13:  # maybe half an empty line
                self._line = b"\r"
                return True
            if chunk[start] not in _TOKEN_BYTES:
                self._refuse(400, "Invalid request line.")
                return False
        line_end = chunk.find(b"\r\n", start, stop)
        if chunk.find(b"  ", start, stop if line_end == -1 else line_end) != -1:
            self._refuse(400, "Invalid request line.")
            return False
        self._line = None if line_end != -1 else b"\0" + chunk[stop - 1 : stop]
        return True

    def _feed_chunked(self, data: bytes, position: int) -> int:
        reader = self._chunked
        assert reader is not None
        try:
            rest = reader.feed(data[position:] if position else data)
        except HeadError as exc:
            self._chunked = None
            self._refuse(exc.status, exc.reason)
            return len(data)
        if rest is None or self._stopped:
            return len(data)
        self._chunked = None
        self._parser = httptools.HttpRequestParser(self)  # llhttp never saw the body
        self._message_complete()
        return len(data) - len(rest)

    def _parse(self, chunk: bytes | memoryview, end: int, data: bytes) -> None:
        """Feed llhttp ``chunk``, the bytes of ``data`` that end at ``end``."""
        try:
            self._parser.feed_data(chunk)
        except (httptools.HttpParserUpgrade, httptools.HttpParserError) as exc:
            self._parse_stopped(exc, chunk, end, data)

    def _parse_stopped(
        self, exc: Exception, chunk: bytes | memoryview, end: int, data: bytes
    ) -> None:
        """llhttp stopped inside ``chunk``: at an upgrade, or at an error."""
        if isinstance(exc, httptools.HttpParserUpgrade):
            offset = exc.args[0] if exc.args else len(chunk)
            rest = bytes(chunk[offset:]) + data[end:]
            if self._upgrading:
                self._upgrading = False
                self._stopped = True
                self._sink.on_upgrade(rest)
                return
            if self._stopped:
                return
            # Declined: serve it as plain HTTP. ``chunk`` ends with the head, so
            # nothing of it is left; feed() goes on with the rest of ``data``.
            self._parser = httptools.HttpRequestParser(self)
            left = bytes(chunk[offset:])
            if left:
                self.feed(left)
        elif not self._stopped:
            self._stopped = True
            # llhttp refuses a well-formed version it does not speak (HTTP/9.9) itself;
            # h11 passes it on and build_head answers 505: answer the same here.
            if exc.args and exc.args[0] == "Invalid HTTP version":
                self._sink.on_error(505, "Unsupported HTTP version.")
            else:
                self._sink.on_error(400, _error_reason(exc))

    def stop(self) -> None:
        self._stopped = True

    # httptools callbacks (no on_message_begin: each head resets the state it used)

    def on_url(self, url: bytes) -> None:
        self._url += url
        limit = self._limits.request_line
        # The line is at least "METHOD SP target SP HTTP/x.y": refuse as soon as that
        # passes the limit, as the h11 backend does, even if the line never ends.
        if limit and len(self._url) + 13 > limit and not self._stopped:
            if len(self._parser.get_method()) + len(self._url) + 10 > limit:
                self._refuse(414, "Request line too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp keeps trailing whitespace, which is not part of the value (RFC 9110 §5.5)
        value = value.rstrip(b" \t")
        headers = self._headers
        headers.append((name.lower(), value))
        if len(name) + len(value) > self._field_size:
            self._refuse(431, "Header field too large.")
        elif len(headers) > self._fields:
            self._refuse(431, "Too many header fields.")

    def _refuse(self, status: int, reason: str) -> None:
        if not self._stopped:
            self._stopped = True
            self._sink.on_error(status, reason)

    def on_headers_complete(self) -> None:
        if self._stopped:
            return
        parser = self._parser
        url = self._url
        headers = self._headers
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        if not self._at_head_end:  # llhttp ended a head where this backend did not
            self._refuse(400, "Invalid line ending in request head.")
            return
        limit = self._limits.request_line
        method = _method_name(parser.get_method())
        if limit and len(method) + len(url) + 10 > limit:  # "METHOD SP target SP HTTP/1.1"
            self._refuse(414, "Request line too long.")
            return
        version = parser.get_http_version()
        line_size = self._line_size
        if line_size >= 0:
            self._line_size = -1
            # "METHOD SP target SP HTTP/x.y" (or "METHOD SP target" for 0.9) is this
            # long exactly when llhttp skipped no extra spaces (RFC 9112 §3).
            if line_size != len(method) + len(url) + (1 if version == "0.9" else 10):
                self._refuse(400, "Invalid request line.")
                return
        try:
            head = build_head(method, url, version, headers)
        except HeadError as exc:
            self._stopped = True
            self._sink.on_error(exc.status, exc.reason)
            return
        self._keep_alive = head.keep_alive
        if head.chunked:
            self._mode = _CHUNKED
            self._chunked = ChunkedReader(self._sink, self._limits)
        elif head.content_length:
            # llhttp skips the body of any request it takes for an upgrade
            self._mode = _RAW_BODY if parser.should_upgrade() else _BODY
            self._body_left = head.content_length
        if self._sink.on_head(head):
            self._upgrading = True  # llhttp stops at the end of this request: see _parse()
        elif self._mode == _HEAD and not self._stopped:
            # No body: the request is complete with its head. (llhttp would say so
            # in on_message_complete, a callback into Python per request; bodies
            # never reach llhttp, so that callback has nothing else to report and
            # the class has none.)
            self._message_complete()

    def on_body(self, body: bytes) -> None:
        if not self._stopped:
            self._sink.on_body(body)

    def _message_complete(self) -> None:
        self._mode = _HEAD
        self._line = b""
        if not self._keep_alive:
            self._stopped = True
        self._sink.on_end()


def _error_reason(exc: Exception) -> str:
    return f"{exc}." if exc.args else "malformed request."
