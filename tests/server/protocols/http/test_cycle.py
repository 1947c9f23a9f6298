"""RequestCycle over real sockets: request bodies, response framing, the ASGI
scope, app errors, disconnects, trailers and pathsend, on both backends.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.apps import Gate, read_body, respond, with_task_factory
from tests.support.raw import RawClient
from tests.support.server import serve

HOST = b"Host: example.org\r\n"


async def echo_body(scope: Any, receive: Any, send: Any) -> None:
    await respond(send, await read_body(receive))


def recording(scopes: list[dict[str, Any]]) -> Any:
    """An app that keeps each request's scope, reads its body and answers 200."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await read_body(receive)
        await respond(send, b"")

    return app


def streaming(*parts: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    """An app that sends ``parts`` as separate body messages, then ends the body."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers or []})
        for part in parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


# request bodies ---------------------------------------------------------------------------


def test_chunked_request_body(http_backend: str) -> None:
    request = (
        b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n"
        b"1;name=value\r\n,\r\n"  # a chunk extension is ignored
        b"A\r\n a chunked\r\n"  # upper-case hex
        b"0\r\nX-Trailer: ignored\r\n\r\n"
    )
    with serve(echo_body, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(request)
        first = raw.read_response()
        raw.send(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 4\r\n\r\nnext")
        second = raw.read_response()
    assert first.body == b"hello, a chunked"
    assert second.body == b"next"


def test_chunked_request_body_in_pieces(http_backend: str) -> None:
    received: list[dict[str, Any]] = []
    gate = Gate()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        first = await receive()
        received.append(first)
        gate.entered.set()
        received.append(await receive())
        await respond(send, b"".join(message["body"] for message in received))

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"POST / HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        assert gate.entered.wait(2)
        raw.send(b"3\r\ndef\r\n0\r\n\r\n")
        response = raw.read_response()
    assert received[0] == {"type": "http.request", "body": b"abc", "more_body": True}
    assert received[1]["more_body"] is False
    assert response.body == b"abcdef"


def test_request_without_body(http_backend: str) -> None:
    messages: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        messages.append(await receive())
        await respond(send, b"")

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        assert raw.read_response().status == 200
    assert messages == [{"type": "http.request", "body": b"", "more_body": False}]


# response framing ---------------------------------------------------------------------------


def two_gets(app: Any, http_backend: str) -> tuple[Any, Any]:
    """Two GET requests on one connection: the second shows the first response ended
    where its framing said."""
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        first = raw.read_response()
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        return first, raw.read_response()


def test_streamed_response_is_chunked(http_backend: str) -> None:
    app = streaming(b"ab", b"", b"cde" * 10)  # an empty message must not end the body
    response, again = two_gets(app, http_backend)
    assert response.get("transfer-encoding") == "chunked"
    assert response.get("content-length") is None
    assert response.raw_body == b"2\r\nab\r\n1e\r\n" + b"cde" * 10 + b"\r\n0\r\n\r\n"
    assert again.raw_body == response.raw_body


def test_stream_of_large_chunks_ends_with_data(http_backend: str) -> None:
    """Large chunks go out as one buffer each, the last one with the end of the body:
    the framing must be exact, and the connection fit for the next request."""
    big = bytes(range(256)) * 256  # 64 KiB: above the size written with the head

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": big, "more_body": True})
        await send({"type": "http.response.body", "body": big[:100], "more_body": True})
        await send({"type": "http.response.body", "body": big[::-1], "more_body": False})

    expected = (
        b"10000\r\n"
        + big
        + b"\r\n64\r\n"
        + big[:100]
        + b"\r\n10000\r\n"
        + big[::-1]
        + b"\r\n0\r\n\r\n"
    )
    first, second = two_gets(app, http_backend)
    assert first.get("transfer-encoding") == "chunked"
    assert first.raw_body == expected
    assert second.raw_body == expected


def test_first_body_message_with_more_body_then_data(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b"yz"})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
    assert response.raw_body == b"1\r\nx\r\n2\r\nyz\r\n0\r\n\r\n"


def test_app_declared_chunked_is_written_once(http_backend: str) -> None:
    app = streaming(b"abc", headers=[(b"transfer-encoding", b"chunked")])
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
    assert response.get_all("transfer-encoding") == ["chunked"]
    assert response.raw_body == b"3\r\nabc\r\n0\r\n\r\n"


def test_http_1_0_streamed_response_is_close_delimited(http_backend: str) -> None:
    app = streaming(b"first ", b"second ", b"third")
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.0\r\n\r\n")
        head = raw.read_head()
        body = raw.read_until_close()
    assert head.status == 200
    assert head.get("transfer-encoding") is None
    assert head.get("content-length") is None
    assert head.get("connection") == "close"
    assert body == b"first second third"


def test_http_1_0_keep_alive_streamed_response_still_closes(http_backend: str) -> None:
    app = streaming(b"a", b"b")
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head = raw.read_head()
        body = raw.read_until_close()
    assert head.get("connection") == "close"  # no length, no chunking: only a close ends it
    assert body == b"ab"


def test_content_length_computed_for_a_single_body_message(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"Hello, world!"})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
    assert response.get_all("content-length") == ["13"]
    assert response.get("transfer-encoding") is None
    assert response.raw_body == b"Hello, world!"


@pytest.mark.parametrize(
    ("declared", "body", "expected"),
    [
        ([b"5"], b"hello", 200),  # what frameworks send: the body's length, in digits
        ([b"5", b"5"], b"hello", 200),  # repeated with the same value
        ([b" 5 "], b"hello", 200),  # whitespace around it
        ([b"3"], b"hello", "nothing"),  # longer: refused before a byte is written, closed
        ([b"7"], b"hello", "cut"),  # shorter: what there is, then close
        ([b"5", b"6"], b"hello", 500),
        ([b"abc"], b"hello", 500),
        ([b"-5"], b"hello", 500),
        ([b"5\r\nx-evil: 1"], b"hello", 500),
    ],
)
def test_declared_content_length_in_one_body_message(
    http_backend: str, declared: list[bytes], body: bytes, expected: int | str
) -> None:
    """The whole body in one message with the app's own Content-Length (the fast
    path's case): honoured when it is the body's length, never a second one added;
    anything else is the same error as on the general path. The server keeps serving."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-length", value) for value in declared]
        if scope["path"] == "/ok":
            headers = []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    with serve(app, http=http_backend) as running:
        with RawClient(running.connect()) as raw:
            raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
            if expected == 200:
                response = raw.read_response()
                assert response.status == 200
                assert len(response.get_all("content-length")) == len(declared)
                assert response.body == body
                assert raw.nothing_within(0.1)  # complete and still open
            elif expected == "cut":
                head = raw.read_head()
                assert head.status == 200
                assert raw.read_until_close() == body
            elif expected == "nothing":
                assert raw.read_until_close() == b""
            else:
                data = raw.read_until_close()
                assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
                assert b"x-evil" not in data
        assert fetch_ok(running)


