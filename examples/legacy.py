"""A plain WSGI application, served through the server's WSGI adapter.

Run it from the repository root::

    uvicorn examples.legacy:wsgi_app --interface wsgi

then ``curl 127.0.0.1:8000``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

Environ = MutableMapping[str, Any]
StartResponse = Callable[..., Any]

BODY = b"Hello from WSGI!"


def wsgi_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(BODY))),
        ],
    )
    return [BODY]
