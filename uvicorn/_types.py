"""ASGI type names, as uvicorn exports them (``uvicorn._types``), for apps and our seams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Protocol

__all__ = [
    "ASGI2Application",
    "ASGI3Application",
    "ASGIApplication",
    "ASGIReceiveCallable",
    "ASGISendCallable",
    "Environ",
    "Message",
    "Observer",
    "Receive",
    "RequestRecord",
    "Scope",
    "ScopeLayer",
    "Send",
    "StartResponse",
    "WSGIApp",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIReceiveCallable = Receive
ASGISendCallable = Send
ASGI3Application = Callable[[Scope, Receive, Send], Awaitable[None]]


class ASGI2Protocol(Protocol):
    def __init__(self, scope: Scope) -> None: ...

    async def __call__(self, receive: Receive, send: Send) -> None: ...


ASGI2Application = type[ASGI2Protocol]
ASGIApplication = ASGI2Application | ASGI3Application

Environ = MutableMapping[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class RequestRecord:
    """One finished request, as observers (access log, metrics) see it.

    Built once per request by the HTTP core and only when an observer is
    enabled, and handed to the observers at the end of the loop iteration in
    which the request finished; observers read the scope (after the scope layers ran) rather than
    wrapping ``send``.
    """

    __slots__ = (
        "finished_at",
        "request_body_size",
        "response_body_size",
        "response_headers",
        "scope",
        "started_at",
        "status",
    )

    def __init__(
        self,
        scope: Scope,
        status: int,
        request_body_size: int,
        response_body_size: int,
        started_at: float,
        finished_at: float,
        response_headers: Any = (),
    ) -> None:
        self.scope = scope
        self.status = status
        self.request_body_size = request_body_size
        self.response_body_size = response_body_size
        self.response_headers = response_headers  # the app's list, as sent (not copied)
        self.started_at = started_at
        self.finished_at = finished_at

    @property
    def duration(self) -> float:
        """Seconds from the complete request head to the complete response."""
        return self.finished_at - self.started_at


Observer = Callable[[list[RequestRecord]], None]
"""Called once per event-loop iteration with the requests that finished in it: an
observer works through a batch in one tight loop (one write for all its log lines,
one lock for all its metric updates) instead of being called between the rest of
every request's work."""
ScopeLayer = Callable[[Scope], None]
