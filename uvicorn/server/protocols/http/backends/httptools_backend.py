"""Request parsing with httptools (llhttp) as the validator, the head read here.

llhttp checks every byte of a request head (its grammar is stricter and faster
than anything written in Python), but each of its callbacks into Python costs
more than the work it reports: a field handed over by ``on_header`` cost 3,200
instructions, ``on_url`` 1,500. So llhttp gets no callbacks at all. This
backend cuts the bytes into messages itself: it finds each head's end (a read
that is one whole head, the common case, shows it in its lines), checks the raw
request line (llhttp takes runs of spaces in it and a bare CR or LF before it;
h11 does not, so neither does this backend), feeds llhttp the head, and once
llhttp has accepted it, splits the same bytes into the request line and fields
(llhttp refuses a bare CR or LF, so its lines and ``split(b"\r\n")``'s are the
same) for :func:`build_head`. Bodies never go through llhttp: a Content-Length
body is cut from the reads here and handed on as it came (a read that is all
body, with no copy), a chunked body goes to the same strict
:class:`ChunkedReader` the h11 backend uses; either way llhttp gets a fresh
parser for the next head. A request head that arrives whole in one read, the
common case, is neither copied nor kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httptools

from uvicorn.server.protocols.http.chunked import ChunkedReader
from uvicorn.server.protocols.http.head import KNOWN_METHODS, HeadError, build_head

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.backends.base import RequestSink
    from uvicorn.server.protocols.http.limits import Limits

__all__ = ["HttpToolsBackend"]

# The methods both backends serve (llhttp also reads PRI, the start of the HTTP/2
# preface, and pauses there; h11 refuses it as an unknown method: so does this one).
_METHODS = {method.encode(): method for method in KNOWN_METHODS}

# HTTP versions as build_head wants them; others are decoded (and refused there).
_HTTP_11 = "1.1"
_VERSIONS = {b"HTTP/1.1": _HTTP_11, b"HTTP/1.0": "1.0"}

# What the backend is reading: a head (or the empty lines before one), a body of
# known length (read here), or a chunked body (ChunkedReader reads it).
_HEAD, _BODY, _CHUNKED = range(3)

# The bytes a request line may start with: those of a method token (RFC 9110 §9.1).
_TOKEN_BYTES = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


class _NoCallbacks:
    """llhttp's protocol object: it has none of the callbacks httptools looks
    for, so llhttp parses without calling into Python."""

    __slots__ = ()


_NO_CALLBACKS = _NoCallbacks()


def _new_parser() -> httptools.HttpRequestParser:
    return httptools.HttpRequestParser(_NO_CALLBACKS)


class HttpToolsBackend:
    """llhttp stops at an ``Upgrade`` request. An upgrade the sink takes gets the
    bytes after the head; one it declines is served as plain HTTP, with a fresh
    parser for what follows.
    """

    __slots__ = (
        "_body_left",
        "_chunked",
        "_field_size",
        "_fields",
        "_head_bytes",
        "_head_type",
        "_keep_alive",
        "_limits",
        "_line",
        "_line_limit",
        "_line_size",
        "_mode",
        "_parser",
        "_parts",
        "_sink",
        "_small_head",
        "_stopped",
        "_tail",
        "_upgrading",
    )

    def __init__(self, sink: RequestSink, limits: Limits) -> None:
        self._sink = sink
        self._head_type = sink.head_type
        self._limits = limits
        # the limits as bounds to compare with (0, no limit, as no bound)
        self._line_limit = limits.request_line or 1 << 62
        self._field_size = limits.field_size or 1 << 62
        self._fields = limits.fields or 1 << 62
        # A head no larger than this is within both field limits: each field line
        # takes at least 4 of its bytes (a name, a colon, CRLF).
        self._small_head = min(self._field_size, 4 * self._fields)
        self._mode = _HEAD
        self._head_bytes = 0  # bytes of the unfinished head, counted against max_head
        self._parts: list[bytes] = []  # the unfinished head's bytes, read by read
        self._tail = b""  # the last bytes of an unfinished head: its end may straddle reads
        # The request line's check: b"" before it starts, b"\r" after half an empty
        # line, b"\0" + its last byte while it is unfinished, None once checked.
        self._line: bytes | None = b""
        self._line_size = 0  # bytes of the unfinished request line so far
        self._body_left = 0  # bytes of a Content-Length body not yet read
        self._chunked: ChunkedReader | None = None
        self._parser = _new_parser()
        self._stopped = False
        self._keep_alive = True
        self._upgrading = False  # the sink took the connection over at the last head

    def feed(self, data: bytes) -> None:
        size = len(data)
        if self._line == b"" and self._mode == _HEAD and not self._tail:
            # The common case: a read that holds one whole request head and nothing
            # after it, starting with its request line, within the limits (the checks
            # of _feed_head and _check_line, inlined; a run of spaces in the line is
            # refused by _head, which splits it). A read that ends with an empty line
            # is split into lines; it holds one head and nothing after it when no
            # line before its last two is empty. (bytes.find parses its arguments the
            # slow way: this costs half as much, and a body, whose read seldom ends
            # with an empty line, is not split.)
            if (
                data[-4:] == b"\r\n\r\n"
                and data[0] in _TOKEN_BYTES
                and size <= self._limits.max_head
                and not self._stopped
            ):
                lines = data.split(b"\r\n")
                if len(lines[0]) <= self._line_limit:
                    fields = lines[1:-2]
                    if b"" not in fields:
                        try:
                            self._parser.feed_data(data)
                        except httptools.HttpParserUpgrade:
                            self._head(data, lines[0], fields, True)
                        except httptools.HttpParserError as exc:
                            self._head(data, lines[0], fields, False, exc)
                        else:
                            self._head(data, lines[0], fields, False)
                        if self._upgrading:
                            self._upgrade(b"")
                        return
        position = 0
        while position < size and not self._stopped:
            if self._mode == _HEAD:
                position = self._feed_head(data, position, size)
            elif self._mode == _CHUNKED:
                position = self._feed_chunked(data, position)
            else:  # a body of known length
                take = min(self._body_left, size - position)
                self._body_left -= take
                end = position + take
                # A read that is all body goes to the app as it came.
                self._sink.on_body(data[position:end] if take != size else data)
                if not self._body_left and not self._stopped:
                    self._message_complete()
                position = end

    def _feed_head(self, data: bytes, position: int, size: int) -> int:
        """Take the bytes up to and including the end of the next head (or all of
        them, when it has not arrived), after checking the request line; llhttp
        checks them as they come."""
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
        piece = data[position:end] if taken != size else data
        self._parts.append(piece)
        upgrade = False
        error = None
        try:
            self._parser.feed_data(piece)
        except httptools.HttpParserUpgrade:
            upgrade = True  # only ever at the end of a head: llhttp read no further
        except httptools.HttpParserError as exc:
            if not complete or self._line is not None:
                self._llhttp_refused(exc)
                return size
            error = exc  # maybe at the head's end, where build_head answers first
        if not complete:
            self._tail = (tail + piece)[-3:]
            return size
        head = b"".join(self._parts) if len(self._parts) > 1 else piece
        self._parts.clear()
        self._tail = b""
        self._head_bytes = 0
        if self._line is not None:  # only empty lines so far: no head yet
            return end
        if head[0] == 13:  # empty lines before the request line (CRLF only: _check_line)
            head = head.lstrip(b"\r\n")
        lines = head.split(b"\r\n")
        self._head(head, lines[0], lines[1:-2], upgrade, error)
        if self._upgrading:
            self._upgrade(data[end:])
            return size
        return end

    def _check_line(self, data: bytes, position: int, end: int) -> bool:
        """RFC 9112 §3: one SP between the parts of the request line, and nothing
        but CRLF pairs before it (§2.2). llhttp allows more; h11 does not, so
        neither does this backend. A line over ``--limit-request-line`` is refused
        as soon as it is, as the h11 backend does. Only the last byte of an
        unfinished line is kept. False when the request was refused."""
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
            self._line_size = 0
        line_end = chunk.find(b"\r\n", start, stop)
        # the line's bytes so far (the kept last byte, when there was one, counted once)
        size = self._line_size + (stop if line_end == -1 else line_end) - start - started
        if line_end == -1 and chunk[stop - 1] == 13:
            size -= 1  # a CR whose LF may follow
        if size > self._line_limit:
            self._refuse(414, "Request line too long.")
            return False
        if chunk.find(b"  ", start, stop if line_end == -1 else line_end) != -1:
            self._refuse(400, "Invalid request line.")
            return False
        if line_end == -1:
            self._line = b"\0" + chunk[stop - 1 : stop]
            self._line_size = size + (chunk[stop - 1] == 13)
        else:
            self._line = None
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
        self._message_complete()
        return len(data) - len(rest)

    def _llhttp_refused(self, exc: httptools.HttpParserError) -> None:
        # llhttp refuses a well-formed version it does not speak (HTTP/9.9) itself;
        # h11 passes it on and build_head answers 505: answer the same here.
        if exc.args and exc.args[0] == "Invalid HTTP version":
            self._refuse(505, "Unsupported HTTP version.")
        else:
            self._refuse(400, _error_reason(exc))

    def _upgrade(self, rest: bytes) -> None:
        """The sink took the connection over at the last head: hand it the rest."""
        self._upgrading = False
        self._stopped = True
        self._sink.on_upgrade(rest)

    def stop(self) -> None:
        self._stopped = True

    def _refuse(self, status: int, reason: str) -> None:
        if not self._stopped:
            self._stopped = True
            self._sink.on_error(status, reason)

    def _head(
        self,
        head: bytes,
        line: bytes,
        fields: list[bytes],
        upgrade: bool,
        error: httptools.HttpParserError | None = None,
    ) -> None:
        """llhttp read ``head``, its request ``line`` and its ``fields`` (the lines
        between that and the empty line, as split at each CRLF): it accepted them
        (and stopped there for a protocol switch, if ``upgrade``), or refused them
        with ``error``. A refusal of this backend or of :func:`build_head` comes
        first: llhttp judges a head's framing fields only once it has read them all,
        and refuses some heads there that build_head answers with its own status (an
        unsupported Transfer-Encoding is a 501, not a 400). Any earlier refusal of
        llhttp's stands."""
        if error is not None and not _refused_at_end(head):
            self._llhttp_refused(error)
            return
        try:
            # the request line and fields, split from the bytes llhttp checked
            try:
                method, target, protocol = line.split(b" ")
            except ValueError:
                parts = line.split(b" ")
                if len(parts) != 2:  # runs of spaces, which llhttp skips
                    raise HeadError(400, "Invalid request line.") from None
                method, target = parts  # "GET /": llhttp reads it as HTTP/0.9
                version = "0.9"
            else:
                # (an equality test costs less than hashing the fresh bytes)
                known = _HTTP_11 if protocol == b"HTTP/1.1" else _VERSIONS.get(protocol)
                if known is not None:
                    version = known
                elif protocol[:5] != b"HTTP/":  # llhttp also reads RTSP/1.0
                    raise HeadError(400, "Invalid request line.")
                else:
                    version = protocol[5:].decode("latin-1")
            if fields:
                if len(head) > self._small_head:
                    if len(fields) > self._fields:
                        raise HeadError(431, "Too many header fields.")
                    if len(head) > self._field_size:  # else no field can be over it
                        _check_field_sizes(fields, self._field_size)
                # llhttp skips the whitespace before a value, not the one after
                # (neither is part of it: RFC 9110 §5.5). It refuses every control byte
                # but HTAB in a value, so strip() (ASCII whitespace, and no argument to
                # take as a buffer) strips only SP and HTAB here.
                headers = []
                for field in fields:
                    name, _, value = field.partition(b":")
                    headers.append((name.lower(), value.strip()))
            else:
                headers = []
            method_name = "GET" if method == b"GET" else _METHODS.get(method)
            if method_name is None:
                raise HeadError(400, "Unknown request method.")
            request = build_head(method_name, target, version, headers, self._head_type)
        except HeadError as exc:
            self._refuse(exc.status, exc.reason)
            return
        if error is not None:
            self._llhttp_refused(error)
            return
        self._keep_alive = request.keep_alive
        if request.has_body:
            if request.chunked:
                self._mode = _CHUNKED
                self._chunked = ChunkedReader(self._sink, self._limits)
            else:
                self._mode = _BODY
                self._body_left = request.content_length or 0  # set, with has_body
            # llhttp waits for a body it will never see: the next head gets a fresh parser
            self._parser = _new_parser()
        elif upgrade:  # llhttp stopped at the upgrade: so does this parser
            self._parser = _new_parser()
        if self._sink.on_head(request):
            self._upgrading = True
        elif self._mode == _HEAD:
            # No body: the request was complete at on_head (no on_end for it)
            self._line = b""
            if not self._keep_alive:
                self._stopped = True

    def _message_complete(self) -> None:
        self._mode = _HEAD
        self._line = b""
        if not self._keep_alive:
            self._stopped = True
        self._sink.on_end()


def _check_field_sizes(fields: list[bytes], limit: int) -> None:
    """``--limit-request-field-size``: a field's name and value, whitespace around the
    value not counted (as the h11 backend counts them)."""
    for field in fields:
        name, _, value = field.partition(b":")
        if len(name) + len(value.strip()) > limit:
            raise HeadError(431, "Header field too large.")


def _refused_at_end(head: bytes) -> bool:
    """Whether llhttp, which refused ``head``, accepts all of it but its final CRLF
    (the error path only: it parses the head again)."""
    try:
        _new_parser().feed_data(head[:-2])
    except httptools.HttpParserError:
        return False
    return True


def _error_reason(exc: Exception) -> str:
    return f"{exc}." if exc.args else "malformed request."
