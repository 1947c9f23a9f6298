"""Closing without destroying the response: a connection that closes with input still
unread must not reset, because a reset makes the client's kernel drop the part of the
response it had not yet read. Over real sockets, with a client that reads late."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from tests.support.server import serve

BIG = 2 * 1024 * 1024


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"b" * BIG if scope["path"] == "/big" else b"ok"
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def read_all(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(262144):
        data += chunk
    return bytes(data)


@pytest.mark.parametrize("http_backend", ["h11", "httptools"])
@pytest.mark.parametrize(
    "request_bytes",
    [
        # more bytes behind a request that closes the connection
        b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + b"X" * 300_000,
        # a refused request with the rest of its (huge) body still coming
        b"GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2"
        b"\r\n\r\n" + b"Y" * 300_000,
    ],
    ids=["after-connection-close", "after-a-refusal"],
)
def test_a_late_reader_gets_the_whole_response(http_backend: str, request_bytes: bytes) -> None:
    with serve(app, http=http_backend) as running:
        sock = running.connect(timeout=10)
        with sock:
            sock.sendall(request_bytes)
            time.sleep(0.5)  # the server has answered and closed by now
            data = read_all(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head[:60]
    assert len(rest) >= BIG and rest[:BIG] == b"b" * BIG


@pytest.mark.parametrize("http_backend", ["h11", "httptools"])
def test_a_client_that_never_closes_holds_shutdown_only_for_the_linger(
    http_backend: str,
) -> None:
    """A lingering connection closes itself after LINGER seconds even when its client
    neither reads nor closes; a shutdown meanwhile waits for that, not for ever."""
    from uvicorn.server.protocols.http.connection import LINGER

    sock = None
    with serve(app, http=http_backend, timeout_graceful_shutdown=30) as running:
        sock = running.connect(timeout=10)
        # a request that closes the connection, then a head that never ends
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HT")
        time.sleep(0.2)
        started = time.monotonic()
    elapsed = time.monotonic() - started
    assert sock is not None
    sock.close()
    assert elapsed < LINGER + 1.5, elapsed
