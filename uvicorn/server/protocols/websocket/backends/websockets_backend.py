"""Frames through the ``websockets`` library's sans-IO protocol.

The opening handshake was answered by the core, so the library's
``ServerProtocol`` starts ``OPEN`` and only parses and serialises frames. It
already answers pings, echoes the peer's close frame, and fails the connection
on protocol errors and on frames or messages over ``max_size``; what it leaves
to the layer above is done here:

* text messages are decoded and checked as UTF-8, fragment by fragment, so an
  invalid byte fails the connection with 1007 as soon as it arrives (RFC 6455
  §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that
  the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST
  _Fail the WebSocket Connection_");
* the permessage-deflate offer is negotiated with the library's extension
  factory (RFC 7692 §5: the server accepts the first offer it supports).
"""

from __future__ import annotations

import codecs
import logging
from typing import TYPE_CHECKING

from websockets.exceptions import (
    InvalidHeader,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.headers import build_extension, parse_extension
from websockets.protocol import State
from websockets.server import ServerProtocol

from uvicorn.server.protocols.websocket.frames import BINARY, TEXT, plain_frame

if TYPE_CHECKING:
    from websockets.extensions.base import Extension

    from uvicorn.server.protocols.websocket.backends.base import FrameSink

__all__ = ["WebSocketsBackend", "negotiate"]

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PONG, _CLOSE = Opcode.PONG, Opcode.CLOSE
_OPEN = State.OPEN

# The library logs "connection closed" at INFO for every connection and its own
# parser errors; the core does the logging that matters, once for both backends.
_QUIET = logging.Logger("uvicorn.websockets", logging.CRITICAL + 1)


def _deflate_factory() -> ServerPerMessageDeflateFactory:
    # The window sizes and memory level websockets itself serves with: 12-bit
    # windows cut the memory of each compressed connection to a fraction.
    return ServerPerMessageDeflateFactory(
        server_max_window_bits=12,
        client_max_window_bits=12,
        compress_settings={"memLevel": 5},
    )


def negotiate(offer: str) -> tuple[bytes | None, Extension | None]:
    """Accept the first permessage-deflate offer the library supports, if any."""
    try:
        offers = parse_extension(offer)
    except InvalidHeader:
        return None, None
    factory = _deflate_factory()
    for name, params in offers:
        if name != factory.name:
            continue
        try:
            response, extension = factory.process_request_params(params, [])
        except (NegotiationError, ValueError):
            continue
        return build_extension([(name, response)]).encode("ascii"), extension
    return None, None


class _ServerProtocol(ServerProtocol):
    def recv_frame(self, frame: Frame) -> None:
        # RFC 6455 §5.4: "Control frames ... MAY be injected in the middle of a
        # fragmented message." The library fails the connection (1002) when a
        # close frame comes between fragments; the closing handshake goes on
        # instead, and the unfinished message is dropped.
        if frame.opcode is _CLOSE:
            self.current_size = None
        super().recv_frame(frame)


class WebSocketsBackend:
    __slots__ = ("_decoder", "_done", "_plain", "_protocol", "_sink", "extensions")

    def __init__(self, sink: FrameSink, max_size: int | None, offer: str | None) -> None:
        self._sink = sink
        protocol = _ServerProtocol(state=_OPEN, max_size=max_size, logger=_QUIET)
        self.extensions: bytes | None = None
        if offer is not None:
            self.extensions, extension = negotiate(offer)
            if extension is not None:
                protocol.extensions = [extension]
        self._protocol = protocol
        self._plain = not protocol.extensions  # outgoing frames need no extension
        self._decoder: codecs.IncrementalDecoder | None = None  # inside a fragmented text
        self._done = False

    def feed(self, data: bytes) -> bytes:
        if self._done:
            return b""
        protocol = self._protocol
        protocol.receive_data(data)
        sink = self._sink
        frames: list[Frame] = protocol.events_received()  # type: ignore[assignment]
        for frame in frames:  # only frames: the handshake is the core's
            opcode = frame.opcode
            payload: bytes = frame.data  # type: ignore[assignment]
            if opcode is _TEXT:
                if frame.fin:
                    try:
                        text = payload.decode()
                    except UnicodeDecodeError as exc:
                        self._fail(1007, f"invalid UTF-8: {exc.reason}")
                        break
                    sink.on_data(text, True)
                else:
                    decoder = codecs.getincrementaldecoder("utf-8")()
                    self._decoder = decoder
                    if not self._text_piece(decoder, payload, False):
                        break
            elif opcode is _BINARY:
                sink.on_data(bytes(payload), frame.fin)
            elif opcode is _CONT:
                current = self._decoder
                if current is None:
                    sink.on_data(bytes(payload), frame.fin)
                else:
                    if frame.fin:
                        self._decoder = None
                    if not self._text_piece(current, payload, frame.fin):
                        break
            elif opcode is _PONG:
                sink.on_pong(bytes(payload))
            elif opcode is _CLOSE:
                self._done = True
                close = protocol.close_rcvd
                assert close is not None
                sink.on_close(close.code, close.reason)
                break
            # pings: the library has queued the pong already
        else:
            error = protocol.parser_exc
            if error is not None:
                self._done = True
                sink.on_fail(_failure_code(error), str(error))
        return b"".join(protocol.data_to_send())

    def _text_piece(self, decoder: codecs.IncrementalDecoder, data: bytes, fin: bool) -> bool:
        try:
            text = decoder.decode(data, fin)
        except UnicodeDecodeError as exc:
            self._fail(1007, f"invalid UTF-8: {exc.reason}")
            return False
        self._sink.on_data(text, fin)
        return True

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection for an error found above the library's parser."""
        self._done = True
        self._protocol.fail(code, reason)
        self._sink.on_fail(code, reason)

    def text(self, data: str) -> bytes:
        if self._plain:
            return plain_frame(TEXT, data.encode())
        protocol = self._protocol
        protocol.send_text(data.encode())
        return b"".join(protocol.data_to_send())

    def binary(self, data: bytes) -> bytes:
        if self._plain:
            return plain_frame(BINARY, data)
        protocol = self._protocol
        protocol.send_binary(data)
        return b"".join(protocol.data_to_send())

    def ping(self, payload: bytes) -> bytes:
        protocol = self._protocol
        if protocol.state is not _OPEN:
            return b""
        protocol.send_ping(payload)
        return b"".join(protocol.data_to_send())

    def close(self, code: int, reason: str) -> bytes:
        protocol = self._protocol
        if protocol.state is not _OPEN or protocol.close_sent is not None:
            return b""
        protocol.send_close(code, reason)
        return b"".join(protocol.data_to_send())


def _failure_code(exc: Exception) -> int:
    if isinstance(exc, ProtocolError):
        return 1002
    if isinstance(exc, UnicodeDecodeError):
        return 1007
    if isinstance(exc, PayloadTooBig):
        return 1009
    if isinstance(exc, EOFError):
        return 1006
    return 1011
