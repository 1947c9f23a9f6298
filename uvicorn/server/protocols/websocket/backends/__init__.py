"""Frame backends: each turns bytes into :class:`FrameSink` calls and messages into frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvicorn.server.protocols.websocket.backends.base import BackendFactory

__all__ = ["backend_factory"]


def backend_factory(name: str) -> BackendFactory:
    """Import the backend called ``name`` (``websockets`` or ``wsproto``)."""
    if name == "websockets":
        from uvicorn.server.protocols.websocket.backends.websockets_backend import (
            WebSocketsBackend,
        )

        return WebSocketsBackend
    if name == "wsproto":
        from uvicorn.server.protocols.websocket.backends.wsproto_backend import WSProtoBackend

        return WSProtoBackend
    raise ValueError(f"Unknown WebSocket backend {name!r}")
