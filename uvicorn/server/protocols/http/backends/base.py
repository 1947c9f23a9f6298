"""The two seams between the connection core and a parser backend.

A backend is sans-IO: :meth:`HTTPBackend.feed` takes bytes and calls the sink
synchronously, in order, for everything those bytes complete. It never writes,
never schedules and never decides keep-alive: the connection core does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.head import HeadType, RequestHead
    from uvicorn.server.protocols.http.limits import Limits


class RequestSink(Protocol):
    """Implemented once, by ``HTTPConnection``."""

    @property
    def head_type(self) -> HeadType:
        """What a backend builds each head as (build_head's ``head_type``): the
        core's per-request object, so that a request is one object from its head on."""

    def on_head(self, head: RequestHead) -> bool:
        """A complete, validated request head; its body (if any) follows. A head
        without ``has_body`` is the whole request: no ``on_end`` follows it.

        Returns True to take over the connection (a protocol upgrade the sink
        accepts): the backend then parses nothing more and, once the request has
        ended, hands the bytes that follow it to :meth:`on_upgrade`."""

    def on_body(self, chunk: bytes) -> None:
        """A piece of the current request's body (never empty)."""

    def on_end(self) -> None:
        """The current request's body is complete (only for a head that announced
        one). After any request, the backend keeps parsing only if
        ``head.keep_alive`` was true; otherwise it ignores further bytes."""

    def on_upgrade(self, trailing: bytes) -> None:
        """After a head ``on_head`` took over: the bytes received after it."""

    def on_error(self, status: int, reason: str) -> None:
        """The bytes cannot be served: answer ``status`` and close. The backend
        ignores everything fed after this call."""


class HTTPBackend(Protocol):
    def feed(self, data: bytes) -> None:
        """Parse ``data``, calling the sink for every event it completes."""

    def stop(self) -> None:
        """Ignore all further input (the connection is being closed or upgraded)."""


class BackendFactory(Protocol):
    def __call__(self, sink: RequestSink, limits: Limits) -> HTTPBackend: ...
