"""Each request runs in an asyncio task of its own, with a context of its own.

Apps and libraries rely on both: anyio and sniffio find the running loop through
``asyncio.current_task()``, and a ``ContextVar`` an app sets for one request (a request
id, a database session) must not be what the next request on the connection starts
with. The core makes the task itself (no ``loop.create_task`` when no task factory
is set); these tests hold it to the same terms as asyncio's own, for an app that
answers at once, one that waits first, and pipelined requests.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

from tests.support.raw import RawClient
from tests.support.server import serve

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class TaskProbe:
    """Records, per request, its task and what the context var held on arrival, then
    sets the var for this request (and, on ``/wait``, answers after a loop turn)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, asyncio.Task[Any] | None, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        task = asyncio.current_task()
        arrived_with = REQUEST_ID.get()
        REQUEST_ID.set(path)
        if path.startswith("/wait"):
            await asyncio.sleep(0.01)
        # the var this request set is still its own after the wait
        self.seen.append((path, arrived_with, task, REQUEST_ID.get()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": path.encode()})


def request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: example.org\r\n\r\n".encode()


@pytest.mark.parametrize("http_backend", ["h11", "httptools"])
def test_every_request_has_its_own_task_and_context(http_backend: str) -> None:
    app = TaskProbe()
    paths = ["/now-1", "/wait-1", "/now-2", "/wait-2"]
    with serve(app, http=http_backend) as running:
        with RawClient(running.connect()) as raw:
            for path in paths:  # one at a time, on one keep-alive connection
                raw.send(request(path))
                response = raw.read_response()
                assert (response.status, response.body) == (200, path.encode())
            raw.send(b"".join(request(f"/pipelined-{n}") for n in range(3)))
            bodies = [raw.read_response().body for _ in range(3)]
    assert bodies == [b"/pipelined-0", b"/pipelined-1", b"/pipelined-2"]
    assert [entry[0] for entry in app.seen] == paths + [f"/pipelined-{n}" for n in range(3)]
    tasks = [entry[2] for entry in app.seen]
    assert all(isinstance(task, asyncio.Task) for task in tasks)
    assert len({id(task) for task in tasks}) == len(tasks), "two requests shared a task"
    for path, arrived_with, _task, after in app.seen:
        assert arrived_with == "unset", f"{path} started with {arrived_with!r}'s context"
        assert after == path


class Background:
    """Answers at once, then keeps working in the request's task: for ``wait`` seconds,
    or (``wait`` None) until cancelled, on an event that is never set. Records how
    the work ended."""

    def __init__(self, wait: float | None) -> None:
        self.wait = wait
        self.never = asyncio.Event()
        self.ended: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"accepted"})
        try:
            if self.wait is None:
                await self.never.wait()
            else:
                await asyncio.sleep(self.wait)
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        self.ended.append("finished")


@pytest.mark.parametrize("http_backend", ["h11", "httptools"])
def test_shutdown_waits_for_work_after_the_response(http_backend: str) -> None:
    # The task of a request answered at once is not in ServerState.tasks; shutdown
    # still finds it, and waits for it, before the loop closes.
    app = Background(wait=0.5)
    with serve(app, http=http_backend) as running:
        with RawClient(running.connect()) as raw:
            raw.send(request("/"))
            assert raw.read_response().body == b"accepted"
        assert len(running.server.server_state.running_tasks()) == 1
    assert app.ended == ["finished"]


@pytest.mark.parametrize("http_backend", ["h11", "httptools"])
def test_shutdown_cancels_work_past_the_graceful_timeout(
    http_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = Background(wait=None)
    with caplog.at_level("ERROR", logger="uvicorn.error"):
        with serve(app, http=http_backend, timeout_graceful_shutdown=0.5) as running:
            with RawClient(running.connect()) as raw:
                raw.send(request("/"))
                assert raw.read_response().body == b"accepted"
            assert len(running.server.server_state.running_tasks()) == 1
    assert app.ended == ["cancelled"]
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in caplog.text
