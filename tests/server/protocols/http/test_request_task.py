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
