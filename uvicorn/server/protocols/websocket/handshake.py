"""The opening handshake, checked and answered once for both backends.

The HTTP core has already parsed the request head and seen ``Connection:
upgrade`` and ``Upgrade: websocket`` on a GET. What is left of RFC 6455 §4.2.1
is checked here, before the application is called:

* "The request MUST include a header field with the name |Sec-WebSocket-Key|.
  The value of this header field MUST be a nonce consisting of a randomly
  selected 16-byte value that has been base64-encoded" (§4.1). One such header,
  whose value decodes to exactly 16 bytes, or the request is refused.
* "The request MUST include a header field with the name
  |Sec-WebSocket-Version|. The value of this header field MUST be 13." If it
  does not, "the server MUST abort the WebSocket handshake described in this
  section and instead send an appropriate HTTP error code ... and a
  |Sec-WebSocket-Version| header field indicating the version(s) the server is
  capable of understanding" (§4.4).
* "An HTTP/1.1 or higher GET request" (§4.1).

A refused handshake is answered 400 with ``Sec-WebSocket-Version: 13`` and the
connection is closed. Every response this module renders (101, 4xx, 5xx and
the application's denial response) is built from the same pieces, so both
backends send the same bytes for the same request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.head import RequestHead

__all__ = [
    "HandshakeError",
    "HandshakeRequest",
    "accept_response",
    "check_request",
    "http_response",
    "validate_headers",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3

# RFC 9110 §5.6.2: a token; §5.5: a field value without CR, LF or NUL.
_bad_name = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]").search
_bad_value = re.compile(rb"[\x00\r\n]").search


class HandshakeError(Exception):
    """The upgrade request cannot be served: answer 400 and close."""


class HandshakeRequest:
    """What the core keeps of a valid upgrade request."""

    __slots__ = ("accept", "extensions", "subprotocols")

    def __init__(self, accept: bytes, subprotocols: list[str], extensions: str | None) -> None:
        self.accept = accept  # the Sec-WebSocket-Accept value
        self.subprotocols = subprotocols  # as offered, in order
        self.extensions = extensions  # every Sec-WebSocket-Extensions value, joined; or None


def check_request(head: RequestHead) -> HandshakeRequest:
    """Validate the WebSocket parts of an upgrade request; raise :class:`HandshakeError`."""
    if head.http_version != "1.1":
        raise HandshakeError("WebSocket upgrade needs HTTP/1.1.")
    keys: list[bytes] = []
    versions: list[bytes] = []
    subprotocols: list[str] = []
    extensions: list[bytes] = []
    for name, value in head.headers:
        if name[:14] != b"sec-websocket-":
            continue
        if name == b"sec-websocket-key":
            keys.append(value)
        elif name == b"sec-websocket-version":
            versions.append(value)
        elif name == b"sec-websocket-protocol":
            for token in value.decode("latin-1").split(","):
                token = token.strip(" \t")
                if token:
                    subprotocols.append(token)
        elif name == b"sec-websocket-extensions":
            extensions.append(value)
    if len(versions) != 1 or versions[0].strip(b" \t") != b"13":
        raise HandshakeError("Unsupported Sec-WebSocket-Version.")
    if len(keys) != 1:
        raise HandshakeError("Missing or repeated Sec-WebSocket-Key.")
    key = keys[0].strip(b" \t")
    try:
        nonce = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise HandshakeError("Invalid Sec-WebSocket-Key.") from None
    if len(nonce) != 16:
        raise HandshakeError("Invalid Sec-WebSocket-Key.")
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    offer = b", ".join(extensions).decode("latin-1") if extensions else None
    return HandshakeRequest(accept, subprotocols, offer)


def validate_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    """The application's response headers as a list of byte pairs; TypeError/ValueError
    for anything that is not a safe header (the caller treats it as an app error)."""
    checked: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise TypeError(f"Header names and values must be bytes, got {name!r}: {value!r}.")
        if not name or _bad_name(name):
            raise ValueError(f"Invalid header name {name!r}.")
        if _bad_value(value):
            raise ValueError(f"Invalid header value {value!r}.")
        checked.append((name, value))
    return checked


def _has(headers: list[tuple[bytes, bytes]], wanted: bytes) -> bool:
    return any(name.lower() == wanted for name, _ in headers)


def _block(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def accept_response(
    accept: bytes,
    subprotocol: str | None,
    extensions: bytes | None,
    default_headers: bytes,
    headers: list[tuple[bytes, bytes]],
) -> bytes:
    """The ``101 Switching Protocols`` response (RFC 6455 §4.2.2)."""
    parts = [
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-accept: ",
        accept,
        b"\r\n",
    ]
    if subprotocol is not None:
        parts += [b"sec-websocket-protocol: ", subprotocol.encode("latin-1"), b"\r\n"]
    if extensions is not None:
        parts += [b"sec-websocket-extensions: ", extensions, b"\r\n"]
    parts.append(default_headers)
    parts.append(_block(headers))
    parts.append(b"\r\n")
    return b"".join(parts)


def http_response(
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes | None,
    default_headers: bytes,
) -> bytes:
    """A response that ends the connection (refusals and the denial extension).

    With ``body`` given, the whole body follows and ``content-length`` is set
    unless the headers carry one; with ``body=None`` only the head is rendered
    and the body that follows is delimited by the close (RFC 9112 §6.3).
    """
    try:
        phrase = HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        phrase = b""
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, phrase), default_headers, _block(headers)]
    if body is not None and not _has(headers, b"content-length"):
        parts.append(b"content-length: %d\r\n" % len(body))
    if not _has(headers, b"connection"):
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if body:
        parts.append(body)
    return b"".join(parts)
