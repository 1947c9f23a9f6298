"""WSGI apps through a2wsgi, on a thread pool owned by the server.

The WSGI callable runs in a worker thread; its response iterable is streamed
back to the event loop chunk by chunk, so large or slow WSGI bodies are not
buffered in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from a2wsgi import WSGIMiddleware

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application, WSGIApp

__all__ = ["WSGI_THREADS", "wsgi_adapter"]

WSGI_THREADS = 10  # concurrent WSGI requests per process, as uvicorn's WSGI path allows


def wsgi_adapter(app: WSGIApp, threads: int = WSGI_THREADS) -> ASGI3Application:
    return WSGIMiddleware(app, workers=threads)  # type: ignore[arg-type, return-value]
