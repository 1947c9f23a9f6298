"""``--interface auto``: tell ASGI3, ASGI2 and WSGI apps apart by their signatures.

Nothing is called to find out. A coroutine function, or an object whose
``__call__`` is one, is ASGI3; a class is ASGI2 unless its instances are
awaitable. A plain (synchronous) callable is judged by its positional
parameters: one (``scope``) is ASGI2, two (``environ, start_response``) is WSGI
(Flask and Django apps are found this way), three is an ASGI3 callable that
returns an awaitable.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Literal

__all__ = ["detect_interface"]

Interface = Literal["asgi3", "asgi2", "wsgi"]


def _is_coroutine_function(obj: Any) -> bool:
    return inspect.iscoroutinefunction(obj) or asyncio.iscoroutinefunction(obj)


def detect_interface(app: Any) -> Interface:
    if inspect.isclass(app):
        if _is_coroutine_function(getattr(app, "__await__", None)):
            return "asgi3"
        return "asgi2"
    if _is_coroutine_function(app):
        return "asgi3"
    call = getattr(app, "__call__", None)  # noqa: B004
    if _is_coroutine_function(call):
        return "asgi3"
    try:
        parameters = inspect.signature(app).parameters
    except (TypeError, ValueError):
        return "asgi3"
    positional = [
        p
        for p in parameters.values()
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) == 1:
        return "asgi2"
    if len(positional) == 2:
        return "wsgi"
    return "asgi3"
