"""WebSocketConnection driven in memory: a real event loop, a transport double,
and the ``websockets`` library's sans-IO ``ClientProtocol`` as the peer.

Only memory controls segmentation and back-pressure exactly: the same
conversation is fed whole, byte by byte and split at every position, and both
backends must give the app the same messages and write the same bytes. Flow
control is observed on the transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from tests.support.memory import MemoryTransport, run_until
from uvicorn.server.protocols.context import ServerContext, ServerState, WebSocketSettings
from uvicorn.server.protocols.http.backends import backend_factory
from uvicorn.server.protocols.http.head import build_head
from uvicorn.server.protocols.http.limits import Limits
from uvicorn.server.protocols.websocket import websocket_factory
from uvicorn.server.protocols.websocket.connection import WebSocketConnection

BACKENDS = ("websockets", "wsproto")
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="

App = Callable[[Any, Any, Any], Awaitable[None]]


class HalfClosingTransport(MemoryTransport):
    """A memory transport that can half-close, as a TCP transport can."""

    def __init__(self) -> None:
        super().__init__()
        self.eof_written = False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.eof_written, "write after write_eof"
        super().write(data)

    def abort(self) -> None:
        self.close()


def open_ws(
    app: App, backend: str, **settings: Any
) -> tuple[WebSocketConnection, HalfClosingTransport, ServerState]:
    """A WebSocket connection as the HTTP core hands it over, on a memory transport."""
    settings.setdefault("per_message_deflate", False)
    settings.setdefault("ping_interval", None)
    context = ServerContext(
        app=app,
        asgi_version="3.0",
        backend_factory=backend_factory("h11"),
        limits=Limits(),
        timeout_keep_alive=5.0,
        prepare_scope=None,
        admission=None,
        observers=(),
        reset_contextvars=False,
        log_trace=False,
        ws=WebSocketSettings(**settings),
    )
    head = build_head(
        "GET",
        b"/chat",
        "1.1",
        [
            (b"host", b"example.org"),
            (b"upgrade", b"websocket"),
            (b"connection", b"upgrade"),
            (b"sec-websocket-key", KEY),
            (b"sec-websocket-version", b"13"),
        ],
    )
    factory = websocket_factory(backend)
    assert factory is not None
    state = ServerState(date_header=False)
    transport = HalfClosingTransport()
    conn = factory(context, state, {}, head, ("127.0.0.1", 5000), ("127.0.0.1", 8000), "http", None)
    assert isinstance(conn, WebSocketConnection)
    transport.protocol = conn
    conn.connection_made(transport)
    return conn, transport, state


def peer() -> ClientProtocol:
    """The client end, already past its handshake: masks its frames, parses ours."""
    return ClientProtocol(parse_uri("ws://example.org/chat"), state=State.OPEN)


def out(client: ClientProtocol) -> bytes:
    return b"".join(client.data_to_send())


async def settle(rounds: int = 30) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


# the same conversation, cut every way ----------------------------------------------------------


def conversation() -> bytes:
    client = peer()
    client.send_text(b"hello")
    client.send_binary(b"\x00\x01", fin=False)
    client.send_ping(b"ping!")  # between two fragments of a message
    client.send_continuation(b"\x02", fin=True)
    client.send_text(b"sp", fin=False)
    client.send_continuation("lit €".encode()[:4], fin=False)  # a character cut in two
    client.send_continuation("lit €".encode()[4:], fin=True)
    client.send_close(4000, "bye")
    return out(client)


async def run_conversation(backend: str, cuts: list[int]) -> tuple[list[Any], bytes]:
    received: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            received.append(message)
            if message["type"] == "websocket.disconnect":
                return

    conn, transport, _ = open_ws(app, backend)
    await settle()
    data = conversation()
    start = 0
    for cut in [*cuts, len(data)]:
        if cut > start:
            conn.data_received(data[start:cut])
            await settle(3)
        start = cut
    await run_until(lambda: transport.eof_written)
    await settle()
    return received, transport.take()


EXPECTED_MESSAGES = [
    {"type": "websocket.receive", "text": "hello"},
    {"type": "websocket.receive", "bytes": b"\x00\x01\x02"},
    {"type": "websocket.receive", "text": "split €"},
    {"type": "websocket.disconnect", "code": 4000, "reason": "bye"},
]


def test_conversation_whole_and_byte_by_byte_on_both_backends() -> None:
    async def main() -> dict[tuple[str, str], tuple[list[Any], bytes]]:
        results = {}
        length = len(conversation())
        for backend in BACKENDS:
            results[backend, "whole"] = await run_conversation(backend, [])
            results[backend, "bytes"] = await run_conversation(backend, list(range(1, length)))
        return results

    results = asyncio.run(main())
    reference = results["websockets", "whole"]
    assert reference[0] == EXPECTED_MESSAGES
    client = peer()
    client.receive_data(reference[1].split(b"\r\n\r\n", 1)[1])
    frames = [(frame.opcode, frame.data) for frame in client.events_received()]
    assert frames == [(Opcode.PONG, b"ping!"), (Opcode.CLOSE, b"\x0f\xa0bye")]
    for key, result in results.items():
        assert result == reference, key


@pytest.mark.parametrize("backend", BACKENDS)
def test_conversation_split_at_every_position(backend: str) -> None:
    async def main() -> list[int]:
        reference = await run_conversation(backend, [])
        different = []
        for cut in range(1, len(conversation())):
            if await run_conversation(backend, [cut]) != reference:
                different.append(cut)
        return different

    assert asyncio.run(main()) == []


# flow control -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_reading_pauses_at_max_queue_and_resumes_at_a_quarter(backend: str) -> None:
    async def main() -> None:
        permits: asyncio.Queue[None] = asyncio.Queue()
        received: list[Any] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            while len(received) < 8:
                await permits.get()  # one message per permit the test hands out
                received.append(await receive())

        async def let_app_take(count: int) -> None:
            for _ in range(count):
                permits.put_nowait(None)
            goal = len(received) + count
            await run_until(lambda: len(received) == goal)
            await settle()

        conn, transport, _ = open_ws(app, backend, max_queue=8)
        await settle()
        client = peer()
        for index in range(7):
            client.send_text(str(index).encode())
            conn.data_received(out(client))
        assert not transport.reading_paused  # 7 waiting messages: under the mark
        client.send_text(b"7")
        conn.data_received(out(client))
        assert transport.reading_paused  # 8 waiting for the app: stop reading
        await let_app_take(5)
        assert transport.reading_paused  # 3 still waiting: above a quarter of 8
        await let_app_take(1)
        assert not transport.reading_paused  # 2 waiting: reading resumes
        await let_app_take(2)
        assert [m["text"] for m in received] == [str(i) for i in range(8)]

    asyncio.run(main())


@pytest.mark.parametrize("backend", BACKENDS)
def test_send_waits_for_drain(backend: str) -> None:
    async def main() -> None:
        sent: list[int] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            for index in range(3):
                await send({"type": "websocket.send", "text": str(index)})
                sent.append(index)
            await receive()

        conn, transport, _ = open_ws(app, backend)
        conn.pause_writing()
        await settle()
        assert sent == []  # the first message is written, its send waits for drain
        conn.resume_writing()
        await run_until(lambda: len(sent) == 3)
        await settle()  # message frames leave together at the end of the loop iteration
        client = peer()
        client.receive_data(transport.take().split(b"\r\n\r\n", 1)[1])
        assert [frame.data for frame in client.events_received()] == [b"0", b"1", b"2"]

    asyncio.run(main())


@pytest.mark.parametrize("backend", BACKENDS)
def test_observers_see_one_record_per_connection(backend: str) -> None:
    async def main() -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept", "headers": [(b"x-a", b"1")]})
            message = await receive()
            await send({"type": "websocket.send", "bytes": message["text"].encode() * 2})
            await receive()

        conn, transport, state = open_ws(app, backend)
        records: list[Any] = []
        conn.ctx.observers = (records.extend,)
        await settle()
        client = peer()
        client.send_text(b"abc")
        conn.data_received(out(client))
        await settle()
        client.send_close(1000)
        conn.data_received(out(client))
        await run_until(lambda: transport.eof_written)
        transport.close()
        await run_until(lambda: bool(records))
        (record,) = records
        assert (record.status, record.request_body_size, record.response_body_size) == (
            101,
            3,
            6,
        )
        assert record.response_headers == [(b"x-a", b"1")]
        assert record.finished_at >= record.started_at
        assert state.total_requests == 1 and not state.connections and not state.tasks

    asyncio.run(main())


def test_close_frames_the_library_refuses_are_checked_by_the_core() -> None:
    async def main() -> list[str]:
        errors: list[str] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            for code in (1005, 999, 5000, "1000"):
                try:
                    await send({"type": "websocket.close", "code": code})
                except ValueError as exc:
                    errors.append(str(exc))
            await send({"type": "websocket.close", "code": 1000, "reason": "é" * 100})

        _, transport, _ = open_ws(app, "websockets")
        await settle()
        client = peer()
        client.receive_data(transport.take().split(b"\r\n\r\n", 1)[1])
        (frame,) = client.events_received()
        assert isinstance(frame, Frame) and frame.opcode is Opcode.CLOSE
        assert frame.data[2:].decode() == "é" * 61  # 122 bytes: no character cut in two
        return errors

    assert len(asyncio.run(main())) == 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_messages_sent_in_one_iteration_leave_in_one_write(backend: str) -> None:
    """Message frames an app sends before it yields go out in one write, at the end
    of the loop iteration; a big message goes at once; the close frame comes after
    the messages queued before it."""
    from uvicorn.server.protocols.websocket.connection import FLUSH_AT

    async def main() -> None:
        big = b"x" * FLUSH_AT
        written_before_yield: list[int] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await send({"type": "websocket.accept"})
            await receive()
            for index in range(3):
                await send({"type": "websocket.send", "text": str(index)})
            written_before_yield.append(len(transport.writes))
            await send({"type": "websocket.send", "bytes": big})
            written_before_yield.append(len(transport.writes))
            await send({"type": "websocket.send", "text": "last"})
            await send({"type": "websocket.close", "code": 1000})

        conn, transport, _ = open_ws(app, backend)
        await settle()
        handshake_writes = len(transport.writes)
        client = peer()
        client.send_text(b"go")
        conn.data_received(out(client))
        await run_until(
            lambda: transport.eof_written or len(transport.writes) > handshake_writes + 2
        )
        await settle()
        # nothing written while the app ran without yielding, until the big message
        assert written_before_yield == [handshake_writes, handshake_writes + 1]
        first, second, third = transport.writes[handshake_writes : handshake_writes + 3]
        client.receive_data(first)
        assert [f.data for f in client.events_received()] == [b"0", b"1", b"2", big]
        client.receive_data(second)
        assert [f.data for f in client.events_received()] == [b"last"]
        client.receive_data(third)
        (close,) = client.events_received()
        assert close.opcode.name == "CLOSE"

    asyncio.run(main())
