"""HTTPConnection driven in memory: a real event loop, a transport double, and
full control over how the input is cut and when the loop runs.

The same request stream is fed whole, byte by byte, and split at every
position; every way and both backends must write the same bytes (the ``date``
header masked). Flow control is observed directly on the transport.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support.corpus import ERRORS, PROBES
from tests.support.memory import MemoryTransport, run_until
from tests.support.raw import RawClient, RawResponse, mask_date
from uvicorn.server.protocols.context import ServerContext, ServerState
from uvicorn.server.protocols.http.backends import backend_factory
from uvicorn.server.protocols.http.connection import MAX_PIPELINE, HTTPConnection
from uvicorn.server.protocols.http.cycle import HIGH_WATER
from uvicorn.server.protocols.http.limits import Limits

BACKENDS = ("h11", "httptools")

App = Callable[[Any, Any, Any], Awaitable[None]]


def connect(app: App, backend: str, **context: Any) -> tuple[HTTPConnection, MemoryTransport]:
    """A connection as the server would build it, made on a memory transport."""
    options: dict[str, Any] = {
        "app": app,
        "asgi_version": "3.0",
        "backend_factory": backend_factory(backend),
        "limits": Limits(),
        "timeout_keep_alive": 5.0,
        "prepare_scope": None,
        "admission": None,
        "observers": (),
        "reset_contextvars": False,
        "log_trace": False,
    }
    options.update(context)
    conn = HTTPConnection(ServerContext(**options), ServerState(), {}, asyncio.get_running_loop())
    transport = MemoryTransport()
    transport.protocol = conn
    conn.connection_made(transport)
    return conn, transport


async def settle(rounds: int = 50) -> None:
    """Run the loop for a while; apps here never wait on time, only on each other."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class BytesSocket:
    """Enough of a socket for :class:`RawClient` to parse bytes already received."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def settimeout(self, timeout: float | None) -> None:
        pass

    def recv(self, size: int) -> bytes:
        data, self.data = self.data[:size], self.data[size:]
        return data

    def close(self) -> None:
        pass


def parse(output: bytes, methods: list[str]) -> list[RawResponse]:
    client = RawClient(BytesSocket(output))  # type: ignore[arg-type]
    responses = [client.read_response(method) for method in methods]
    assert client.read_until_close() == b"", "bytes after the last response"
    return responses


# the pipelined stream --------------------------------------------------------------------

STREAM = (
    b"GET /a?x=1 HTTP/1.1\r\nHost: example.org\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: example.org\r\nContent-Length: 5\r\n\r\nhello"
    b"POST /c HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    b"HEAD /d HTTP/1.1\r\nHost: example.org\r\n\r\n"
    b"GET /stream HTTP/1.1\r\nHost: example.org\r\n\r\n"
    b"GET /caf%C3%A9 HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n"
)
METHODS = ["GET", "POST", "POST", "HEAD", "GET", "GET"]


async def stream_app(scope: Any, receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one,", "more_body": True})
        await send({"type": "http.response.body", "body": b"two", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    text = f"{scope['method']} {scope['path']} {scope['query_string'].decode()} "
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode() + body})


async def feed_whole(conn: HTTPConnection, data: bytes) -> None:
    conn.data_received(data)


async def feed_bytewise(conn: HTTPConnection, data: bytes) -> None:
    for index in range(len(data)):
        conn.data_received(data[index : index + 1])


async def feed_bytewise_yielding(conn: HTTPConnection, data: bytes) -> None:
    """One byte at a time, letting the app run between bytes."""
    for index in range(len(data)):
        conn.data_received(data[index : index + 1])
        await asyncio.sleep(0)


FEEDS = {"whole": feed_whole, "bytewise": feed_bytewise, "yielding": feed_bytewise_yielding}


async def serve_stream(
    backend: str, feed: Callable[[HTTPConnection, bytes], Awaitable[None]], data: bytes
) -> bytes:
    conn, transport = connect(stream_app, backend)
    await feed(conn, data)
    await run_until(lambda: transport.closed)
    await settle(3)
    assert conn.closed
    return mask_date(transport.take())


def test_pipelined_stream_gives_the_same_bytes_every_way() -> None:
    async def main() -> dict[str, bytes]:
        return {
            f"{backend}/{name}": await serve_stream(backend, feed, STREAM)
            for backend in BACKENDS
            for name, feed in FEEDS.items()
        }

    outputs = asyncio.run(main())
    reference = outputs["h11/whole"]
    assert {way: output == reference for way, output in outputs.items()} == dict.fromkeys(
        outputs, True
    )
    responses = parse(reference, METHODS)
    assert [r.status for r in responses] == [200] * 6
    assert [r.body for r in responses] == [
        b"GET /a x=1 ",
        b"POST /b  hello",
        b"POST /c  abcde",
        b"",
        b"one,two",
        "GET /café  ".encode(),
    ]
    assert responses[3].get("content-length") == str(len(b"HEAD /d  "))
    assert responses[4].raw_body == b"4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n"
    assert responses[5].get("connection") == "close"
    assert [r.get("connection") for r in responses[:5]] == [None] * 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_pipelined_stream_split_at_every_position(backend: str) -> None:
    async def main() -> tuple[bytes, dict[int, bytes]]:
        reference = await serve_stream(backend, feed_whole, STREAM)
        different: dict[int, bytes] = {}
        for cut in range(1, len(STREAM)):

            async def feed(conn: HTTPConnection, data: bytes, cut: int = cut) -> None:
                conn.data_received(data[:cut])
                await settle(5)
                conn.data_received(data[cut:])

            output = await serve_stream(backend, feed, STREAM)
            if output != reference:
                different[cut] = output
        return reference, different

    reference, different = asyncio.run(main())
    assert len(parse(reference, METHODS)) == 6
    assert different == {}


# framing errors and parity probes ---------------------------------------------------------


async def answer(backend: str, data: bytes, bytewise: bool) -> tuple[bytes, bool, int]:
    """(bytes written, closed?, app calls) for ``data`` fed whole or byte by byte."""
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    conn, transport = connect(app, backend)
    if bytewise:
        await feed_bytewise_yielding(conn, data)
    else:
        conn.data_received(data)
    await settle()
    closed = transport.closed
    if not closed:
        transport.close()
        await settle(3)
    return mask_date(transport.take()), closed, len(calls)


@pytest.mark.parametrize("name", list(ERRORS))
def test_framing_errors_in_memory(name: str) -> None:
    request, status, bad_head = ERRORS[name]

    async def main() -> dict[str, tuple[bytes, bool, int]]:
        return {
            f"{backend}/{'bytewise' if bytewise else 'whole'}": await answer(
                backend, request, bytewise
            )
            for backend in BACKENDS
            for bytewise in (False, True)
        }

    results = asyncio.run(main())
    for way, (output, closed, calls) in results.items():
        assert output.startswith(b"HTTP/1.1 %d " % status), (way, output)
        assert closed, way
        if bad_head or way.endswith("whole"):
            assert calls == 0, way
    agree = len({output for output, _, _ in results.values()}) == 1
    assert agree, {way: output.split(b"\r\n")[0] for way, (output, _, _) in results.items()}


@pytest.mark.parametrize("name", list(PROBES))
def test_parity_probes_in_memory(name: str) -> None:
    async def main() -> dict[str, tuple[bytes, bool, int]]:
        return {
            f"{backend}/{'bytewise' if bytewise else 'whole'}": await answer(
                backend, PROBES[name], bytewise
            )
            for backend in BACKENDS
            for bytewise in (False, True)
        }

    results = asyncio.run(main())
    summary = {
        way: (out.split(b"\r\n")[0], closed, calls) for way, (out, closed, calls) in results.items()
    }
    agree = len(set(results.values())) == 1
    assert agree, summary


# flow control -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_reading_pauses_while_the_app_falls_behind(backend: str) -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB, four times the high-water mark
    piece = 4096

    async def main() -> tuple[MemoryTransport, str, int]:
        start = asyncio.Event()
        digest = hashlib.sha256()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await start.wait()
            while True:
                message = await receive()
                digest.update(message["body"])
                await asyncio.sleep(0)
                if not message["more_body"]:
                    break
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})

        conn, transport = connect(app, backend)
        conn.data_received(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(payload)
        )
        most_buffered = 0
        offset = 0
        while offset < len(payload):
            if transport.reading_paused:
                # A real transport would stop calling data_received now: so do we.
                start.set()
                await run_until(lambda: not transport.reading_paused)
                continue
            conn.data_received(payload[offset : offset + piece])
            offset += piece
            assert conn.cycle is not None
            most_buffered = max(most_buffered, conn.cycle.buffered)
        await run_until(lambda: b"done" in transport.output)
        assert not transport.reading_paused
        return transport, digest.hexdigest(), most_buffered

    transport, received, most_buffered = asyncio.run(main())
    assert transport.pause_calls >= 1
    assert transport.resume_calls == transport.pause_calls
    assert most_buffered <= HIGH_WATER + piece
    assert received == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize("backend", BACKENDS)
def test_send_waits_while_the_transport_is_paused(backend: str) -> None:
    async def main() -> None:
        sent: list[int] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for index in range(3):
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                sent.append(index)
            await send({"type": "http.response.body", "body": b""})

        conn, transport = connect(app, backend)
        conn.pause_writing()  # the client reads slowly: the transport's buffer is full
        conn.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await settle()
        assert sent == []  # the first body message was written, then send() waited
        assert transport.output.endswith(b"\r\n\r\n1\r\nx\r\n")
        conn.resume_writing()
        await run_until(lambda: transport.output.endswith(b"0\r\n\r\n"))
        assert sent == [0, 1, 2]

    asyncio.run(main())


@pytest.mark.parametrize("backend", BACKENDS)
def test_reading_pauses_when_too_many_requests_are_queued(backend: str) -> None:
    async def main() -> MemoryTransport:
        release = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["path"] == "/0":
                await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": scope["path"].encode()})

        conn, transport = connect(app, backend)
        count = MAX_PIPELINE + 4
        conn.data_received(
            b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % index for index in range(count))
        )
        await settle()
        assert transport.reading_paused
        assert transport.output == b""
        release.set()
        await run_until(lambda: transport.output.count(b"HTTP/1.1 200 OK") == count)
        assert not transport.reading_paused
        bodies = [r.body for r in parse(mask_date(transport.take()), ["GET"] * count)]
        assert bodies == [b"/%d" % index for index in range(count)]
        return transport

    transport = asyncio.run(main())
    assert transport.pause_calls == transport.resume_calls == 1


# 100-continue, deterministically ---------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_100_continue_only_once_the_app_reads(backend: str) -> None:
    async def main() -> None:
        read = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await read.wait()
            message = await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": message["body"]})

        conn, transport = connect(app, backend)
        conn.data_received(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        await settle()
        assert transport.output == b""
        read.set()
        await settle()
        assert transport.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.data_received(b"abc")
        await run_until(lambda: transport.output.endswith(b"abc"))
        assert b"100 Continue" not in transport.output

    asyncio.run(main())


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_100_continue_when_the_body_is_already_here(backend: str) -> None:
    async def main() -> bytes:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            message = await receive()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": message["body"]})

        conn, transport = connect(app, backend)
        conn.data_received(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc"
        )
        await run_until(lambda: transport.output.endswith(b"abc"))
        return bytes(transport.output)

    output = asyncio.run(main())
    assert output.startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_observers_get_each_iteration_once_and_survive_a_broken_one(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Requests of several connections that finish in one loop iteration reach every
    observer as one batch, after their responses were written; an observer that
    raises is logged and the others still see every request."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    batches: list[list[Any]] = []

    def broken(records: list[Any]) -> None:
        raise RuntimeError("observer bug")

    async def main() -> None:
        first, transport = connect(app, backend, observers=(broken, batches.append))
        pairs = [(first, transport)]
        for _ in range(2):  # more connections of the same server
            conn = HTTPConnection(first.ctx, first.state, {}, asyncio.get_running_loop())
            other = MemoryTransport()
            other.protocol = conn
            conn.connection_made(other)
            pairs.append((conn, other))
        for number, (conn, _) in enumerate(pairs):
            conn.data_received(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % number)
        await run_until(lambda: sum(len(batch) for batch in batches) == 3)
        for _, written in pairs:
            assert len(parse(bytes(written.output), ["GET"])) == 1
        first.data_received(b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
        await run_until(lambda: sum(len(batch) for batch in batches) == 4)
        for _, written in pairs:
            written.close()

    with caplog.at_level("ERROR", logger="uvicorn.error"):
        asyncio.run(main())
    paths = [sorted(record.scope["path"] for record in batch) for batch in batches]
    assert paths == [["/0", "/1", "/2"], ["/3"]]
    assert all(record.status == 200 for batch in batches for record in batch)
    failures = [r for r in caplog.records if "Request observer" in r.getMessage()]
    assert len(failures) == 2 and failures[0].exc_info is not None
