"""HTTPConnection over real sockets: keep-alive, pipelining, 100-continue, HEAD,
HTTP/1.0, Connection: close, flow control, admission and default headers.

Every test runs on both parser backends (the ``http_backend`` fixture).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tests.support.apps import Gate, read_body, respond
from tests.support.raw import RawClient
from tests.support.server import serve


def get(path: str = "/", *headers: str, version: str = "1.1", method: str = "GET") -> bytes:
    lines = [f"{method} {path} HTTP/{version}"]
    if version == "1.1":
        lines.append("Host: example.org")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def echo_path(scope: Any, receive: Any, send: Any) -> None:
    body = await read_body(receive)
    await respond(send, scope["method"].encode() + b" " + scope["path"].encode() + b" " + body)


async def client_port(scope: Any, receive: Any, send: Any) -> None:
    await respond(send, str(scope["client"][1]).encode())


# keep-alive -------------------------------------------------------------------------


def test_two_requests_share_one_connection(http_backend: str) -> None:
    with serve(client_port, http=http_backend) as running, httpx.Client() as client:
        first = client.get(running.url + "/one")
        second = client.get(running.url + "/two")
    assert first.status_code == second.status_code == 200
    assert "connection" not in first.headers
    assert first.text == second.text  # same client port: the connection was reused


def test_keep_alive_raw(http_backend: str) -> None:
    with serve(echo_path, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/a"))
        first = raw.read_response()
        raw.send(get("/b"))
        second = raw.read_response()
    assert (first.status, first.body) == (200, b"GET /a ")
    assert (second.status, second.body) == (200, b"GET /b ")
    assert first.get("connection") is None
    assert second.get("connection") is None


def test_keep_alive_timeout_closes_an_idle_connection(http_backend: str) -> None:
    with (
        serve(echo_path, http=http_backend, timeout_keep_alive=1) as running,
        RawClient(running.connect()) as raw,
    ):
        raw.send(get("/"))
        assert raw.read_response().status == 200
        assert raw.nothing_within(0.3), "closed long before the keep-alive timeout"
        assert raw.closed_within(2.0), "idle connection not closed after the keep-alive timeout"


def test_keep_alive_timeout_restarts_after_each_response(http_backend: str) -> None:
    with (
        serve(echo_path, http=http_backend, timeout_keep_alive=1) as running,
        RawClient(running.connect()) as raw,
    ):
        for path in ("/1", "/2", "/3"):
            raw.send(get(path))
            assert raw.read_response().body == b"GET " + path.encode() + b" "
            time.sleep(0.4)  # 1.2 s in all: longer than the timeout, but never idle for 1 s
        raw.send(get("/4"))
        assert raw.read_response().status == 200


# pipelining ---------------------------------------------------------------------------


async def slow_first(scope: Any, receive: Any, send: Any) -> None:
    await read_body(receive)
    if scope["path"] == "/1":
        await asyncio.sleep(0.2)
    await respond(send, scope["path"].encode())


def test_pipelined_requests_are_answered_in_order(http_backend: str) -> None:
    with serve(slow_first, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/1") + get("/2") + get("/3"))
        bodies = [raw.read_response().body for _ in range(3)]
        assert bodies == [b"/1", b"/2", b"/3"]
        assert raw.nothing_within(0.1)


def test_pipelined_requests_with_bodies(http_backend: str) -> None:
    stream = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nde\r\n1\r\nf\r\n0\r\n\r\n"
        b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    with serve(echo_path, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(stream)
        bodies = [raw.read_response().body for _ in range(3)]
        assert raw.closed_within(1.0)
    assert bodies == [b"POST /a abc", b"POST /b def", b"GET /c "]


def test_a_body_that_ends_like_a_head_is_a_body(http_backend: str) -> None:
    # One read that ends with an empty line, as a whole head does: the head and a
    # body that is itself a request head. The body reaches the app; nothing else is
    # answered.
    inner = b"GET /inner HTTP/1.1\r\nHost: y\r\n\r\n"
    stream = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(inner), inner)
    with serve(echo_path, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(stream)
        response = raw.read_response()
        assert raw.nothing_within(0.2)
        raw.send(get("/next"))
        following = raw.read_response()
    assert response.body == b"POST /a " + inner
    assert following.body == b"GET /next "


# Expect: 100-continue ------------------------------------------------------------------


def test_100_continue_is_sent_when_the_app_first_reads(http_backend: str) -> None:
    gate = Gate()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await gate.wait()
        body = await read_body(receive)
        await respond(send, b"got " + body)

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert gate.entered.wait(2)
        assert raw.nothing_within(0.2), "100 Continue sent before the app asked for the body"
        gate.open()
        assert raw.read_exact(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        raw.send(b"hello")
        response = raw.read_response()
    assert response.status == 200
    assert response.body == b"got hello"


def test_no_100_continue_when_the_app_answers_without_reading(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, b"no thanks", status=417)

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        response = raw.read_response()
        rest = raw.read_until_close()  # the unread body cannot be the next request
    assert response.status == 417
    assert response.body == b"no thanks"
    assert b"100 Continue" not in response.raw + rest


def test_no_100_continue_for_http_1_0(http_backend: str) -> None:
    with serve(echo_path, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"POST / HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi")
        data = raw.read_until_close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"100 Continue" not in data


# HEAD -------------------------------------------------------------------------------------


def test_head_has_headers_but_no_body(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, b"hello world", headers=[(b"content-type", b"text/plain")])

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/", method="HEAD"))
        head = raw.read_response(method="HEAD")
        assert raw.nothing_within(0.1), "HEAD response carried a body"
        raw.send(get("/"))
        following = raw.read_response()
    assert head.status == 200
    assert head.get("content-length") == "11"
    assert head.get("content-type") == "text/plain"
    assert head.raw_body == b""
    assert following.body == b"hello world"


def test_head_with_a_streamed_response(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/", method="HEAD") + get("/", method="HEAD"))
        first = raw.read_response(method="HEAD")
        second = raw.read_response(method="HEAD")
        assert raw.nothing_within(0.1)
    assert first.status == second.status == 200
    assert first.get("content-length") is None


# HTTP/1.0 and Connection: close -------------------------------------------------------


def test_http_1_0_closes_after_the_response(http_backend: str) -> None:
    with serve(echo_path, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/", version="1.0"))
        response = raw.read_response()
        assert raw.closed_within(1.0)
    assert response.status == 200
    assert response.body == b"GET / "
    assert response.get("connection") == "close"


def test_http_1_0_keep_alive_when_asked(http_backend: str) -> None:
    with serve(echo_path, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/a", "Connection: keep-alive", version="1.0"))
        first = raw.read_response()
        assert raw.nothing_within(0.1)
        raw.send(get("/b", version="1.0"))
        second = raw.read_response()
        assert raw.closed_within(1.0)
    assert first.get("connection") == "keep-alive"
    assert first.body == b"GET /a "
    assert second.body == b"GET /b "
    assert second.get("connection") == "close"


def test_connection_close_from_the_client(http_backend: str) -> None:
    with serve(echo_path, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/", "Connection: close"))
        response = raw.read_response()
        assert raw.closed_within(1.0)
    assert response.status == 200
    assert response.get("connection") == "close"


def test_bytes_after_connection_close_are_ignored(http_backend: str) -> None:
    recorded: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        recorded.append(scope["path"])
        await respond(send, b"ok")

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/first", "Connection: close") + get("/second"))
        response = raw.read_response()
        assert raw.closed_within(1.0)
    assert response.body == b"ok"
    assert recorded == ["/first"]


def test_app_connection_close_header_closes(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, b"bye", headers=[(b"connection", b"close")])

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/"))
        response = raw.read_response()
        assert raw.closed_within(1.0)
    assert response.get_all("connection") == ["close"]


# flow control ------------------------------------------------------------------------------


def test_large_request_body_read_slowly_arrives_intact(http_backend: str) -> None:
    payload = bytes(range(256)) * (5 * 4096)  # 5 MiB
    chunks: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.1)  # fall behind: the server must stop reading, not buffer it all
        digest = hashlib.sha256()
        while True:
            message = await receive()
            assert message["type"] == "http.request"
            digest.update(message["body"])
            chunks.append(len(message["body"]))
            if len(chunks) % 16 == 0:
                await asyncio.sleep(0.001)
            if not message.get("more_body", False):
                break
        await respond(send, digest.hexdigest().encode())

    with serve(app, http=http_backend) as running:
        response = httpx.post(running.url + "/", content=payload, timeout=10)
    assert response.status_code == 200
    assert response.text == hashlib.sha256(payload).hexdigest()
    assert sum(chunks) == len(payload)
    assert len(chunks) > 1


def test_large_response_to_a_slow_reader_arrives_intact(http_backend: str) -> None:
    piece = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    count = 256  # 16 MiB: more than the kernel buffers on both sides can hold
    finished = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(piece) * count).encode())],
            }
        )
        for _ in range(count):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        finished.set()

    with serve(app, http=http_backend) as running:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.settimeout(5)
        sock.connect((running.host, running.port))
        with RawClient(sock) as raw:
            raw.send(get("/"))
            time.sleep(0.3)
            # The client is not reading: send() must be waiting for it, not buffering 16 MiB.
            assert not finished.is_set(), "the app sent everything to a client that never read"
            head = raw.read_head()
            digest = hashlib.sha256()
            received = 0
            total = int(head.get("content-length") or 0)
            while received < total:
                data = raw.read_exact(min(32768, total - received))
                received += len(data)
                digest.update(data)
            assert finished.wait(2)
    assert head.status == 200
    assert digest.hexdigest() == hashlib.sha256(piece * count).hexdigest()


# admission --------------------------------------------------------------------------------


def test_limit_concurrency_answers_503_when_exceeded(http_backend: str) -> None:
    gate = Gate()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/hold":
            await gate.wait()
        await respond(send, b"done")

    with serve(app, http=http_backend, limit_concurrency=1) as running:
        with RawClient(running.connect()) as held:
            held.send(get("/hold", "Connection: close"))
            assert gate.entered.wait(2)
            with RawClient(running.connect()) as second:
                second.send(get("/"))
                refused = second.read_response()
                assert second.closed_within(1.0)
            gate.open()
            admitted = held.read_response()
            assert held.closed_within(1.0)
        # Once the held connection is gone the server admits again.
        for _ in range(40):
            with RawClient(running.connect()) as third:
                third.send(get("/"))
                again = third.read_response()
            if again.status == 200:
                break
            time.sleep(0.05)
    assert refused.status == 503
    assert refused.body == b"Service Unavailable"
    assert refused.get("connection") == "close"
    assert admitted.status == 200
    assert admitted.body == b"done"
    assert again.status == 200


# default headers ---------------------------------------------------------------------------


def test_default_server_and_date_headers(http_backend: str) -> None:
    with serve(echo_path, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/"))
        response = raw.read_response()
    assert response.get_all("server") == ["uvicorn"]
    dates = response.get_all("date")
    assert len(dates) == 1
    sent = parsedate_to_datetime(dates[0])
    assert sent.tzinfo is not None
    assert abs(sent.timestamp() - time.time()) < 5


def test_default_headers_can_be_switched_off(http_backend: str) -> None:
    with (
        serve(echo_path, http=http_backend, server_header=False, date_header=False) as running,
        RawClient(running.connect()) as raw,
    ):
        raw.send(get("/"))
        response = raw.read_response()
    assert response.get("server") is None
    assert response.get("date") is None
    assert response.body == b"GET / "


def test_extra_default_header(http_backend: str) -> None:
    with (
        serve(echo_path, http=http_backend, headers=[("X-Extra", "1")]) as running,
        RawClient(running.connect()) as raw,
    ):
        raw.send(get("/"))
        response = raw.read_response()
        raw.send(get("/again"))  # also on a kept-alive connection's next response
        again = raw.read_response()
    assert response.get_all("x-extra") == ["1"]
    assert again.get_all("x-extra") == ["1"]
    assert response.get_all("server") == ["uvicorn"]


def test_app_server_header_replaces_the_default(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, b"", headers=[(b"Server", b"mine"), (b"date", b"yesterday")])

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(get("/"))
        response = raw.read_response()
    assert response.get_all("server") == ["mine"]
    assert response.get_all("date") == ["yesterday"]


def test_default_headers_on_error_responses(http_backend: str) -> None:
    with (
        serve(echo_path, http=http_backend, headers=[("X-Extra", "1")]) as running,
        RawClient(running.connect()) as raw,
    ):
        raw.send(b"GET / HTTP/1.1\r\n\r\n")  # no Host
        response = raw.read_response()
    assert response.status == 400
    assert response.get_all("server") == ["uvicorn"]
    assert response.get_all("x-extra") == ["1"]
    assert len(response.get_all("date")) == 1
