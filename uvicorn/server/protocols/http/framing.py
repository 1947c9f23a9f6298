"""Response serialisation, done once for both backends.

The status line table and the default header block are pre-encoded, so a typical
response head is built with one ``join`` over the app's headers. Framing follows
RFC 9112 §6: a declared Content-Length is honoured (and enforced); a response
whose whole body arrives in its first body message gets a Content-Length; a
streamed body is sent chunked to HTTP/1.1 clients and close-delimited to
HTTP/1.0 ones. HEAD responses and 1xx/204/304 carry no body.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Protocol

__all__ = [
    "CONTINUE",
    "HEADER_LINES",
    "STATUS_LINES",
    "HeaderFacts",
    "ResponseHeaders",
    "check_framing_headers",
    "encode_chunk",
    "encode_header",
    "error_response",
    "explain_headers",
    "status_line",
]

STATUS_LINES: dict[int, bytes] = {
    int(status): b"HTTP/1.1 %d %s\r\n" % (status, status.phrase.encode("ascii"))
    for status in HTTPStatus
}

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"

# RFC 9110 §5.1: field-name = token; §5.5: field values never carry CR, LF or NUL.
_is_token = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_has_bad_value_byte = re.compile(rb"[\x00\r\n]").search


def status_line(status: int) -> bytes:
    line = STATUS_LINES.get(status)
    if line is None:
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise RuntimeError(f"Invalid HTTP status code {status!r} in response.")
        line = b"HTTP/1.1 %d \r\n" % status
    return line


class ResponseHeaders:
    """What an app's header list says beyond its encoded bytes and Content-Length:
    made only for a list with a Connection, Transfer-Encoding, Server or Date
    header, which take a response off the one-write path (most lists have none,
    and then no object is made)."""

    __slots__ = ("chunked", "close", "has_date", "has_server")

    def __init__(self) -> None:
        self.chunked = False
        self.close = False
        self.has_server = False
        self.has_date = False


class HeaderFacts(Protocol):
    """Where :func:`encode_header` notes what it found (a response's cycle): both
    set to None before its first header."""

    declared_length: int | None
    special: ResponseHeaders | None


class _Facts:
    __slots__ = ("declared_length", "special")

    def __init__(self) -> None:
        self.declared_length: int | None = None
        self.special: ResponseHeaders | None = None


_CONTENT_LENGTH, _CONNECTION, _TRANSFER_ENCODING, _SERVER, _DATE = range(5)
_SPECIAL = {
    b"content-length": _CONTENT_LENGTH,
    b"connection": _CONNECTION,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"server": _SERVER,
    b"date": _DATE,
}

# Encoded lines of (name, value) pairs already validated, for the headers an app
# sends with every response (content-type, cache-control, ...): a hit costs one
# dict lookup instead of lower-casing, classifying and two regex matches. Only
# pairs that say nothing about framing are kept, and at most _LINES_MAX of them,
# so values that vary (cookies, ETags) stop being added once it is full. The
# response's header loop (RequestCycle.send) looks a pair up here first and calls
# encode_header for the rest; a pair that is a list (valid ASGI) is no dict key,
# and goes to encode_header too.
HEADER_LINES: dict[tuple[bytes, bytes], bytes] = {}
# Content-Length pairs as encode_header found them: (line, length), as many again.
_LENGTH_HEADERS: dict[tuple[bytes, bytes], tuple[bytes, int]] = {}
_LINES_MAX = 512


def encode_header(facts: HeaderFacts, pair: Any) -> bytes:
    """One header HEADER_LINES did not know: checked, noted, encoded (b"" for a
    Transfer-Encoding, which the framing code writes itself).

    Raises RuntimeError on anything that could split the response or break its
    framing; the cycle turns that into a 500 and a logged traceback. A pair that
    is not two items fails in unpacking (TypeError, ValueError): the caller turns
    that into the precise error with :func:`explain_headers`.
    """
    # A Content-Length pair seen before: its line and its value, checked already.
    # Frameworks send one with nearly every response (and bodies of a few sizes):
    # a hit costs a third of parsing it again.
    length_header = _LENGTH_HEADERS.get(pair) if type(pair) is tuple else None
    if length_header is None:
        name, value = pair
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            explain_headers((pair,))
        kind = _SPECIAL.get(name.lower())
        if kind is None:
            if _is_token(name) is None or _has_bad_value_byte(value) is not None:
                explain_headers((pair,))
            line = b"%b: %b\r\n" % (name, value)
            if len(HEADER_LINES) < _LINES_MAX and type(name) is bytes and type(value) is bytes:
                HEADER_LINES[(name, value)] = line
            return line
        # A name that lower-cases to one of _SPECIAL's is a token already.
        if kind != _CONTENT_LENGTH:
            return _encode_special(facts, kind, name, value, pair)
        if value.isdigit():  # what frameworks send: no byte to refuse, no regex, no strip
            length = int(value)
        else:
            if _has_bad_value_byte(value) is not None:
                explain_headers((pair,))
            if not value.strip().isdigit():
                raise RuntimeError(f"Invalid Content-Length header {value!r} in response.")
            length = int(value)
        length_header = (b"%b: %b\r\n" % (name, value), length)
        if len(_LENGTH_HEADERS) < _LINES_MAX and type(name) is bytes and type(value) is bytes:
            _LENGTH_HEADERS[(name, value)] = length_header
    line, length = length_header
    declared = facts.declared_length
    if declared is not None and declared != length:
        raise RuntimeError(f"Invalid Content-Length header {line!r} in response.")
    facts.declared_length = length
    return line


def _encode_special(facts: HeaderFacts, kind: int, name: bytes, value: bytes, pair: Any) -> bytes:
    """A Transfer-Encoding, Connection, Server or Date header: noted on the
    response's :class:`ResponseHeaders`, which takes it off the one-write path."""
    special = facts.special
    if special is None:
        special = facts.special = ResponseHeaders()
    if kind == _TRANSFER_ENCODING:
        if value.strip().lower() != b"chunked":
            raise RuntimeError(
                f"Unsupported Transfer-Encoding {value!r} in response; only chunked is implemented."
            )
        special.chunked = True
        return b""  # written by the framing code, once
    if _has_bad_value_byte(value) is not None:
        explain_headers((pair,))
    if kind == _CONNECTION:
        if b"close" in value.lower():
            special.close = True
    elif kind == _SERVER:
        special.has_server = True
    else:
        special.has_date = True
    return b"%b: %b\r\n" % (name, value)


def explain_headers(headers: Any) -> None:
    """Raise the precise error for a header list that failed the fast checks."""
    for item in headers:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise RuntimeError(
                f"Invalid HTTP header {item!r}: expected a (name, value) pair."
            ) from None
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise RuntimeError(
                f"Invalid HTTP header {(name, value)!r}: names and values must be bytes."
            )
        if _is_token(name) is None:
            raise RuntimeError(f"Invalid HTTP header name {name!r}.")
        if _has_bad_value_byte(value) is not None:
            raise RuntimeError(f"Invalid HTTP header value {value!r}.")
    raise RuntimeError(f"Invalid HTTP headers {headers!r}.")


def encode_chunk(data: bytes, last: bool = False) -> bytes:
    """One chunk (RFC 9112 §7.1), and the last-chunk after it when ``last``: one
    buffer, copied, rather than pieces for writev. With uvloop on Linux, a stream of
    64 KiB chunks written as three pieces each (size line, data, CRLF) woke the client
    three times as often and took twice the server's CPU time per response (see
    docs/benchmarks.md)."""
    if last:
        return b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data)
    return b"%x\r\n%b\r\n" % (len(data), data)


def check_framing_headers(facts: HeaderFacts) -> None:
    """After a header block: the framing it declares must be one (RFC 9112 §6.2).
    Only a block with a Transfer-Encoding can break it (``facts.special`` set)."""
    special = facts.special
    if special is not None and special.chunked and facts.declared_length is not None:
        raise RuntimeError("Response has both Content-Length and Transfer-Encoding headers.")


def encode_trailers(headers: Any) -> bytes:
    facts = _Facts()
    try:
        lines = [encode_header(facts, pair) for pair in headers]
    except (TypeError, AttributeError, ValueError):
        explain_headers(headers)
        raise
    check_framing_headers(facts)
    return b"0\r\n" + b"".join(lines) + b"\r\n"


def error_response(status: int, message: str, default_headers: bytes) -> bytes:
    """A complete plain-text response that also announces the close."""
    body = message.encode("utf-8")
    return b"".join(
        (
            status_line(status),
            default_headers,
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        )
    )
