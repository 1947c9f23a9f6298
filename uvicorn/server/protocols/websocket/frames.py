"""Unmasked, uncompressed server frames, for the backends' common case.

A server frame without an extension is two to ten header bytes and the payload
as is (RFC 6455 §5.2: "A server MUST NOT mask any frames that it sends to the
client"). Both backends build such frames here instead of through their
library's general path (event objects, extension hooks, masking checks), which
costs more than the rest of a small message's trip through the server.
"""

from __future__ import annotations

from struct import Struct

__all__ = ["BINARY", "TEXT", "plain_frame"]

TEXT = 0x81  # FIN + opcode 1
BINARY = 0x82  # FIN + opcode 2

_SHORT = Struct("!BB").pack
_MEDIUM = Struct("!BBH").pack
_LONG = Struct("!BBQ").pack


def plain_frame(first_byte: int, payload: bytes) -> bytes:
    """One final, unmasked data frame: ``first_byte`` is FIN, RSV and opcode."""
    length = len(payload)
    if length < 126:
        return _SHORT(first_byte, length) + payload
    if length < 65536:
        return _MEDIUM(first_byte, 126, length) + payload
    return _LONG(first_byte, 127, length) + payload
