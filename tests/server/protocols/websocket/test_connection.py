"""WebSocketConnection over real sockets, on both frame backends.

The ``websockets`` client drives the conversations a correct client has; a
client by hand (``RawWebSocket``) sends the bytes a library refuses to send
(bad handshakes, protocol violations) and stays silent where a library would
answer a ping. What the app saw travels to the test thread through a queue.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import ssl
import struct
import sys
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.apps import Gate, respond, with_task_factory
from tests.support.server import RunningServer, serve
from tests.support.wsraw import RawWebSocket, encode_frame, upgrade_request


class Seen:
    """What the app saw, handed from the server's event loop to the test thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()

    def put(self, item: Any) -> None:
        self._queue.put(item)

    def get(self, timeout: float = 5.0) -> Any:
        return self._queue.get(timeout=timeout)

    def empty(self) -> bool:
        return self._queue.empty()


def ws_url(running: RunningServer, path: str = "/") -> str:
    return f"ws://{running.host}:{running.port}{path}"


def client(running: RunningServer, path: str = "/", **options: Any) -> ClientConnection:
    options.setdefault("open_timeout", 5)
    options.setdefault("close_timeout", 5)
    return connect(ws_url(running, path), **options)


def raw(running: RunningServer) -> RawWebSocket:
    return RawWebSocket(running.connect())


