"""A strict reader for chunked request bodies (RFC 9112 §7.1).

h11 reads chunked bodies leniently: it takes whitespace after the chunk size, an
extension with no name, a size past 64 bits, bare LF line endings and trailer
fields it never checks. llhttp refuses all of those. So that both backends answer
the same bytes alike, the h11 backend hands a chunked body to this reader instead.

The grammar::

    chunked-body   = *chunk last-chunk trailer-section CRLF
    chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    chunk-size     = 1*HEXDIG
    last-chunk     = 1*("0") [ chunk-ext ] CRLF
    chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    trailer-section = *( field-line CRLF )

Whitespace around ``;`` and ``=`` (BWS) is refused, as llhttp refuses it: a
sender "MUST NOT generate" it and no client does. A chunk line is bounded by
:data:`MAX_CHUNK_LINE`, so an endless extension is refused instead of read
forever; trailer fields count against the header limits.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from uvicorn.server.protocols.http.head import HeadError

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.backends.base import RequestSink
    from uvicorn.server.protocols.http.limits import Limits

__all__ = ["MAX_CHUNK_LINE", "ChunkedReader"]

#: The longest chunk-size line (size and extensions) read, in bytes. Extensions
#: carry nothing an ASGI app can see; nginx and Apache bound the line the same way.
MAX_CHUNK_LINE = 4096

_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_chunk_line = re.compile(
    rb"([0-9A-Fa-f]+)(?:;" + _TOKEN + rb"(?:=(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*"
).fullmatch
_field_line = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([\t\x20-\x7e\x80-\xff]*?)[ \t]*").fullmatch

# Fields that frame a message and so cannot arrive after its body (RFC 9110 §6.5.1);
# llhttp refuses them in a trailer section too. Other trailer fields are dropped.
_FORBIDDEN_TRAILERS = frozenset({b"content-length", b"transfer-encoding"})

_SIZE, _DATA, _DATA_END, _TRAILER = range(4)


class ChunkedReader:
    """Turns a chunked body into ``sink.on_body`` calls, raising :class:`HeadError`
    at the first byte that breaks the grammar or a limit."""

    __slots__ = ("_buffer", "_fields", "_limits", "_remaining", "_sink", "_state")

    def __init__(self, sink: RequestSink, limits: Limits) -> None:
        self._sink = sink
        self._limits = limits
        self._state = _SIZE
        self._buffer = b""  # an unfinished line (chunk size, data end or trailer)
        self._remaining = 0  # bytes left in the current chunk's data
        self._fields = 0  # trailer fields seen

    def feed(self, data: bytes) -> bytes | None:
        """Read ``data``; once the body has ended, return the bytes that follow it
        (the next request), else None."""
        position = 0
        end = len(data)
        sink = self._sink
        while True:
            state = self._state
            if state == _DATA:
                if position == end:
                    return None
                take = min(self._remaining, end - position)
                sink.on_body(data[position : position + take] if take != end or position else data)
                position += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _DATA_END
                continue
            if position == end:
                return None
            if state == _DATA_END:
                needed = 2 - len(self._buffer)
                got = self._buffer + data[position : position + needed]
                position += needed
                if got != b"\r\n"[: len(got)]:
                    raise HeadError(400, "Chunk data longer than its size.")
                if len(got) < 2:
                    self._buffer = got
                    return None
                self._buffer = b""
                self._state = _SIZE
                continue
            line_end = data.find(b"\n", position)
            if line_end == -1:
                line = self._buffer + data[position:]
                position = end
                self._check_partial(line)
                self._buffer = line
                return None
            line = self._buffer + data[position : line_end + 1]
            position = line_end + 1
            self._buffer = b""
            if not line.endswith(b"\r\n"):
                raise HeadError(400, "Invalid line ending in chunked body.")
            line = line[:-2]
            if state == _SIZE:
                self._chunk_size(line)
            elif line:
                self._trailer_field(line)
            else:
                return data[position:]

    def _check_partial(self, line: bytes) -> None:
        if self._state == _SIZE:
            if len(line) > MAX_CHUNK_LINE:
                raise HeadError(400, "Chunk extension too long.")
        else:
            limits = self._limits
            bound = limits.field_size + 8 if limits.field_size else limits.max_head
            if len(line) > bound:  # a name, a colon and a few spaces more than the field limit
                raise HeadError(431, "Trailer field too large.")
        if b"\r" in line[:-1]:
            raise HeadError(400, "Invalid line ending in chunked body.")

    def _chunk_size(self, line: bytes) -> None:
        if len(line) > MAX_CHUNK_LINE:
            raise HeadError(400, "Chunk extension too long.")
        match = _chunk_line(line)
        if match is None:
            raise HeadError(400, "Invalid chunk size line.")
        digits = match.group(1).lstrip(b"0")
        if len(digits) > 16:  # llhttp's chunk size is an unsigned 64-bit integer
            raise HeadError(400, "Chunk size too large.")
        size = int(digits, 16) if digits else 0
        if size:
            self._remaining = size
            self._state = _DATA
        else:
            self._state = _TRAILER

    def _trailer_field(self, line: bytes) -> None:
        limits = self._limits
        self._fields += 1
        if limits.fields and self._fields > limits.fields:
            raise HeadError(431, "Too many trailer fields.")
        if line[:1] in (b" ", b"\t"):
            raise HeadError(400, "Obsolete line folding in trailer section.")
        match = _field_line(line)
        if match is None:
            raise HeadError(400, "Invalid trailer field.")
        name, value = match.groups()
        if limits.field_size and len(name) + len(value) > limits.field_size:
            raise HeadError(431, "Trailer field too large.")
        if name.lower() in _FORBIDDEN_TRAILERS:
            raise HeadError(400, "Framing field in trailer section.")
