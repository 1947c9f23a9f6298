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
from typing import Any

__all__ = [
    "CONTINUE",
    "STATUS_LINES",
    "ResponseHeaders",
    "encode_chunk",
    "encode_headers",
    "error_response",
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
    """What the app's header list says about framing, and its encoded bytes."""

    __slots__ = (
        "chunked",
        "close",
        "content_length",
        "encoded",
        "has_date",
        "has_server",
        "special",
    )

    def __init__(self) -> None:
        self.encoded = b""
        self.content_length: int | None = None
        self.chunked = False
        self.close = False
        self.has_server = False
        self.has_date = False
        # a header above other than content_length: framing needs the general path
        self.special = False


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
# so values that vary (cookies, ETags) stop being added once it is full.
_LINES: dict[tuple[bytes, bytes], bytes] = {}
_LINES_MAX = 512


def encode_headers(headers: Any) -> ResponseHeaders:
    """Validate and encode the app's headers (an iterable of byte pairs).

    Raises RuntimeError on anything that could split the response or break its
    framing; the cycle turns that into a 500 and a logged traceback.
    """
    result = ResponseHeaders()
    parts: list[bytes] = []
    lines = _LINES
    try:
        for pair in headers:
            try:
                line = lines.get(pair)
            except TypeError:  # a list pair is valid ASGI, but not a dict key
                line = None
            if line is None:
                line = _encode_pair(result, pair)
            parts.append(line)
    except (TypeError, AttributeError, ValueError):
        _explain(headers)
        raise
    if result.chunked and result.content_length is not None:
        raise RuntimeError("Response has both Content-Length and Transfer-Encoding headers.")
    result.encoded = b"".join(parts)
    return result


def _encode_pair(result: ResponseHeaders, pair: Any) -> bytes:
    """One header the cache did not know: checked, noted, encoded (b"" for a
    Transfer-Encoding, which the framing code writes itself)."""
    name, value = pair
    if not isinstance(name, bytes) or not isinstance(value, bytes):
        _explain((pair,))
    kind = _SPECIAL.get(name.lower())
    if kind is None:
        if _is_token(name) is None or _has_bad_value_byte(value) is not None:
            _explain((pair,))
        line = b"%b: %b\r\n" % (name, value)
        if len(_LINES) < _LINES_MAX and type(name) is bytes and type(value) is bytes:
            _LINES[(name, value)] = line
        return line
    # A name that lower-cases to one of _SPECIAL's is a token already. A declared
    # Content-Length alone leaves the response on the fast path, which checks it.
    if kind != _CONTENT_LENGTH:
        result.special = True
    if kind == _TRANSFER_ENCODING:
        if value.strip().lower() != b"chunked":
            raise RuntimeError(
                f"Unsupported Transfer-Encoding {value!r} in response; only chunked is implemented."
            )
        result.chunked = True
        return b""  # written by the framing code, once
    # all digits (the Content-Length frameworks send): no byte to refuse, no regex
    if not value.isdigit() and _has_bad_value_byte(value) is not None:
        _explain((pair,))
    _note(result, kind, value)
    return b"%b: %b\r\n" % (name, value)


def _note(result: ResponseHeaders, kind: int, value: bytes) -> None:
    if kind == _CONTENT_LENGTH:
        length = int(value) if value.strip().isdigit() else -1
        if length < 0 or (result.content_length is not None and result.content_length != length):
            raise RuntimeError(f"Invalid Content-Length header {value!r} in response.")
        result.content_length = length
    elif kind == _CONNECTION:
        if b"close" in value.lower():
            result.close = True
    elif kind == _SERVER:
        result.has_server = True
    else:
        result.has_date = True


def _explain(headers: Any) -> None:
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


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode_trailers(headers: Any) -> bytes:
    encoded = encode_headers(headers)
    return b"0\r\n" + encoded.encoded + b"\r\n"


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
