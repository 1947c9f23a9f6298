"""An app that answers without reading the request body.

The connection is kept when the rest of the body is small (up to DISCARD_LIMIT is read
and dropped after the response, as Go's net/http does); when it is larger, or when a
client waits for 100 Continue that never came, the response says ``Connection: close``
and the connection closes after it. Either way the next request on the connection is
never mistaken for body bytes, and body bytes are never mistaken for a request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.memory import open_connection, run_until
from uvicorn.server.protocols.http.cycle import DISCARD_LIMIT

BACKENDS = ("h11", "httptools")
NEXT = b"GET /next HTTP/1.1\r\nHost: example.org\r\n\r\n"


class NoReader:
    """Answers at once without ever calling receive() (except on /next: nothing to read)."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})


def run(backend: str, pieces: list[bytes]) -> tuple[bytes, bool, list[str]]:
    """Feed ``pieces`` with loop turns between them (the app answers after the first)."""
    app = NoReader()

    async def main() -> tuple[bytes, bool]:
        conn, transport = open_connection(app, backend)
        for piece in pieces:
            conn.data_received(piece)
            for _ in range(5):
                await asyncio.sleep(0)
        await run_until(lambda: transport.closed or transport.output.count(b"HTTP/1.1 ") >= 2)
        for _ in range(5):
            await asyncio.sleep(0)
        return bytes(transport.output), transport.closed

    output, closed = asyncio.run(main())
    return output, closed, app.paths


def head_of(output: bytes) -> bytes:
    return output.split(b"\r\n\r\n", 1)[0].lower()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_small_unread_body_is_dropped_and_the_connection_serves_the_next_request(
    backend: str,
) -> None:
    size = 100_000
    head = b"POST /upload HTTP/1.1\r\nHost: example.org\r\nContent-Length: %d\r\n\r\n" % size
    # the body arrives after the response, in pieces, with a request line lookalike in it
    body = (b"GET /smuggled HTTP/1.1\r\n\r\n" + b"x" * size)[:size]
    output, closed, paths = run(backend, [head, body[:30_000], body[30_000:], NEXT])
    assert b"connection: close" not in head_of(output)
    assert output.count(b"HTTP/1.1 200 ") == 2
    assert paths == ["/upload", "/next"]
    assert not closed


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_chunked_unread_body_is_dropped_too(backend: str) -> None:
    head = b"POST /upload HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunks = b"".join(b"1000\r\n" + b"y" * 4096 + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
    output, closed, paths = run(backend, [head, chunks[:5000], chunks[5000:] + NEXT])
    assert output.count(b"HTTP/1.1 200 ") == 2
    assert paths == ["/upload", "/next"]
    assert not closed


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_large_unread_body_gets_connection_close(backend: str) -> None:
    size = DISCARD_LIMIT + 1
    head = b"POST /upload HTTP/1.1\r\nHost: example.org\r\nContent-Length: %d\r\n\r\n" % size
    output, closed, paths = run(backend, [head, b"z" * 1000])
    assert b"connection: close" in head_of(output)
    assert output.count(b"HTTP/1.1 ") == 1
    assert paths == ["/upload"]
    assert closed


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_chunked_body_past_the_bound_closes_after_the_response(backend: str) -> None:
    head = b"POST /upload HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"10000\r\n" + b"w" * 65536 + b"\r\n"
    output, closed, paths = run(backend, [head, chunk, chunk * 5 + b"0\r\n\r\n" + NEXT])
    assert output.count(b"HTTP/1.1 200 ") == 1  # /next is never read as a request
    assert paths == ["/upload"]
    assert closed


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_keep_alive_when_100_continue_was_never_sent(backend: str) -> None:
    head = (
        b"POST /upload HTTP/1.1\r\nHost: example.org\r\nContent-Length: 10\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    output, closed, paths = run(backend, [head])
    assert not output.startswith(b"HTTP/1.1 100")
    assert b"connection: close" in head_of(output)
    assert paths == ["/upload"]
    assert closed
