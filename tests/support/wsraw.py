"""A WebSocket client by hand over a real socket, for the bytes a library will not send.

The ``websockets`` client is correct by construction: it will not send an
unmasked frame, invalid UTF-8 or a reserved opcode, and it answers pings on its
own. :class:`RawWebSocket` sends exactly the frames it is given and reads the
server's frames one by one, with a timeout on every read.
"""

from __future__ import annotations

import base64
import os
import socket
import struct

from tests.support.raw import RawClient, RawResponse

__all__ = ["RawWebSocket", "encode_frame", "upgrade_request"]


def upgrade_request(
    path: str = "/",
    *extra: str,
    key: str | None = None,
    version: str | None = "13",
) -> bytes:
    """A WebSocket upgrade request; ``key``/``version`` None leave the header out."""
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: example.org",
        "Upgrade: websocket",
        "Connection: Upgrade",
    ]
    if key is None:
        key = base64.b64encode(os.urandom(16)).decode()
    if key:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    lines.extend(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def encode_frame(
    opcode: int,
    payload: bytes,
    fin: bool = True,
    mask: bool = True,
    rsv1: bool = False,
) -> bytes:
    head = bytearray([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head.append(mask_bit | length)
    elif length < 65536:
        head += struct.pack("!BH", mask_bit | 126, length)
    else:
        head += struct.pack("!BQ", mask_bit | 127, length)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes(head) + key + masked


class RawWebSocket(RawClient):
    """A :class:`RawClient` that can also speak frames after the handshake."""

    def __init__(self, sock: socket.socket, timeout: float = 3.0) -> None:
        super().__init__(sock, timeout)

    def handshake(self, path: str = "/", *extra: str) -> RawResponse:
        self.send(upgrade_request(path, *extra))
        response = self.read_head()
        assert response.status == 101, response.head
        return response

    def send_frame(self, opcode: int, payload: bytes = b"", **options: bool) -> None:
        self.send(encode_frame(opcode, payload, **options))

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> None:
        payload = b"" if code is None else struct.pack("!H", code) + reason
        self.send_frame(0x8, payload)

    def read_frame(self) -> tuple[bool, int, bytes]:
        """(fin, opcode, payload) of the next frame from the server (which never masks)."""
        first, second = self.read_exact(2)
        assert not second & 0x80, "a server must not mask its frames"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        return bool(first & 0x80), first & 0x0F, self.read_exact(length)

    def read_close(self) -> tuple[int | None, str]:
        """Skip data, ping and pong frames up to the close frame; its code and reason."""
        while True:
            _, opcode, payload = self.read_frame()
            if opcode == 0x8:
                if not payload:
                    return None, ""
                (code,) = struct.unpack("!H", payload[:2])
                return code, payload[2:].decode()
