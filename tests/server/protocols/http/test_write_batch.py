"""Whole small responses are queued and written at the end of the loop iteration.

What must hold however the writes are grouped: each connection gets its own responses,
in request order, whatever else it writes after a queued one (a streamed response,
an error, ``Connection: close``), and nothing queued is lost when the connection
closes or the server shuts down.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from tests.support.apps import Gate, read_body, respond
from tests.support.raw import RawClient
from tests.support.server import serve


async def app(scope: Any, receive: Any, send: Any) -> None:
    """``/stream/...`` answers in three chunks; ``/boom`` fails before answering;
    anything else answers its path in one message (the queued kind)."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    await read_body(receive)
    if path.startswith("/stream/"):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"a", b"b", b"c"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": path.encode()})
        return
    if path == "/boom":
        raise RuntimeError("boom")
    await respond(send, path.encode())


def _get(path: str, extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n"


def test_pipelined_responses_keep_their_order(http_backend: str) -> None:
    requests = [
        "/one",
        "/stream/two",
        "/three",
        "/four",
        "/stream/five",
        "/six",
    ]
    with serve(app, http=http_backend) as server, RawClient(server.connect()) as client:
        client.send(b"".join(_get(path) for path in requests))
        bodies = [client.read_response().body for _ in requests]
    expected = [b"abc" + p.encode() if p.startswith("/stream/") else p.encode() for p in requests]
    assert bodies == expected


def test_a_queued_response_goes_out_before_an_error(http_backend: str) -> None:
    with serve(app, http=http_backend) as server, RawClient(server.connect()) as client:
        client.send(_get("/first") + _get("/boom") + _get("/never"))
        first = client.read_response()
        error = client.read_response()
        assert client.closed_within(5)
    assert (first.status, first.body) == (200, b"/first")
    assert error.status == 500


def test_a_queued_response_goes_out_before_the_close(http_backend: str) -> None:
    """The second request asks to close: its response is written directly, and the
    connection closes, both after the first request's queued response."""
    with serve(app, http=http_backend) as server, RawClient(server.connect()) as client:
        client.send(_get("/first") + _get("/last", b"Connection: close\r\n"))
        first = client.read_response()
        last = client.read_response()
        assert client.closed_within(5)
    assert (first.body, last.body) == (b"/first", b"/last")
    assert last.get("connection") == "close"


def test_each_connection_gets_its_own_responses(http_backend: str) -> None:
    """Many connections answered in the same loop iterations: no response crosses over."""
    with serve(app, http=http_backend) as server:
        clients = [RawClient(server.connect()) for _ in range(32)]
        try:
            for round_ in range(3):
                for number, client in enumerate(clients):
                    client.send(_get(f"/c{number}/r{round_}"))
                for number, client in enumerate(clients):
                    response = client.read_response()
                    assert response.body == f"/c{number}/r{round_}".encode()
        finally:
            for client in clients:
                client.close()


def test_shutdown_writes_what_was_queued(http_backend: str) -> None:
    """A response queued as the server is told to stop still reaches its client."""
    with serve(app, http=http_backend) as server:
        sock = server.connect()
        client = RawClient(sock)
        client.send(_get("/before"))
        assert client.read_response().body == b"/before"
        client.send(_get("/during"))
        server.server.should_exit = True
        response = client.read_response()
        client.close()
    assert response.body == b"/during"


def test_a_client_that_leaves_loses_nothing_for_others(http_backend: str) -> None:
    """A connection reset while its response is queued does not disturb the batch."""
    with serve(app, http=http_backend) as server:
        gone = server.connect()
        gone.sendall(_get("/gone"))
        gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        gone.close()  # a reset, maybe before its response is written
        with RawClient(server.connect()) as client:
            for number in range(5):
                client.send(_get(f"/stay{number}"))
                assert client.read_response().body == f"/stay{number}".encode()


def test_a_queued_response_goes_out_before_a_parse_error(http_backend: str) -> None:
    """The 400 for a malformed request pipelined behind a good one is written in the
    same step that queues the good one's response: it must come second."""
    with serve(app, http=http_backend) as server, RawClient(server.connect()) as client:
        client.send(_get("/good") + b"NOT A REQUEST\r\n\r\n")
        good = client.read_response()
        bad = client.read_response()
        assert client.closed_within(5)
    assert (good.status, good.body) == (200, b"/good")
    assert bad.status == 400


def test_a_response_finished_during_shutdown_is_written_before_the_close(
    http_backend: str,
) -> None:
    """Shutdown turns keep-alive off while the app is between its start and its body:
    the body then completes the response on the queued path and the connection closes
    in the same step, after the queued bytes."""
    gate = Gate()

    async def held(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await gate.wait()
        await send({"type": "http.response.body", "body": b"finished"})

    with serve(held, http=http_backend) as server, RawClient(server.connect()) as client:
        client.send(_get("/"))
        assert gate.entered.wait(5)
        server.server.should_exit = True
        # The listener closes in the same loop step that shuts the connections down; the
        # gate opens through the loop, so the app resumes only after that step.
        deadline = time.monotonic() + 5
        while server.server.servers[0].is_serving():
            assert time.monotonic() < deadline, "the server did not begin its shutdown"
            time.sleep(0.01)
        gate.open()
        response = client.read_response()
        assert client.closed_within(5)
    assert response.body == b"finished"
    assert response.get("connection") is None  # the head went out before the shutdown
