"""The ASGI lifespan protocol: startup before serving, state, shutdown after, and the modes."""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx

import uvicorn
from tests.support.server import serve


class LifespanApp:
    """Records every scope type and lifespan message; fills ``state`` at startup."""

    def __init__(self) -> None:
        self.scope_types: list[str] = []
        self.messages: list[str] = []
        self.lifespan_scope: dict[str, Any] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope_types.append(scope["type"])
        if scope["type"] == "lifespan":
            self.lifespan_scope = scope
            while True:
                message = await receive()
                self.messages.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["db"] = "connected"
                    scope["state"]["hits"] = []
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        state = scope.get("state", {})
        body = repr(sorted(state.items())).encode()
        state["leak"] = "from an earlier request"  # must not reach the next request
        state.get("hits", []).append(scope["path"])  # the same objects are shared (shallow copy)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def test_startup_state_reaches_requests_without_leaking(http_backend: str) -> None:
    app = LifespanApp()
    with serve(app, lifespan="on", http=http_backend) as running, httpx.Client() as client:
        first = client.get(running.url + "/one", timeout=5).text
        second = client.get(running.url + "/two", timeout=5).text
    assert first == "[('db', 'connected'), ('hits', [])]"
    assert second == "[('db', 'connected'), ('hits', ['/one'])]"
    assert "leak" not in app.lifespan_scope["state"]  # type: ignore[index]


def test_lifespan_scope_and_shutdown_on_exit() -> None:
    app = LifespanApp()
    with serve(app, lifespan="on") as running:
        assert app.messages == ["lifespan.startup"]
        httpx.get(running.url + "/", timeout=5)
    assert app.messages == ["lifespan.startup", "lifespan.shutdown"]
    scope = app.lifespan_scope
    assert scope is not None
    assert scope["asgi"]["version"] == "3.0"
    assert "spec_version" in scope["asgi"]
    assert isinstance(scope["state"], dict)


def test_lifespan_off_never_sends_the_scope() -> None:
    app = LifespanApp()
    with serve(app, lifespan="off") as running:
        body = httpx.get(running.url + "/", timeout=5).text
    assert app.scope_types == ["http"]
    assert app.messages == []
    assert body == "[]"


def test_auto_with_unsupporting_app_logs_and_serves(
    uvicorn_logs: list[logging.LogRecord],
) -> None:
    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"unsupported scope {scope['type']}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"still serving"})

    with serve(http_only, lifespan="auto") as running:
        response = httpx.get(running.url + "/", timeout=5)
    assert response.text == "still serving"
    messages = [record.getMessage() for record in uvicorn_logs]
    assert "ASGI 'lifespan' protocol appears unsupported." in messages
    # not an error with a traceback: auto mode treats it as "no lifespan"
    assert not [r for r in uvicorn_logs if r.levelno >= logging.ERROR]


def _run_until_exit(app: Any, **kwargs: Any) -> uvicorn.Server:
    config = uvicorn.Config(app, port=0, log_config=None, **kwargs)
    server = uvicorn.Server(config)
    done = threading.Event()

    def target() -> None:
        server.run()
        done.set()

    threading.Thread(target=target, daemon=True).start()
    if not done.wait(10):
        server.should_exit = True
        raise AssertionError("the server kept running")
    return server


def test_startup_failed_message_stops_the_server(
    uvicorn_logs: list[logging.LogRecord],
) -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "cache is cold"})

    server = _run_until_exit(failing, lifespan="auto")
    assert not server.started
    errors = [r.getMessage() for r in uvicorn_logs if r.levelno >= logging.ERROR]
    assert "cache is cold" in errors
    assert "Application startup failed. Exiting." in errors


def test_exception_in_lifespan_on_stops_the_server(
    uvicorn_logs: list[logging.LogRecord],
) -> None:
    async def raising(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("no lifespan for you")

    server = _run_until_exit(raising, lifespan="on")
    assert not server.started
    tracebacks = [r for r in uvicorn_logs if r.exc_info]
    assert tracebacks and "no lifespan for you" in str(tracebacks[0].exc_info[1])  # type: ignore[index]


def test_shutdown_failed_is_logged(uvicorn_logs: list[logging.LogRecord]) -> None:
    async def bad_shutdown(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})
            return
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve(bad_shutdown, lifespan="on") as running:
        assert httpx.get(running.url + "/", timeout=5).status_code == 204
    errors = [r.getMessage() for r in uvicorn_logs if r.levelno >= logging.ERROR]
    assert "could not flush" in errors
    assert "Application shutdown failed. Exiting." in errors
