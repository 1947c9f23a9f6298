"""Chunked bodies and message boundaries, read by this server rather than by the parser
library (protocols/http/chunked.py, and the framing in the httptools backend): both
backends must cut the same bytes into the same requests with the same bodies."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.memory import open_connection, run_until
from uvicorn.server.protocols.http.chunked import MAX_CHUNK_LINE

BACKENDS = ("h11", "httptools")
POST = b"POST /%d HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n"


class Recorder:
    """Answers each request with its path and the body it received."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.requests.append((scope["path"], body))
        payload = scope["path"].encode() + b":" + body
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(payload))],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def exchange(backend: str, data: bytes, cuts: list[int], answers: int) -> tuple[bytes, Recorder]:
    app = Recorder()

    async def main() -> bytes:
        conn, transport = open_connection(app, backend)
        start = 0
        for end in [*cuts, len(data)]:
            if end > start:
                conn.data_received(data[start:end])
                start = end
            await asyncio.sleep(0)
        await run_until(lambda: transport.closed or transport.output.count(b"HTTP/1.1 ") >= answers)
        return bytes(transport.output)

    return asyncio.run(main()), app


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_chunk_line_at_the_limit_is_read_and_one_byte_more_is_refused(backend: str) -> None:
    def request(line_length: int) -> bytes:
        extension = b";e=" + b"x" * (line_length - 4)
        return POST % 1 + b"5" + extension + b"\r\nhello\r\n0\r\n\r\n"

    output, app = exchange(backend, request(MAX_CHUNK_LINE), [], 1)
    assert output.startswith(b"HTTP/1.1 200 ")
    assert app.requests == [("/1", b"hello")]
    data = request(MAX_CHUNK_LINE + 1)
    for cuts in ([], list(range(0, len(data), 997))):
        output, app = exchange(backend, data, cuts, 1)
        assert output.startswith(b"HTTP/1.1 400 "), output[:40]
        assert app.requests == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_thousands_of_pipelined_chunked_requests_in_one_read(backend: str) -> None:
    """Each chunked body hands the bytes after it back to the head parser; that must
    be a loop, not a recursion as deep as the pipeline."""
    count = 3000
    data = b"".join(POST % i + b"2\r\n%02d\r\n0\r\n\r\n" % (i % 100) for i in range(count))
    output, app = exchange(backend, data, [], count)
    assert output.count(b"HTTP/1.1 200 ") == count
    assert app.requests == [(f"/{i}", b"%02d" % (i % 100)) for i in range(count)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cut", [0, 20, 75, 81, 83, 90, 99])
def test_a_declined_upgrade_is_served_as_plain_http_with_its_body(backend: str, cut: int) -> None:
    """llhttp skips the body of any request that asks for an upgrade; one the server
    does not take (an unknown protocol) must still get its body, and the request after
    it must start where the body ends, as on h11."""
    data = (
        b"POST /up HTTP/1.1\r\nHost: example.org\r\nConnection: upgrade\r\nUpgrade: foo/1\r\n"
        b"Content-Length: 5\r\n\r\nhello"
        b"GET /next HTTP/1.1\r\nHost: example.org\r\n\r\n"
    )
    output, app = exchange(backend, data, [cut] if cut else [], 2)
    assert app.requests == [("/up", b"hello"), ("/next", b"")]
    assert output.count(b"HTTP/1.1 200 ") == 2


def test_both_backends_cut_a_mixed_pipeline_alike() -> None:
    data = (
        b"\r\n"
        + POST % 1
        + b"3;a=b\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
        + b"POST /2 HTTP/1.1\r\nHost: example.org\r\nContent-Length: 4\r\n\r\nwxyz"
        + b"GET /3 HTTP/1.1\r\nHost: example.org\r\n\r\n"
        + POST % 4
        + b"1\r\nq\r\n1\r\nr\r\n0\r\n\r\n"
    )
    expected = [("/1", b"abc"), ("/2", b"wxyz"), ("/3", b""), ("/4", b"qr")]
    outputs = set()
    for backend in BACKENDS:
        for cuts in ([], list(range(len(data))), list(range(0, len(data), 7))):
            output, app = exchange(backend, data, cuts, 4)
            assert app.requests == expected, (backend, cuts[:3])
            outputs.add(output)
    assert len(outputs) == 1
