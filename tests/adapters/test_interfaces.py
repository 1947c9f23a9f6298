"""ASGI2 apps and ``--interface auto``: each kind of app is recognised and served."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httpx
import pytest

from tests.support.server import serve
from uvicorn.adapters.detect import detect_interface


async def asgi3_function(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"asgi3 function"})


class ASGI2App:
    """The "double callable": instantiated per scope, then awaited with receive/send."""

    def __init__(self, scope: Any) -> None:
        assert scope["type"] == "http"
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        body = f"asgi2 {self.scope['path']} {self.scope['asgi']['version']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi function"]


class ASGIInstance:
    """A class-based ASGI3 app, e.g. a middleware instance wrapping another app."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.inner(scope, receive, send)


class WSGIInstance:
    """Flask and Django apps are instances whose ``__call__(environ, start_response)`` is sync."""

    def __call__(self, environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"wsgi instance"]


async def _with_prefix(prefix: bytes, scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": prefix + b" partial"})


def sync_returning_awaitable(scope: Any, receive: Any, send: Any) -> Any:
    return asgi3_function(scope, receive, send)


@pytest.mark.parametrize(
    ("app", "interface", "body"),
    [
        (asgi3_function, "asgi3", b"asgi3 function"),
        (ASGI2App, "asgi2", b"asgi2 /detect 2.0"),
        (wsgi_function, "wsgi", b"wsgi function"),
        (ASGIInstance(asgi3_function), "asgi3", b"asgi3 function"),
        (WSGIInstance(), "wsgi", b"wsgi instance"),
        (functools.partial(_with_prefix, b"functools"), "asgi3", b"functools partial"),
        (sync_returning_awaitable, "asgi3", b"asgi3 function"),
    ],
    ids=[
        "asgi3-function",
        "asgi2-class",
        "wsgi-function",
        "asgi3-instance",
        "wsgi-instance",
        "asgi3-partial",
        "asgi3-sync-returning-awaitable",
    ],
)
def test_auto_detection_serves_each_kind(app: Any, interface: str, body: bytes) -> None:
    assert detect_interface(app) == interface
    with serve(app, interface="auto") as running:
        response = httpx.get(running.url + "/detect", timeout=5)
    assert response.status_code == 200
    assert response.content == body


def test_detection_does_not_call_the_app() -> None:
    calls: list[Any] = []

    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        calls.append(environ)
        return []

    class ASGI2:
        def __init__(self, scope: Any) -> None:
            calls.append(scope)

    detect_interface(wsgi)
    detect_interface(ASGI2)
    assert calls == []


def test_asgi2_class_served_with_explicit_interface(http_backend: str) -> None:
    with serve(ASGI2App, interface="asgi2", http=http_backend) as running:
        response = httpx.get(running.url + "/explicit", timeout=5)
    assert response.text == "asgi2 /explicit 2.0"


def test_asgi2_instances_are_per_request() -> None:
    instances: list[int] = []

    class Counting:
        def __init__(self, scope: Any) -> None:
            instances.append(id(self))
            self.scope = scope

        async def __call__(self, receive: Any, send: Any) -> None:
            await asyncio.sleep(0)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    with serve(Counting) as running, httpx.Client(timeout=5) as client:
        for _ in range(3):
            assert client.get(running.url + "/").status_code == 204
    assert len(instances) == 3


def test_asgi3_scope_says_version_3() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["asgi"])
        await asgi3_function(scope, receive, send)

    with serve(app) as running:
        httpx.get(running.url + "/", timeout=5)
    assert seen[0]["version"] == "3.0"
    assert seen[0]["spec_version"] in ("2.3", "2.4", "2.5")
