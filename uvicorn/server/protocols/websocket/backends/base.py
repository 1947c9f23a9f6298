"""The seam between the WebSocket connection core and a frame backend.

A backend is sans-IO and knows only frames: :meth:`WebSocketBackend.feed` takes
bytes, calls the :class:`FrameSink` synchronously, in order, for everything
those bytes complete, and returns the bytes the protocol itself must answer
with (a pong for a ping, the close frame echoing the peer's, the close frame
that fails the connection). Its other methods turn what the application sends
into frame bytes. It never writes, never schedules and never decides when the
TCP connection ends: the core does.

Backends are built once the application accepts, with the client's
``Sec-WebSocket-Extensions`` offer (or None when ``--ws-per-message-deflate``
is off); :attr:`WebSocketBackend.extensions` is then the negotiated response
value (RFC 7692), or None.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["BackendFactory", "FrameSink", "WebSocketBackend"]


class FrameSink(Protocol):
    """Implemented once, by ``WebSocketConnection``."""

    def on_data(self, data: str | bytes, fin: bool) -> None:
        """A piece of a data message: ``str`` for text (already validated UTF-8),
        ``bytes`` for binary; ``fin`` on the message's last piece. A message that
        came in one frame arrives in one call."""

    def on_pong(self, payload: bytes) -> None:
        """A pong frame arrived."""

    def on_close(self, code: int, reason: str) -> None:
        """The peer's close frame (1005 when it carried no code). If the core had
        not sent a close frame yet, the echo is in the bytes ``feed`` returns.
        The backend ignores everything fed after this call."""

    def on_fail(self, code: int, reason: str) -> None:
        """The peer broke the protocol (RFC 6455 §7.1.7): the close frame with
        ``code`` is in the bytes ``feed`` returns; the core must end the TCP
        connection after writing them. The backend ignores further input."""


class WebSocketBackend(Protocol):
    extensions: bytes | None
    """The negotiated ``Sec-WebSocket-Extensions`` response value, or None."""

    def feed(self, data: bytes) -> bytes:
        """Parse ``data``, calling the sink for every event it completes; write
        the bytes returned (possibly empty) before anything else."""

    def text(self, data: str) -> bytes:
        """One text message as frame bytes."""

    def binary(self, data: bytes) -> bytes:
        """One binary message as frame bytes."""

    def ping(self, payload: bytes) -> bytes:
        """A ping frame; empty once a close frame was sent."""

    def close(self, code: int, reason: str) -> bytes:
        """The close frame that starts the closing handshake (the backend keeps
        parsing until the peer's close frame), or that fails the connection (the
        core then feeds nothing more); empty if one was already sent. Call with
        a valid code and a reason of at most 123 UTF-8 bytes."""


class BackendFactory(Protocol):
    def __call__(
        self, sink: FrameSink, max_size: int | None, offer: str | None
    ) -> WebSocketBackend: ...
