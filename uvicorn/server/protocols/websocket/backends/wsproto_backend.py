"""Frames through wsproto's frame layer, ``wsproto.frame_protocol.FrameProtocol``.

The opening handshake was answered by the core, so neither wsproto's handshake
nor its ``Connection`` (which turns every frame into an event object and keeps a
connection state the core keeps already) is in the way: frames come straight
from ``FrameProtocol``, which parses, unmasks, reassembles, validates UTF-8 as it
goes (and so fails fast) and checks close codes. It leaves the replies to the
layer above: pongs for pings and the close frame echoing the peer's are sent
from here. A frame it refuses raises ``ParseFailed`` with the close code to use;
that is a failure, answered with a close frame carrying that code.

wsproto has no limit on message size; the core enforces ``--ws-max-size`` on
the pieces this backend delivers, which wsproto hands over as they arrive.

permessage-deflate (RFC 7692 §7) is negotiated here: the first offer whose
parameters are all known, valid and not repeated is accepted. An offer of
``server_max_window_bits=8`` is declined, since zlib cannot compress with a
256-byte window; ``client_max_window_bits`` is never echoed, so the client
keeps its own window, which a 15-bit decompressor reads whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import (
    Frame,
    FrameDecoder,
    FrameProtocol,
    Opcode,
    ParseFailed,
    XorMaskerSimple,
)

from uvicorn.server.protocols.websocket.frames import BINARY, TEXT, plain_frame

if TYPE_CHECKING:
    from uvicorn.server.protocols.websocket.backends.base import FrameSink

__all__ = ["FAST_FRAMES", "WSProtoBackend", "negotiate"]

_TEXT, _BINARY, _PING, _PONG, _CLOSE = (
    Opcode.TEXT,
    Opcode.BINARY,
    Opcode.PING,
    Opcode.PONG,
    Opcode.CLOSE,
)
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


_xor: Callable[[bytes | bytearray, bytes], bytes] | None
try:  # websockets' C routine, when that package is installed with its extension
    from websockets.speedups import apply_mask as _xor
except ImportError:
    _xor = None


class _Unmasker:
    """Unmasks one frame's payload (RFC 6455 §5.3), continuing the key across the
    pieces the payload may arrive in, as wsproto's masker does."""

    __slots__ = ("key", "offset")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.offset = 0  # where in the key the next byte's mask starts

    def process(self, data: bytearray) -> bytes | bytearray:
        size = len(data)
        if not size:
            return data
        key = self.key
        offset = self.offset
        if offset:
            key = key[offset:] + key[:offset]
        self.offset = (offset + size) & 3
        return _xor(data, key)  # type: ignore[misc]  # set when this class is used


class _Decoder(FrameDecoder):
    """wsproto's frame decoder with a faster way through the common frame.

    wsproto unmasks in Python, with four strided byte-table translations per
    piece, and parses each header through a dozen calls (an enum lookup, two named
    tuples, a buffer object's slices): together about half of a small message's
    whole trip through the server. Two shortcuts, both only where websockets' C
    XOR routine is installed (``uvicorn[standard]``):

    - a frame that is all in the buffer, masked, with no reserved bit, a known
      opcode and a payload under 64 KiB given in its shortest form, with no
      extension negotiated, is read here at once: exactly what wsproto's own path
      returns for it (a differential test holds the two to that);
    - anything else (a frame still arriving, a large one, any frame wsproto
      refuses, every frame under permessage-deflate) goes through wsproto's path,
      with only its masker swapped for the C routine.

    Reassembly of fragments, UTF-8 validation, close codes and refusals stay
    wsproto's. A pure-Python XOR gains too little to be worth a second path:
    without websockets, frames take wsproto's own path unchanged.
    """

    def __init__(self, client: bool, extensions: list[Extension] | None = None) -> None:
        super().__init__(client, extensions)
        self.whole = not client and not self.extensions  # the shortcut applies

    def parse_header(self) -> bool:
        if not super().parse_header():
            return False
        masker = self.masker
        if type(masker) is XorMaskerSimple:
            self.masker = _Unmasker(bytes(masker._masking_key))  # type: ignore[assignment]
        return True

    def process_buffer(self) -> Frame | None:
        if self.whole and self.header is None:
            frame = self._whole_frame()
            if frame is not None:
                return frame
        return super().process_buffer()

    def _whole_frame(self) -> Frame | None:
        """The next frame if it is the common kind and all here (RFC 6455 §5.2),
        else None, leaving the buffer as it was for wsproto's own path."""
        buffer = self.buffer
        data = buffer.buffer
        size = len(data)
        if buffer.bytes_used or size < 6:
            return None
        first = data[0]
        second = data[1]
        opcode = _OPCODES.get(first & 0x0F)
        if opcode is None or first & 0x70 or not second & 0x80:
            return None  # unknown opcode, reserved bit, unmasked: wsproto refuses
        length = second & 0x7F
        if length < 126:
            if first & 0x88 == 0x08:
                return None  # a fragmented control frame: wsproto refuses it
            start = 6
        elif length == 126 and not first & 0x08 and size >= 8:
            length = data[2] << 8 | data[3]
            if length < 126:
                return None  # not the shortest form: wsproto refuses it
            start = 8
        else:
            return None
        end = start + length
        if size < end:
            return None
        payload = _xor(data[start:end], bytes(data[start - 4 : start])) if length else b""  # type: ignore[misc]
        del data[:end]
        return Frame(opcode, payload, True, first >= 0x80)