def fetch_ok(running: Any) -> bool:
    response = httpx.get(running.url + "/ok", timeout=5)
    return (response.status_code, response.content) == (200, b"hello")


def test_declared_content_length_across_messages(http_backend: str) -> None:
    app = streaming(b"12345", b"67890", headers=[(b"content-length", b"10")])
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
        assert raw.nothing_within(0.1)  # complete and still open
    assert response.get_all("content-length") == ["10"]
    assert response.get("transfer-encoding") is None
    assert response.body == b"1234567890"


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(http_backend: str, status: int) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
        assert raw.nothing_within(0.1)
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        assert raw.read_response().status == status
    assert response.status == status
    assert response.get("transfer-encoding") is None


# the scope ----------------------------------------------------------------------------------


def test_scope(http_backend: str) -> None:
    scopes: list[dict[str, Any]] = []
    app = recording(scopes)

    request = (
        b"GET /caf%C3%A9/a%2Fb?x=1&y=%20z HTTP/1.1\r\n"
        b"Host: example.org\r\nX-Mixed-Case: Value\r\nAccept: */*\r\n\r\n"
    )
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(request)
        assert raw.read_response().status == 200
        client = raw.sock.getsockname()
    (scope,) = scopes
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/café/a/b"
    assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == b"x=1&y=%20z"
    assert scope["root_path"] == ""
    assert scope["headers"] == [
        (b"host", b"example.org"),
        (b"x-mixed-case", b"Value"),
        (b"accept", b"*/*"),
    ]
    assert all(type(pair) is tuple for pair in scope["headers"])
    assert scope["client"] == (client[0], client[1])
    assert scope["server"] == ("127.0.0.1", running.port)
    assert isinstance(scope["state"], dict)
    assert "http.response.trailers" in scope["extensions"]
    assert "http.response.pathsend" in scope["extensions"]