async def echo(scope: Any, receive: Any, send: Any) -> None:
    assert await receive() == {"type": "websocket.connect"}
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def accept_then_report(seen: Seen) -> Any:
    """An app that accepts and reports every message it receives until the disconnect."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            seen.put(message)
            if message["type"] == "websocket.disconnect":
                return

    return app


def closed_by_server(raw_ws: RawWebSocket, timeout: float = 3.0) -> bool:
    """Read (and drop) whatever else comes until the server ends the connection."""
    raw_ws.sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = raw_ws.sock.recv(65536)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        if not data:
            return True
    return False


# accept, messages ---------------------------------------------------------------------------


def test_accept_with_subprotocol_and_headers(ws_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": "v2.chat",
                "headers": [(b"x-accepted", b"yes"), (b"set-cookie", b"a=1")],
            }
        )
        await receive()

    with (
        serve(app, ws=ws_backend) as running,
        client(running, subprotocols=["v1.chat", "v2.chat"]) as ws,  # type: ignore[list-item]
    ):
        assert ws.subprotocol == "v2.chat"
        assert ws.response is not None
        headers = ws.response.headers
        assert ws.response.status_code == 101
        assert headers["x-accepted"] == "yes"
        assert headers["set-cookie"] == "a=1"
        assert headers["server"] == "uvicorn"
        assert headers["sec-websocket-protocol"] == "v2.chat"


def test_accept_without_subprotocol_sends_none(ws_backend: str) -> None:
    with (
        serve(echo, ws=ws_backend) as running,
        client(running, subprotocols=["chat"]) as ws,  # type: ignore[list-item]
    ):
        assert ws.subprotocol is None
        assert ws.response is not None
        assert "sec-websocket-protocol" not in ws.response.headers


def test_text_and_bytes_both_ways(ws_backend: str) -> None:
    big = "ü" * 300_000  # 600 kB of UTF-8, many TCP segments
    big_binary = bytes(range(256)) * 4096 + b"!"  # 1 MiB and a byte
    with serve(echo, ws=ws_backend) as running, client(running, max_size=None) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\xffbytes")
        assert ws.recv(timeout=5) == b"\x00\xffbytes"
        ws.send("")
        assert ws.recv(timeout=5) == ""
        ws.send(b"")
        assert ws.recv(timeout=5) == b""
        ws.send(big)
        assert ws.recv(timeout=5) == big
        ws.send(big_binary)
        assert ws.recv(timeout=5) == big_binary
        ws.send(["frag", "mented ", "€uro"])  # one text message in three frames
        assert ws.recv(timeout=5) == "fragmented €uro"
        ws.send([b"a", b"", b"bc"])
        assert ws.recv(timeout=5) == b"abc"


def test_app_may_send_any_bytes_like_payload(ws_backend: str) -> None:
    class Payload(bytes):
        pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for payload in (bytearray(b"array"), memoryview(b"viewed"), Payload(b"subclass")):
            await send({"type": "websocket.send", "bytes": payload})
        await receive()

    with serve(app, ws=ws_backend) as running, client(running) as ws:
        assert [ws.recv(timeout=5) for _ in range(3)] == [b"array", b"viewed", b"subclass"]


def test_receive_messages_carry_one_key(ws_backend: str) -> None:
    seen = Seen()
    with serve(accept_then_report(seen), ws=ws_backend) as running, client(running) as ws:
        ws.send("text")
        ws.send(b"bytes")
        assert seen.get() == {"type": "websocket.receive", "text": "text"}
        assert seen.get() == {"type": "websocket.receive", "bytes": b"bytes"}


def test_permessage_deflate_is_negotiated(ws_backend: str) -> None:
    text = "compressible " * 10_000
    with serve(echo, ws=ws_backend) as running, client(running, max_size=None) as ws:
        assert ws.response is not None
        extensions = ws.response.headers.get("sec-websocket-extensions", "")
        assert extensions.startswith("permessage-deflate")
        ws.send(text)
        assert ws.recv(timeout=5) == text
        ws.send(text.encode())
        assert ws.recv(timeout=5) == text.encode()


def test_permessage_deflate_off(ws_backend: str) -> None:
    with (
        serve(echo, ws=ws_backend, ws_per_message_deflate=False) as running,
        client(running) as ws,
    ):
        assert ws.response is not None
        assert "sec-websocket-extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv(timeout=5) == "plain"


def test_no_deflate_when_client_offers_none(ws_backend: str) -> None:
    with serve(echo, ws=ws_backend) as running, client(running, compression=None) as ws:
        assert ws.response is not None
        assert "sec-websocket-extensions" not in ws.response.headers
        ws.send("x" * 1000)
        assert ws.recv(timeout=5) == "x" * 1000


def test_frames_sent_before_the_accept_are_read_after_it(ws_backend: str) -> None:
    gate = Gate()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await gate.wait()
        await echo_after_accept(receive, send)

    async def echo_after_accept(receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"] + "!"})
        await receive()

    with serve(app, ws=ws_backend) as running, raw(running) as ws:
        ws.send(upgrade_request("/") + _masked_text("early"))
        assert gate.entered.wait(5)
        gate.open()
        assert ws.read_head().status == 101
        assert ws.read_frame() == (True, 0x1, b"early!")


def _masked_text(text: str) -> bytes:
    return encode_frame(0x1, text.encode())


def test_masked_payloads_split_anywhere_are_unmasked_right(ws_backend: str) -> None:
    """The mask key runs on across the pieces a payload arrives in (RFC 6455 §5.3):
    pieces of 1, 2, 3 and 5 bytes put every later piece at another key offset."""
    binary = bytes(range(256)) * 4 + b"tail!"  # 1029 bytes: not a multiple of 4
    text = "grüße, 🌍 " * 40  # multi-byte characters cut across pieces too
    with serve(echo, ws=ws_backend) as running, raw(running) as ws:
        ws.handshake()
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for opcode, payload in ((0x2, binary), (0x1, text.encode())):
            frame = encode_frame(opcode, payload)
            start = 0
            for size in (1, 1, 2, 3, 5, 1, 2, 3, 5):  # the header, then payload pieces
                ws.send(frame[start : start + size])
                start += size
                time.sleep(0.02)  # separate reads on the server
            ws.send(frame[start:])
            assert ws.read_frame() == (True, opcode, payload)


# closing both ways ------------------------------------------------------------------------


def test_client_close_code_and_reason_reach_the_app(ws_backend: str) -> None:
    seen = Seen()
    with serve(accept_then_report(seen), ws=ws_backend) as running:
        with client(running) as ws:
            ws.close(4001, "bye now")
        assert seen.get() == {"type": "websocket.disconnect", "code": 4001, "reason": "bye now"}


def test_client_close_without_code_is_1005(ws_backend: str) -> None:
    seen = Seen()
    with serve(accept_then_report(seen), ws=ws_backend) as running, raw(running) as ws:
        ws.handshake()
        ws.send_close(None)
        assert ws.read_close() == (None, "")  # the echo carries no code either
        assert closed_by_server(ws)
        assert seen.get() == {"type": "websocket.disconnect", "code": 1005, "reason": ""}


def test_app_close_code_and_reason_reach_the_client(ws_backend: str) -> None:
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4002, "reason": "done here"})
        seen.put(await receive())

    with serve(app, ws=ws_backend) as running, client(running) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4002, "done here")
        assert seen.get() == {"type": "websocket.disconnect", "code": 4002, "reason": "done here"}


def test_app_close_defaults_to_1000(ws_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close"})

    with serve(app, ws=ws_backend) as running, raw(running) as ws:
        ws.handshake()
        assert ws.read_close() == (1000, "")
        ws.send_close(1000)
        assert closed_by_server(ws)


def test_app_returning_closes_with_1000(ws_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})

    with serve(app, ws=ws_backend) as running, client(running) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000


def test_dropped_connection_is_1006(ws_backend: str) -> None:
    seen = Seen()
    with serve(accept_then_report(seen), ws=ws_backend) as running:
        ws = raw(running)
        ws.handshake()
        ws.close()
        assert seen.get() == {"type": "websocket.disconnect", "code": 1006, "reason": ""}


def test_send_after_disconnect_raises_an_oserror_that_is_not_logged(
    ws_backend: str, uvicorn_logs: list[logging.LogRecord]
) -> None:
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the disconnect
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except OSError as exc:
            seen.put(type(exc).__name__)
            raise

    with serve(app, ws=ws_backend) as running:
        with client(running) as ws:
            ws.close()
        assert seen.get() == "ClientDisconnected"
    assert not [r for r in uvicorn_logs if r.levelno >= logging.ERROR]


def test_messages_queued_before_the_close_come_first(ws_backend: str) -> None:
    seen = Seen()
    gate = Gate()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await gate.wait()
        for _ in range(3):
            seen.put(await receive())

    with serve(app, ws=ws_backend) as running:
        with client(running) as ws:
            ws.send("one")
            ws.send("two")
        assert gate.entered.wait(5)
        gate.open()
        assert [seen.get(), seen.get(), seen.get()] == [
            {"type": "websocket.receive", "text": "one"},
            {"type": "websocket.receive", "text": "two"},
            {"type": "websocket.disconnect", "code": 1000, "reason": ""},
        ]


# refusing: denial response, close before accept, errors ------------------------------------


def test_denial_response_with_status_headers_and_body(ws_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert "websocket.http.response" in scope["extensions"]
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"who ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"are you?"})

    with serve(app, ws=ws_backend) as running:
        with pytest.raises(InvalidStatus) as info:
            client(running)
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.body == b"who are you?"


def test_denial_response_in_one_body_has_a_length(ws_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 404, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"nothing here"})

    with serve(app, ws=ws_backend) as running, raw(running) as ws:
        ws.send(upgrade_request("/"))
        response = ws.read_response()
        assert response.status == 404
        assert response.get("content-length") == "12"
        assert response.get("connection") == "close"
        assert response.body == b"nothing here"
        assert ws.closed_within(3)


def test_close_before_accept_is_403(ws_backend: str, uvicorn_logs: list[logging.LogRecord]) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 4000})

    with serve(app, ws=ws_backend) as running:
        with pytest.raises(InvalidStatus) as info:
            client(running, "/private")
    assert info.value.response.status_code == 403
    assert any('"WebSocket /private" 403' in r.getMessage() for r in uvicorn_logs)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is 3.12+")
def test_a_refusal_under_an_eager_task_factory_leaves_no_task_behind(ws_backend: str) -> None:
    # Under asyncio.eager_task_factory an app that refuses at once has run to its end
    # inside create_task: it must not stay counted as running.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.close", "code": 4000})

    eager = asyncio.eager_task_factory  # type: ignore[attr-defined, unused-ignore]
    # the asyncio loop: uvloop's create_task on 3.13 passes the factory a keyword
    # (eager_start) that asyncio.eager_task_factory does not take
    served = with_task_factory(eager, app)
    with serve(served, ws=ws_backend, lifespan="on", loop="asyncio") as running:
        for _ in range(3):
            with pytest.raises(InvalidStatus) as info:
                client(running, "/private")
            assert info.value.response.status_code == 403
        assert not running.running_tasks()


def test_app_exception_after_accept_closes_1011_with_a_traceback(
    ws_backend: str, uvicorn_logs: list[logging.LogRecord]
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise RuntimeError("boom after accept")

    with serve(app, ws=ws_backend) as running, client(running) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1011
    errors = [r for r in uvicorn_logs if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Exception in ASGI application\n"]
    assert errors[0].exc_info is not None
    assert "boom after accept" in str(errors[0].exc_info[1])


def test_app_exception_before_accept_is_500(
    ws_backend: str, uvicorn_logs: list[logging.LogRecord]
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom before accept")

    with serve(app, ws=ws_backend) as running:
        with pytest.raises(InvalidStatus) as info:
            client(running)
    assert info.value.response.status_code == 500
    assert any(r.exc_info and "boom before" in str(r.exc_info[1]) for r in uvicorn_logs)


def test_app_returning_without_handshake_is_500(
    ws_backend: str, uvicorn_logs: list[logging.LogRecord]
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    with serve(app, ws=ws_backend) as running:
        with pytest.raises(InvalidStatus) as info:
            client(running)
    assert info.value.response.status_code == 500
    assert any("without sending handshake" in r.getMessage() for r in uvicorn_logs)


# the opening handshake ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "version"),
    [
        ("", "13"),  # no Sec-WebSocket-Key
        ("not base64!", "13"),
        ("AAAAAAAAAAAAAAAAAAAA", "13"),  # base64 of 15 bytes
        ("dGhlIHNhbXBsZSBub25jZQ==", "8"),
        ("dGhlIHNhbXBsZSBub25jZQ==", None),  # no Sec-WebSocket-Version
    ],
    ids=["no-key", "key-not-base64", "key-15-bytes", "version-8", "no-version"],
)
def test_bad_key_or_version_is_400(ws_backend: str, key: str, version: str | None) -> None:
    called = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.put(scope["type"])

    with serve(app, ws=ws_backend) as running, raw(running) as ws:
        ws.send(upgrade_request("/", key=key, version=version))
        response = ws.read_response()
        assert response.status == 400
        assert response.get("sec-websocket-version") == "13"
        assert ws.closed_within(3)
    assert called.empty()


def test_valid_key_gets_the_rfc_accept_value(ws_backend: str) -> None:
    with serve(echo, ws=ws_backend) as running, raw(running) as ws:
        # RFC 6455 §1.3's example nonce and the accept value it gives
        ws.send(upgrade_request("/", key="dGhlIHNhbXBsZSBub25jZQ=="))
        response = ws.read_head()
        assert response.status == 101
        assert response.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert response.get("upgrade") == "websocket"


# protocol violations ---------------------------------------------------------------------------


VIOLATIONS = {
    "unmasked-frame": (lambda ws: ws.send_frame(0x1, b"hi", mask=False), 1002),
    "invalid-utf8": (lambda ws: ws.send_frame(0x1, b"\xce\xba\xff"), 1007),
    "reserved-opcode": (lambda ws: ws.send_frame(0x3, b""), 1002),
    "rsv1-without-extension": (lambda ws: ws.send_frame(0x1, b"hi", rsv1=True), 1002),
    "continuation-first": (lambda ws: ws.send_frame(0x0, b"hi"), 1002),
    "fragmented-ping": (lambda ws: ws.send_frame(0x9, b"", fin=False), 1002),
    "long-ping": (lambda ws: ws.send_frame(0x9, b"x" * 126), 1002),
    "close-code-999": (lambda ws: ws.send_frame(0x8, struct.pack("!H", 999)), 1002),
    "close-reason-not-utf8": (lambda ws: ws.send_frame(0x8, b"\x03\xe8\xff"), 1007),
}


@pytest.mark.parametrize("violation", list(VIOLATIONS))
def test_protocol_violation_closes_with_its_code(ws_backend: str, violation: str) -> None:
    send_bad, code = VIOLATIONS[violation]
    seen = Seen()
    with serve(accept_then_report(seen), ws=ws_backend) as running, raw(running) as ws:
        ws.handshake()
        send_bad(ws)
        assert ws.read_close()[0] == code
        assert closed_by_server(ws)
        message = seen.get()
    assert message["type"] == "websocket.disconnect"
    assert message["code"] == code


# limits, keepalive -----------------------------------------------------------------------------


def test_message_over_max_size_closes_1009(ws_backend: str) -> None:
    seen = Seen()
    with serve(accept_then_report(seen), ws=ws_backend, ws_max_size=1024) as running:
        with client(running) as ws:
            ws.send("x" * 1024)
            assert seen.get() == {"type": "websocket.receive", "text": "x" * 1024}
            ws.send("y" * 1025)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        assert seen.get()["code"] == 1009


def test_fragmented_message_over_max_size_closes_1009(ws_backend: str) -> None:
    with serve(echo, ws=ws_backend, ws_max_size=1024) as running, client(running) as ws:
        with pytest.raises(ConnectionClosed) as info:  # the close may cut the send short
            ws.send([b"x" * 600, b"x" * 600])  # each frame fits, the message does not
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_max_size_counts_utf8_bytes(ws_backend: str) -> None:
    with serve(echo, ws=ws_backend, ws_max_size=10) as running, client(running) as ws:
        ws.send("ü" * 5)  # 10 bytes
        assert ws.recv(timeout=5) == "ü" * 5
        with pytest.raises(ConnectionClosed) as info:
            ws.send(["ü" * 3, "ü" * 3])  # 12 bytes in two frames
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009


def test_unanswered_ping_closes_1011(ws_backend: str) -> None:
    seen = Seen()
    with (
        serve(
            accept_then_report(seen), ws=ws_backend, ws_ping_interval=0.1, ws_ping_timeout=0.3
        ) as running,
        raw(running) as ws,
    ):
        ws.handshake()
        started = time.monotonic()
        fin, opcode, _ = ws.read_frame()
        assert (fin, opcode) == (True, 0x9)
        assert ws.read_close() == (1011, "keepalive ping timeout")
        assert time.monotonic() - started >= 0.25
        assert closed_by_server(ws)
        assert seen.get()["code"] == 1011


def test_answered_pings_keep_the_connection(ws_backend: str) -> None:
    with (
        serve(echo, ws=ws_backend, ws_ping_interval=0.05, ws_ping_timeout=0.2) as running,
        raw(running) as ws,
    ):
        ws.handshake()
        for _ in range(5):  # 5 rounds, well past one ping timeout
            _, opcode, payload = ws.read_frame()
            assert opcode == 0x9
            ws.send_frame(0xA, payload)
        ws.send_frame(0x1, b"still here")
        frame = ws.read_frame()
        while frame[1] == 0x9:
            frame = ws.read_frame()
        assert frame == (True, 0x1, b"still here")


def test_client_ping_gets_a_pong(ws_backend: str) -> None:
    with serve(echo, ws=ws_backend) as running, raw(running) as ws:
        ws.handshake()
        ws.send_frame(0x9, b"are you there")
        assert ws.read_frame() == (True, 0xA, b"are you there")


# shutdown -----------------------------------------------------------------------------------


def test_shutdown_closes_open_sockets_with_1012_and_waits_for_the_app(ws_backend: str) -> None:
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        seen.put(await receive())
        await asyncio.sleep(0.2)  # cleanup the server must wait for
        seen.put("app finished")

    with serve(app, ws=ws_backend) as running, client(running) as ws:
        running.server.should_exit = True
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1012
        assert seen.get() == {"type": "websocket.disconnect", "code": 1012, "reason": ""}
    assert seen.get(timeout=0) == "app finished"  # serve() returned: the app had finished


def test_shutdown_answers_a_pending_handshake_with_503(ws_backend: str) -> None:
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        seen.put("connecting")
        seen.put(await receive())

    with serve(app, ws=ws_backend) as running, raw(running) as ws:
        ws.send(upgrade_request("/"))
        assert seen.get() == "connecting"
        running.server.should_exit = True
        assert ws.read_response().status == 503
        assert seen.get()["type"] == "websocket.disconnect"


# scope and pipeline layers -------------------------------------------------------------------


def test_scope(ws_backend: str) -> None:
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["answer"] = 42
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.put({**scope, "state": dict(scope["state"])})
        scope["state"]["answer"] = 0  # a copy: the next connection still sees 42
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    with serve(app, ws=ws_backend, lifespan="on") as running:
        with client(
            running,
            "/chat%20room/%C3%BC?x=1&y=%20",
            subprotocols=["one", "two"],  # type: ignore[list-item]
            additional_headers={"X-Custom": "value"},
        ) as ws:
            local_port = ws.socket.getsockname()[1]
        with client(running):
            pass
        scope = seen.get()
        second = seen.get()
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/chat room/ü"
    assert scope["raw_path"] == b"/chat%20room/%C3%BC"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["root_path"] == ""
    assert scope["subprotocols"] == ["one", "two"]
    assert scope["client"] == ("127.0.0.1", local_port)
    assert scope["server"] == (running.host, running.port)
    assert (b"x-custom", b"value") in scope["headers"]
    assert (b"sec-websocket-protocol", b"one, two") in scope["headers"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["state"] == second["state"] == {"answer": 42}
    assert "method" not in scope


def test_root_path_applies(ws_backend: str) -> None:
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.put(scope)
        await send({"type": "websocket.close"})

    with serve(app, ws=ws_backend, root_path="/api") as running:
        with pytest.raises(InvalidStatus):
            client(running, "/chat")
        scope = seen.get()
    assert (scope["root_path"], scope["path"], scope["raw_path"]) == (
        "/api",
        "/api/chat",
        b"/api/chat",
    )


def test_proxy_headers_apply(ws_backend: str) -> None:
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.put(scope)
        await send({"type": "websocket.close"})

    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with serve(app, ws=ws_backend, proxy_headers=True, forwarded_allow_ips="*") as running:
        with pytest.raises(InvalidStatus):
            client(running, additional_headers=headers)
        scope = seen.get()
    assert scope["scheme"] == "wss"
    assert scope["client"] == ("203.0.113.9", 0)


def test_concurrency_limit_counts_websocket_connections(ws_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await respond(send, b"ok")
            return
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    with serve(app, ws=ws_backend, limit_concurrency=1) as running:
        with client(running):
            with pytest.raises(InvalidStatus) as info:
                client(running)
            assert info.value.response.status_code == 503
            assert httpx.get(running.url, timeout=5).status_code == 503
        deadline = time.monotonic() + 3
        while True:  # the first connection's end reaches the server a moment later
            try:
                with client(running):
                    break
            except InvalidStatus:
                assert time.monotonic() < deadline, "the limit was never released"
                time.sleep(0.02)


def test_access_log_and_handshake_lines(
    ws_backend: str, uvicorn_logs: list[logging.LogRecord]
) -> None:
    with serve(echo, ws=ws_backend) as running, client(running, "/live?v=2") as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
    messages = [r.getMessage() for r in uvicorn_logs]
    assert any(m.endswith('- "WebSocket /live?v=2" [accepted]') for m in messages)
    access = [r for r in uvicorn_logs if r.name == "uvicorn.access"]
    assert len(access) == 1
    assert access[0].getMessage().endswith('"GET /live?v=2 HTTP/1.1" 101')
    record = access[0].request_record  # type: ignore[attr-defined]
    assert (record.request_body_size, record.response_body_size) == (5, 5)
    assert record.scope["type"] == "websocket"


def test_ws_none_makes_an_upgrade_an_ordinary_request() -> None:
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.put(scope["type"])
        await respond(send, b"plain http")

    with serve(app, ws="none") as running, raw(running) as ws:
        ws.send(upgrade_request("/"))
        response = ws.read_response()
    assert (response.status, response.body) == (200, b"plain http")
    assert seen.get() == "http"


def test_wsgi_app_gets_an_upgrade_as_an_ordinary_request() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["HTTP_UPGRADE"].encode()]

    with serve(app, interface="wsgi") as running, raw(running) as ws:
        ws.send(upgrade_request("/"))
        response = ws.read_response()
    assert (response.status, response.body) == (200, b"websocket")


def test_wss_scope_and_closing_over_tls(ws_backend: str, tmp_path: Any) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    seen = Seen()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.put(scope)
        await echo(scope, receive, send)
        seen.put("finished")

    with serve(app, ws=ws_backend, ssl_certfile=str(certfile), ssl_keyfile=str(keyfile)) as running:
        url = f"wss://127.0.0.1:{running.port}/secure"
        with connect(url, ssl=context, open_timeout=5, close_timeout=5) as ws:
            ws.send("over tls")
            assert ws.recv(timeout=5) == "over tls"
        scope = seen.get()
        assert seen.get() == "finished"
    assert scope["scheme"] == "wss"
    assert scope["extensions"]["tls"]["tls_version"] is not None
