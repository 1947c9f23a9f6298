"""The wsproto backend's decoder, which unmasks with websockets' C routine, against
wsproto's own: the same frames out of the same bytes, however they are cut.

Over real sockets the backend is tested with everything else in test_connection.py;
here the two decoders see identical input, so a difference is the unmasking's.
"""

from __future__ import annotations

import random

from wsproto.frame_protocol import FrameDecoder, FrameProtocol

from tests.support.wsraw import encode_frame
from uvicorn.server.protocols.websocket.backends import wsproto_backend


def test_the_c_unmasking_is_in_use() -> None:
    """websockets (with its extension) and wsproto are both installed here; if an
    upgrade of either takes the swap away, messages would silently cost a sixth more."""
    assert wsproto_backend.FAST_UNMASK
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


def _decode(proto: FrameProtocol, data: bytes, cuts: list[int]) -> list[tuple[object, ...]]:
    seen: list[tuple[object, ...]] = []
    start = 0
    for end in [*cuts, len(data)]:
        proto.receive_bytes(data[start:end])
        start = end
        for frame in proto.received_frames():
            seen.append((frame.opcode, frame.payload, frame.frame_finished, frame.message_finished))
    return seen


def test_same_frames_as_wsprotos_own_decoder_however_cut() -> None:
    rng = random.Random(6455)
    for _ in range(5):
        data = _stream(rng)
        cuts = sorted(rng.sample(range(1, len(data)), 400))
        ours = _decode(wsproto_backend._frame_protocol([]), data, cuts)
        theirs = _decode(FrameProtocol(False, []), data, cuts)
        assert len(ours) > 60
        assert ours == theirs