def test_scope_http_1_0_and_methods(http_backend: str) -> None:
    scopes: list[dict[str, Any]] = []
    app = recording(scopes)

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"DELETE /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        raw.read_response()
        raw.send(b"OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        raw.read_response()
        raw.send(b"POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
        raw.read_response()
    assert [(s["method"], s["http_version"], s["path"]) for s in scopes] == [
        ("DELETE", "1.0", "/x"),
        ("OPTIONS", "1.0", "*"),
        ("POST", "1.0", "/"),
    ]


def test_scopes_on_one_connection_do_not_share_values(http_backend: str) -> None:
    # The common values (HTTP/1.1, GET, no query string) come from the connection's
    # base scope: a request that differs must not leave its values for the next.
    scopes: list[dict[str, Any]] = []
    app = recording(scopes)

    requests = [
        b"POST /a?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD /c?r HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        for request in requests:
            raw.send(request)
            raw.read_response(request.split(b" ")[0].decode())
    assert [(s["method"], s["http_version"], s["path"], s["query_string"]) for s in scopes] == [
        ("POST", "1.1", "/a", b"q=1"),
        ("GET", "1.1", "/b", b""),
        ("HEAD", "1.0", "/c", b"r"),
        ("GET", "1.1", "/d", b""),
    ]


def test_scope_state_is_a_fresh_copy_per_request(http_backend: str) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["state"]))
        scope["state"]["leak"] = True
        await respond(send, b"")

    with serve(app, http=http_backend) as running, httpx.Client() as client:
        client.get(running.url + "/")
        client.get(running.url + "/")
    assert seen == [{}, {}]


def test_scope_extensions_are_a_fresh_dict_per_request(http_backend: str) -> None:
    # Two requests on one keep-alive connection: what an app adds to its scope's
    # extensions is not in the next request's.
    seen: list[list[str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(sorted(scope["extensions"]))
        scope["extensions"]["x-added"] = {}
        await respond(send, b"")

    with serve(app, http=http_backend) as running, httpx.Client() as client:
        client.get(running.url + "/")
        client.get(running.url + "/")
    expected = ["http.response.pathsend", "http.response.trailers"]
    assert seen == [expected, expected]


def test_absolute_form_target(http_backend: str) -> None:
    scopes: list[dict[str, Any]] = []
    app = recording(scopes)

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert raw.read_response().status == 200
        raw.send(b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert raw.read_response().status == 200
    assert (scopes[0]["path"], scopes[0]["raw_path"], scopes[0]["query_string"]) == (
        "/a",
        b"/a",
        b"b=1",
    )
    assert (scopes[1]["path"], scopes[1]["query_string"]) == ("/", b"")


# app errors ---------------------------------------------------------------------------------


def test_exception_before_response_gives_500(
    http_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("boom before start")

    with (
        caplog.at_level(logging.ERROR, logger="uvicorn.error"),
        serve(app, http=http_backend) as running,
        RawClient(running.connect()) as raw,
    ):
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
        assert raw.closed_within(1.0)
    assert response.status == 500
    assert response.body == b"Internal Server Error"
    assert response.get("connection") == "close"
    records = [r for r in caplog.records if r.name == "uvicorn.error" and r.exc_info]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert isinstance(records[0].exc_info[1], ValueError)  # type: ignore[index]
    assert "boom before start" in caplog.text


def test_exception_after_response_start_closes_without_full_body(
    http_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]}
        )
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        raise ValueError("boom mid-body")

    with (
        caplog.at_level(logging.ERROR, logger="uvicorn.error"),
        serve(app, http=http_backend) as running,
        RawClient(running.connect()) as raw,
    ):
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        head = raw.read_head()
        rest = raw.read_until_close()
    assert head.status == 200
    assert rest == b"abc"  # 3 of 10 bytes, then the close
    assert "boom mid-body" in caplog.text


def test_exception_during_chunked_response_never_sends_the_last_chunk(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        raise ValueError("boom")

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        head = raw.read_head()
        rest = raw.read_until_close()
    assert head.get("transfer-encoding") == "chunked"
    assert rest == b"3\r\nabc\r\n"


def test_exception_before_the_first_body_message_closes(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        raise ValueError("boom")

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        data = raw.read_until_close()
    # The close is the answer: whatever was written, it never reads as a complete response.
    assert not data.endswith(b"0\r\n\r\n")
    assert b"content-length: 0\r\n" not in data.lower()


def test_app_returning_without_a_response_gives_500(
    http_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with (
        caplog.at_level(logging.ERROR, logger="uvicorn.error"),
        serve(app, http=http_backend) as running,
        RawClient(running.connect()) as raw,
    ):
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
        assert raw.closed_within(1.0)
    assert response.status == 500
    assert response.body == b"Internal Server Error"
    assert "returned without starting response" in caplog.text


def test_app_returning_with_an_incomplete_response_closes(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        raw.read_head()
        rest = raw.read_until_close()
    assert rest == b"4\r\npart\r\n"


INVALID_MESSAGES: dict[str, list[dict[str, Any]]] = {
    "body-before-start": [{"type": "http.response.body", "body": b"x"}],
    "str-header": [
        {"type": "http.response.start", "status": 200, "headers": [("x-name", "value")]},
        {"type": "http.response.body", "body": b"x"},
    ],
    "header-with-newline": [
        {"type": "http.response.start", "status": 200, "headers": [(b"x", b"a\r\nb: c")]},
        {"type": "http.response.body", "body": b"x"},
    ],
    "bad-status": [
        {"type": "http.response.start", "status": "200", "headers": []},
        {"type": "http.response.body", "body": b"x"},
    ],
    "content-length-not-a-number": [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1x")]},
        {"type": "http.response.body", "body": b"x"},
    ],
    "unknown-type": [{"type": "http.response.nonsense"}],
    "two-starts": [
        {"type": "http.response.start", "status": 200, "headers": []},
        {"type": "http.response.start", "status": 200, "headers": []},
    ],
}


@pytest.mark.parametrize("name", list(INVALID_MESSAGES))
def test_invalid_message_gives_500_and_the_server_keeps_serving(
    http_backend: str, name: str
) -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/ok":
            await respond(send, b"still here")
            return
        try:
            for message in INVALID_MESSAGES[name]:
                await send(message)
        except Exception as exc:
            errors.append(exc)
            raise

    with serve(app, http=http_backend) as running:
        with RawClient(running.connect()) as raw:
            raw.send(b"GET /bad HTTP/1.1\r\n" + HOST + b"\r\n")
            data = raw.read_until_close()
        with RawClient(running.connect()) as raw:
            raw.send(b"GET /ok HTTP/1.1\r\n" + HOST + b"\r\n")
            after = raw.read_response()
    assert len(errors) == 1  # the app saw its mistake raised from send()
    if name == "two-starts":
        # The first start was accepted, so the response had already begun: only a close is left
        # (its head may or may not have been written); never a 500 after a 200.
        assert b"500" not in data
    else:
        assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert b"\r\nx: a\r\nb: c" not in data
    assert after.body == b"still here"


def test_header_pairs_as_lists_and_a_known_name_with_a_bad_value(http_backend: str) -> None:
    """Header pairs may be any two-item iterables (ASGI), and a header name served
    before is still checked when its value changes: an app echoing input into a
    header cannot split the response on the second request."""
    values = {"/list": b"text/plain", "/again": b"text/plain", "/split": b"a\r\nx-evil: 1"}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers: Any = [[b"content-type", values[scope["path"]]], (b"x-same", b"1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    with serve(app, http=http_backend) as running:
        with RawClient(running.connect()) as raw:
            for path in ("/list", "/again"):
                raw.send(b"GET " + path.encode() + b" HTTP/1.1\r\n" + HOST + b"\r\n")
                response = raw.read_response()
                assert response.status == 200
                assert response.get("content-type") == "text/plain"
                assert response.get("x-same") == "1"
            raw.send(b"GET /split HTTP/1.1\r\n" + HOST + b"\r\n")
            data = raw.read_until_close()
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"x-evil" not in data


def test_content_length_headers_seen_before_are_still_checked(http_backend: str) -> None:
    """A Content-Length pair is remembered once encoded; a second, different one in
    the same response is refused whichever of the two was remembered."""
    lists: dict[str, list[tuple[bytes, bytes]]] = {
        "/one": [(b"content-length", b"2")],
        "/again": [(b"Content-Length", b" 2"), (b"content-length", b"2")],
        "/remembered-first": [(b"content-length", b"2"), (b"content-length", b"3")],
        "/remembered-last": [(b"content-length", b"4"), (b"content-length", b"2")],
    }

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = lists[scope["path"]]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    with serve(app, http=http_backend) as running:
        with RawClient(running.connect()) as raw:
            for path in ("/one", "/one", "/again", "/again"):
                raw.send(b"GET " + path.encode() + b" HTTP/1.1\r\n" + HOST + b"\r\n")
                response = raw.read_response()
                assert (response.status, response.body) == (200, b"ok")
        for path in ("/remembered-first", "/remembered-last"):
            with RawClient(running.connect()) as raw:
                raw.send(b"GET " + path.encode() + b" HTTP/1.1\r\n" + HOST + b"\r\n")
                data = raw.read_until_close()
            assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), path


def test_a_task_factory_installed_at_startup_runs_the_requests(http_backend: str) -> None:
    made: list[str] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        made.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **kwargs)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, b"ok")

    with serve(with_task_factory(factory, app), http=http_backend, lifespan="on") as running:
        with RawClient(running.connect()) as raw:
            raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
            assert raw.read_response().body == b"ok"
    assert "RequestCycle.run" in made  # the request's task came from the app's factory


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is 3.12+")
def test_requests_under_an_eager_task_factory_leave_no_task_behind(http_backend: str) -> None:
    # Under asyncio.eager_task_factory a request's task can run to its end inside
    # create_task. It must not stay counted as running (it would hold up shutdown
    # and count against --limit-concurrency).
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, b"ok")

    eager = asyncio.eager_task_factory  # type: ignore[attr-defined, unused-ignore]
    # the asyncio loop: uvloop's create_task on 3.13 passes the factory a keyword
    # (eager_start) that asyncio.eager_task_factory does not take
    served = with_task_factory(eager, app)
    with serve(served, http=http_backend, lifespan="on", loop="asyncio") as running:
        with RawClient(running.connect()) as raw:
            request = b"GET / HTTP/1.1\r\n" + HOST + b"\r\n"
            raw.send(request)
            assert raw.read_response().body == b"ok"
            raw.send(request * 3)  # pipelined: started from the previous one's send
            assert [raw.read_response().body for _ in range(3)] == [b"ok"] * 3
        assert not running.running_tasks()


def test_response_longer_than_content_length_closes(
    http_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
        )
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"defgh"})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n" + b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        head = raw.read_head()
        rest = raw.read_until_close()
    assert head.get("content-length") == "5"
    assert len(rest) <= 5  # never more than declared, and no second response
    assert rest == b"abc"
    assert "longer than Content-Length" in caplog.text


def test_response_shorter_than_content_length_closes(http_backend: str) -> None:
    app = streaming(b"abc", headers=[(b"content-length", b"5")])
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n" + b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        head = raw.read_head()
        rest = raw.read_until_close()
    assert head.get("content-length") == "5"
    assert rest == b"abc"


# receive() and disconnects --------------------------------------------------------------------


def test_receive_after_the_response_reports_disconnect(http_backend: str) -> None:
    after: list[dict[str, Any]] = []
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_body(receive)
        await respond(send, b"ok")
        after.append(await asyncio.wait_for(receive(), 1))
        done.set()

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\n\r\nhi")
        assert raw.read_response().body == b"ok"
        assert done.wait(2)
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")  # the connection is still usable
        assert raw.read_response().body == b"ok"
    assert after[0] == {"type": "http.disconnect"}


def test_client_disconnect_mid_request(http_backend: str) -> None:
    messages: list[dict[str, Any]] = []
    first = threading.Event()
    done = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await asyncio.wait_for(receive(), 2)
            messages.append(message)
            first.set()
            if message["type"] == "http.disconnect":
                break
        await respond(send, b"nobody listens")  # a no-op, not an error
        done.set()

    with serve(app, http=http_backend) as running:
        raw = RawClient(running.connect())
        raw.send(b"POST / HTTP/1.1\r\n" + HOST + b"Content-Length: 100\r\n\r\n0123456789")
        assert first.wait(2)
        raw.close()
        assert done.wait(2)
    assert messages[0] == {"type": "http.request", "body": b"0123456789", "more_body": True}
    assert messages[-1] == {"type": "http.disconnect"}


def test_client_disconnect_while_app_is_streaming(http_backend: str) -> None:
    done = threading.Event()
    results: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] != "/stream":
            await respond(send, b"")
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(50):
            await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
            await asyncio.sleep(0.005)
        results.append("finished")
        message = await asyncio.wait_for(receive(), 1)
        results.append(message["type"])
        done.set()

    with serve(app, http=http_backend) as running:
        raw = RawClient(running.connect())
        raw.send(b"GET /stream HTTP/1.1\r\n" + HOST + b"\r\n")
        raw.read_head()
        raw.close()
        assert done.wait(3)
        with RawClient(running.connect()) as other:  # and the server is fine
            other.send(b"GET / HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n")
            assert other.read_head().status == 200
    assert results == ["finished", "http.disconnect"]


# trailers and pathsend ----------------------------------------------------------------------


def test_response_trailers(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"trailer", b"x-checksum")],
                "trailers": True,
            }
        )
        await send({"type": "http.response.body", "body": b"hello", "more_body": True})
        await send({"type": "http.response.body", "body": b" world"})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc123")]})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"TE: trailers\r\n\r\n")
        response = raw.read_response()
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        again = raw.read_response()
    assert response.get("transfer-encoding") == "chunked"
    assert response.get("content-length") is None
    assert response.raw_body == b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc123\r\n\r\n"
    assert response.trailers == [("x-checksum", "abc123")]
    assert again.raw_body == response.raw_body


