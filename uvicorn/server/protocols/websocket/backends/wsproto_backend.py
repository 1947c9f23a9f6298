"""Frames through wsproto's low-level ``Connection``.

The opening handshake was answered by the core, so wsproto's post-handshake
``Connection`` is used directly. wsproto validates UTF-8 as it goes (and so
fails fast), but leaves the replies to the layer above: pongs for pings and
the close frame echoing the peer's are sent from here. A frame wsproto cannot
parse comes out as a ``CloseConnection`` event while the state is unchanged;
that is a failure, answered with a close frame carrying wsproto's code.

wsproto has no limit on message size; the core enforces ``--ws-max-size`` on
the pieces this backend delivers, which wsproto hands over as they arrive.

permessage-deflate (RFC 7692 §7) is negotiated here: the first offer whose
parameters are all known, valid and not repeated is accepted. An offer of
``server_max_window_bits=8`` is declined, since zlib cannot compress with a
256-byte window; ``client_max_window_bits`` is never echoed, so the client
keeps its own window, which a 15-bit decompressor reads whatever its size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.utilities import LocalProtocolError

from uvicorn.server.protocols.websocket.frames import BINARY, TEXT, plain_frame

if TYPE_CHECKING:
    from uvicorn.server.protocols.websocket.backends.base import FrameSink

__all__ = ["WSProtoBackend", "negotiate"]

_OPEN = ConnectionState.OPEN
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
_CLOSED = ConnectionState.CLOSED
_BITS = {str(bits): bits for bits in range(8, 16)}  # "1*DIGIT", no leading zero (§7.1.2)


def _parameters(items: list[str]) -> dict[str, int | None] | None:
    """The parameters of one offer, or None if RFC 7692 §7 says to decline it."""
    found: dict[str, int | None] = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip(" \t").lower()
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name in found:
            return None  # "multiple extension parameters with the same name"
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if eq:
                return None
            found[name] = None
        elif name == "server_max_window_bits":
            bits = _BITS.get(value)
            if bits is None:
                return None
            found[name] = bits
        elif name == "client_max_window_bits":
            if eq and value not in _BITS:
                return None
            found[name] = None
        else:
            return None  # "an extension parameter not defined for use in an offer"
    return found


def negotiate(offer: str) -> tuple[bytes | None, PerMessageDeflate | None]:
    """Accept the first acceptable permessage-deflate offer, if any."""
    for element in offer.split(","):
        name, *items = element.split(";")
        if name.strip(" \t").lower() != PerMessageDeflate.name:
            continue
        params = _parameters(items)
        if params is None or params.get("server_max_window_bits") == 8:
            continue
        accepted = [
            key if bits is None else f"{key}={bits}"
            for key, bits in params.items()
            if key != "client_max_window_bits"
        ]
        extension = PerMessageDeflate()
        response = extension.accept("; ".join([PerMessageDeflate.name, *accepted]))
        if not isinstance(response, str):
            continue
        header = PerMessageDeflate.name + ("; " + response if response else "")
        return header.encode("ascii"), extension
    return None, None


class WSProtoBackend:
    __slots__ = ("_conn", "_done", "_plain", "_sink", "extensions")

    def __init__(self, sink: FrameSink, max_size: int | None, offer: str | None) -> None:
        self._sink = sink
        self.extensions: bytes | None = None
        extension = None
        if offer is not None:
            self.extensions, extension = negotiate(offer)
        self._conn = Connection(
            ConnectionType.SERVER, extensions=[extension] if extension is not None else None
        )
        self._plain = extension is None  # outgoing frames need no extension
        self._done = False

    def feed(self, data: bytes) -> bytes:
        if self._done:
            return b""
        conn = self._conn
        conn.receive_data(data)
        sink = self._sink
        out: list[bytes] = []
        for event in conn.events():
            kind = type(event)
            if kind is TextMessage:
                sink.on_data(event.data, event.message_finished)  # type: ignore[attr-defined]
            elif kind is BytesMessage:
                chunk = event.data  # type: ignore[attr-defined]
                sink.on_data(
                    chunk if type(chunk) is bytes else bytes(chunk),
                    event.message_finished,  # type: ignore[attr-defined]
                )
            elif kind is Ping:
                if conn.state is _OPEN:
                    out.append(conn.send(event.response()))  # type: ignore[attr-defined]
            elif kind is Pong:
                sink.on_pong(bytes(event.payload))  # type: ignore[attr-defined]
            elif kind is CloseConnection:
                assert isinstance(event, CloseConnection)
                self._done = True
                code, reason = int(event.code), event.reason or ""
                state = conn.state
                if state is _REMOTE_CLOSING:
                    out.append(conn.send(event.response()))
                    sink.on_close(code, reason)
                elif state is _CLOSED:  # the answer to the core's close frame
                    sink.on_close(code, reason)
                else:  # a parse failure, reported as a close event
                    if state is _OPEN:
                        out.append(conn.send(CloseConnection(code=code, reason=reason)))
                    sink.on_fail(code, reason)
                break
        return b"".join(out)

    def text(self, data: str) -> bytes:
        if self._plain:
            return plain_frame(TEXT, data.encode())
        return self._conn.send(TextMessage(data=data))

    def binary(self, data: bytes) -> bytes:
        if self._plain:
            return plain_frame(BINARY, data)
        return self._conn.send(BytesMessage(data=data))

    def ping(self, payload: bytes) -> bytes:
        if self._conn.state is not _OPEN:
            return b""
        return self._conn.send(Ping(payload=payload))

    def close(self, code: int, reason: str) -> bytes:
        if self._conn.state is not _OPEN:
            return b""
        try:
            return self._conn.send(CloseConnection(code=code, reason=reason))
        except LocalProtocolError:
            return b""
