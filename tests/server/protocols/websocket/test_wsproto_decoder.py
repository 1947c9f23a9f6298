"""The wsproto backend's decoder (whole common frames read at once, unmasking by
websockets' C routine) against wsproto's own: the same frames out of the same
bytes however they are cut, and the same refusal, with the same close code, of
every frame wsproto refuses.

Over real sockets the backend is tested with everything else in test_connection.py;
here the two decoders see identical input, so a difference is the decoder's.
"""

from __future__ import annotations

import random
import struct

import pytest
from wsproto.frame_protocol import FrameDecoder, FrameProtocol, ParseFailed

from tests.support.wsraw import encode_frame
from uvicorn.server.protocols.websocket.backends import wsproto_backend


def test_the_fast_decoder_is_in_use() -> None:
    """websockets (with its extension) and wsproto are both installed here; if an
    upgrade of either takes the shortcuts away, messages would silently cost half
    again as much."""
    assert wsproto_backend.FAST_FRAMES
    decoder = wsproto_backend._frame_protocol([])._frame_decoder
    assert isinstance(decoder, FrameDecoder) and type(decoder) is not FrameDecoder


def _stream(rng: random.Random) -> bytes:
    """Text, binary, fragmented messages and pings, of sizes around the length bounds."""
    frames = []
    for _ in range(60):
        size = rng.choice([0, 1, 3, 4, 5, 125, 126, 127, 1000, 65535, 65536, 70001])
        payload = rng.randbytes(size)
        kind = rng.random()
        if kind < 0.2:
            frames.append(encode_frame(0x9, payload[:125]))
        elif kind < 0.4:
            text = ("ü" * size)[: max(size // 2, 1)].encode()
            cut = len(text) // 2
            frames.append(encode_frame(0x1, text[:cut], fin=False))
            frames.append(encode_frame(0x0, text[cut:]))
        else:
            frames.append(encode_frame(0x2, payload))
    return b"".join(frames)


def _decode(proto: FrameProtocol, data: bytes, cuts: list[int]) -> list[object]:
    """Every frame out, then the refusal if there is one (its type, code and text)."""
    seen: list[object] = []
    start = 0
    try:
        for end in [*cuts, len(data)]:
            proto.receive_bytes(data[start:end])
            start = end
            for frame in proto.received_frames():
                payload = frame.payload
                # the type too: bytes and bytearray compare equal, but the core wants bytes
                seen.append(
                    (
                        frame.opcode,
                        type(payload),
                        payload,
                        frame.frame_finished,
                        frame.message_finished,
                    )
                )
    except ParseFailed as exc:
        seen.append(("refused", int(exc.code), str(exc)))
    return seen


def _both(data: bytes, cuts: list[int]) -> tuple[list[object], list[object]]:
    ours = _decode(wsproto_backend._frame_protocol([]), data, cuts)
    theirs = _decode(FrameProtocol(False, []), data, cuts)
    return ours, theirs


def test_same_frames_as_wsprotos_own_decoder_however_cut() -> None:
    rng = random.Random(6455)
    for round_ in range(6):
        data = _stream(rng)
        # the first stream whole, as one read (every frame takes the shortcut)
        cuts = [] if round_ == 0 else sorted(rng.sample(range(1, len(data)), 400))
        ours, theirs = _both(data, cuts)
        assert len(ours) > 60
        assert ours == theirs


def _raw(first: int, second: int, rest: bytes = b"") -> bytes:
    """A frame header written out by hand, for what encode_frame will not write."""
    return bytes([first, second]) + rest


_KEY = b"\x0f\x1e\x2d\x3c"
_MASKED_126 = _raw(0x82, 0xFE, struct.pack("!H", 100) + _KEY + b"\0" * 100)
_MASKED_127 = _raw(0x82, 0xFF, struct.pack("!Q", 1000) + _KEY + b"\0" * 1000)

REFUSED = {
    "reserved data opcode": _raw(0x83, 0x80, _KEY),
    "reserved control opcode": _raw(0x8B, 0x80, _KEY),
    "rsv1 without an extension": encode_frame(0x2, b"x", rsv1=True),
    "rsv2": _raw(0xA2, 0x81, _KEY + b"x"),
    "rsv3": _raw(0x92, 0x81, _KEY + b"x"),
    "unmasked": encode_frame(0x2, b"abc", mask=False),
    "fragmented ping": encode_frame(0x9, b"p", fin=False),
    "fragmented close": _raw(0x08, 0x80, _KEY),
    "ping of 126 bytes": _raw(0x89, 0xFE, struct.pack("!H", 126) + _KEY + b"\0" * 126),
    "2-byte length under 126": _MASKED_126,
    "8-byte length under 65536": _MASKED_127,
    "8-byte length with the top bit": _raw(0x82, 0xFF, struct.pack("!Q", 1 << 63) + _KEY),
    "close of one byte": encode_frame(0x8, b"\x03"),
    "close with code 999": encode_frame(0x8, struct.pack("!H", 999)),
    "close with code 1005": encode_frame(0x8, struct.pack("!H", 1005)),
    "close with a bad reason": encode_frame(0x8, struct.pack("!H", 1000) + b"\xff"),
    "continuation first": encode_frame(0x0, b"x"),
    "text inside a message": encode_frame(0x1, b"a", fin=False) + encode_frame(0x1, b"b"),
    "invalid UTF-8": encode_frame(0x1, b"ok \xc3\x28"),
    "invalid UTF-8 across fragments": encode_frame(0x1, b"\xe2\x82", fin=False)
    + encode_frame(0x0, b"A"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refuses_what_wsproto_refuses_with_the_same_code(name: str) -> None:
    lead = encode_frame(0x2, b"before") + encode_frame(0x9, b"ping")
    data = lead + REFUSED[name]
    for cuts in ([], [len(lead)], [len(lead) + 1], list(range(1, len(data)))):
        ours, theirs = _both(data, cuts)
        assert ours == theirs
        assert ours[-1][0] == "refused"  # type: ignore[index]