def test_trailers_with_two_framings_break_the_response_off(http_backend: str) -> None:
    # A trailer block that declares both a Content-Length and a Transfer-Encoding is
    # refused as a header block would be: the app sees the error, the client a close
    # and never the last chunk.
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"hello"})
        try:
            await send(
                {
                    "type": "http.response.trailers",
                    "headers": [(b"transfer-encoding", b"chunked"), (b"content-length", b"1")],
                }
            )
        except RuntimeError as exc:
            errors.append(exc)
            raise

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"TE: trailers\r\n\r\n")
        raw.read_head()
        rest = raw.read_until_close()
    assert [str(exc) for exc in errors] == [
        "Response has both Content-Length and Transfer-Encoding headers."
    ]
    assert rest == b"5\r\nhello\r\n"


def test_trailers_with_a_single_body_message(http_backend: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [], "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"x-t", b"1")]})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
    assert response.raw_body == b"4\r\ndata\r\n0\r\nx-t: 1\r\n\r\n"


def test_pathsend(http_backend: str, tmp_path: Path) -> None:
    content = bytes(range(256)) * 1200  # 300 KiB
    path = tmp_path / "file.bin"
    path.write_bytes(content)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"\r\n")
        response = raw.read_response()
        raw.send(b"HEAD / HTTP/1.1\r\n" + HOST + b"\r\n")
        head = raw.read_response(method="HEAD")
        raw.send(b"GET / HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n")
        last = raw.read_response()
        assert raw.closed_within(1.0)
    assert response.get_all("content-length") == [str(len(content))]
    assert response.body == content
    assert head.get("content-length") == str(len(content))
    assert last.body == content


def test_pathsend_over_http_1_0(http_backend: str, tmp_path: Path) -> None:
    path = tmp_path / "small.txt"
    path.write_bytes(b"small file")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET / HTTP/1.0\r\n\r\n")
        response = raw.read_response()
    assert response.get("content-length") == "10"
    assert response.body == b"small file"