_OPCODES = {int(opcode): opcode for opcode in Opcode}


def _frame_protocol(extensions: list[PerMessageDeflate]) -> FrameProtocol:
    proto = FrameProtocol(False, extensions)  # type: ignore[arg-type]
    if FAST_FRAMES:
        proto._frame_decoder = _Decoder(False, proto.extensions)
    return proto


def _decoders_agree() -> bool:
    """The shortcuts reach into wsproto (the protocol's decoder, its buffer, the
    masker's key): they are used only if, on the wsproto installed, a decoder with
    them turns whole and split frames into exactly what wsproto's own decoder does."""
    if _xor is None:
        return False
    key = b"\x01\x02\x03\x04"
    stream = b"".join(
        [
            *(
                bytes([0x80 | opcode, 0x80 | len(payload)]) + key + payload
                for opcode, payload in ((0x1, b"`fmmn"), (0x9, b""), (0x2, b"\x01" * 7))
            ),
            bytes([0x82, 0xFE, 0x01, 0x00]) + key + b"\x05" * 256,
        ]
    )

    def decode(decoder: FrameDecoder) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        start = 0
        for end in (5, 12, 30, len(stream) - 3, len(stream)):
            decoder.receive_bytes(stream[start:end])
            start = end
            while (frame := decoder.process_buffer()) is not None:
                out.append((*frame, type(frame.payload)))  # bytes, as wsproto gives
        return out

    try:
        ours = decode(_Decoder(False, []))
        theirs = decode(FrameDecoder(False, []))
    except Exception:  # a wsproto whose insides moved: keep its own path
        return False
    return len(ours) == 5 and ours == theirs


FAST_FRAMES = _decoders_agree()


class WSProtoBackend:
    __slots__ = ("_close_sent", "_done", "_plain", "_proto", "_sink", "extensions")

    def __init__(self, sink: FrameSink, max_size: int | None, offer: str | None) -> None:
        self._sink = sink
        self.extensions: bytes | None = None
        extension = None
        if offer is not None:
            self.extensions, extension = negotiate(offer)
        self._proto = _frame_protocol([extension] if extension is not None else [])
        self._plain = extension is None  # outgoing frames need no extension
        self._close_sent = False
        self._done = False

    def feed(self, data: bytes) -> bytes:
        if self._done:
            return b""
        proto = self._proto
        proto.receive_bytes(data)
        sink = self._sink
        out: list[bytes | bytearray] = []
        try:
            for frame in proto.received_frames():
                opcode = frame.opcode
                # a continuation frame comes out with its message's opcode (TEXT:
                # str, already validated UTF-8; BINARY: bytes)
                if opcode is _BINARY or opcode is _TEXT:
                    sink.on_data(frame.payload, frame.message_finished)  # type: ignore[arg-type]
                elif opcode is _PING:
                    if not self._close_sent:
                        out.append(proto.pong(frame.payload))  # type: ignore[arg-type]
                elif opcode is _PONG:
                    sink.on_pong(bytes(frame.payload))  # type: ignore[arg-type]
                elif opcode is _CLOSE:
                    self._done = True
                    payload = frame.payload
                    assert isinstance(payload, tuple)  # (code, reason), validated
                    code, reason = payload
                    if not self._close_sent:  # echo the peer's close frame
                        self._close_sent = True
                        out.append(proto.close(code, reason))
                    sink.on_close(int(code), reason or "")
                    break
        except ParseFailed as exc:  # wsproto names the close code for what it refused
            self._done = True
            code = int(exc.code)
            if not self._close_sent:
                self._close_sent = True
                out.append(proto.close(code, str(exc)))
            sink.on_fail(code, str(exc))
        return b"".join(out)

    def text(self, data: str) -> bytes:
        if self._plain:
            return plain_frame(TEXT, data.encode())
        return bytes(self._proto.send_data(data))

    def binary(self, data: bytes) -> bytes:
        if self._plain:
            return plain_frame(BINARY, data)
        return bytes(self._proto.send_data(data))

    def ping(self, payload: bytes) -> bytes:
        if self._close_sent:  # also after the peer's close: feed() answered it
            return b""
        return bytes(self._proto.ping(payload))

    def close(self, code: int, reason: str) -> bytes:
        if self._close_sent:
            return b""
        self._close_sent = True
        return bytes(self._proto.close(code, reason))
