"""WebSocket support: one connection core over two frame backends.

``--ws`` picks the backend: ``websockets`` (also spelled ``websockets-sansio``,
uvicorn's name for the same sans-IO protocol), ``wsproto``, or ``auto`` (the
first of them that imports). ``none`` leaves upgrade requests to the HTTP core
as ordinary requests.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import TYPE_CHECKING

from uvicorn.server.protocols.websocket.backends import backend_factory
from uvicorn.server.protocols.websocket.connection import ClientDisconnected, WebSocketConnection

if TYPE_CHECKING:
    from uvicorn.server.protocols.context import WebSocketFactory

__all__ = ["ClientDisconnected", "WebSocketConnection", "backend_name", "websocket_factory"]

_BACKENDS = {"websockets": "websockets", "websockets-sansio": "websockets", "wsproto": "wsproto"}


def backend_name(name: str) -> str | None:
    """The backend ``--ws NAME`` runs on, or None when there is none to run."""
    if name == "none":
        return None
    if name == "auto":
        for library in ("websockets", "wsproto"):
            if importlib.util.find_spec(library) is not None:
                return library
        return None
    backend = _BACKENDS.get(name)
    if backend is None:
        choices = ", ".join(["auto", "none", *_BACKENDS])
        raise ValueError(f"Unknown WebSocket implementation {name!r}; choose from {choices}")
    return backend


def websocket_factory(name: str) -> WebSocketFactory | None:
    """The protocol factory the HTTP core hands upgrades to, or None for no WebSockets.

    The factory is called as ``factory(ctx, state, app_state, head, client, server,
    scheme, tls_extension)`` and returns the :class:`WebSocketConnection` that takes
    the socket over.
    """
    backend = backend_name(name)
    if backend is None:
        return None
    return functools.partial(WebSocketConnection, backend_factory=backend_factory(backend))
