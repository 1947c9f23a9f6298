"""Request size limits (SPEC §2, docs/security.md), over real sockets on both backends.

``--limit-request-line`` → 414, ``--limit-request-fields`` and
``--limit-request-field-size`` → 431, ``--limit-request-body`` → 413 (declared or
streamed). Each limit is checked at its boundary (exactly at the limit is served, one
byte more is refused), with a small custom value, in one-byte pieces, for a head that
never ends, and switched off with ``0``. A refused request never reaches the app and
the connection is closed after the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import Any

import pytest

from tests.support.apps import Recorder, respond
from tests.support.corpus import STATUS_LINES
from tests.support.raw import RawClient, RawResponse
from tests.support.server import RunningServer, serve

PREFIX = b"GET / HTTP/1.1"  # the shortest request line built below


def request_line(length: int) -> bytes:
    """A GET request line of exactly ``length`` bytes, CRLF not counted."""
    line = b"GET /" + b"a" * (length - len(PREFIX)) + b" HTTP/1.1"
    assert len(line) == length
    return line


def with_fields(count: int) -> bytes:
    """A whole GET request with exactly ``count`` header fields, Host included."""
    fields = [b"Host: example.org"] + [b"X-F%d: v" % index for index in range(count - 1)]
    return b"GET / HTTP/1.1\r\n" + b"\r\n".join(fields) + b"\r\n\r\n"


def with_field_of_size(size: int) -> bytes:
    """A whole GET request with one field whose name and value take ``size`` bytes."""
    field = b"X-Big: " + b"v" * (size - len(b"X-Big"))
    return b"GET / HTTP/1.1\r\nHost: example.org\r\n" + field + b"\r\n\r\n"


def ask(running: RunningServer, request: bytes, bytewise: bool = False) -> tuple[RawResponse, bool]:
    """Send ``request`` (whole, or one byte per send until the server answers); return
    the response and whether the server then closed the connection."""
    with RawClient(running.connect(), timeout=3.0) as raw:
        if bytewise:
            raw.trickle_until_answered(request)
        else:
            raw.send(request)
        response = raw.read_response()
        return response, raw.closed_within(1.0)


def fetch(running: RunningServer, request: bytes) -> RawResponse:
    """Send ``request`` whole; return the response (the connection is not waited on)."""
    with RawClient(running.connect(), timeout=3.0) as raw:
        raw.send(request)
        return raw.read_response()


def assert_refused(response: RawResponse, closed: bool, status: int, app: Recorder) -> None:
    assert response.head.startswith(STATUS_LINES[status]), response.head[:40]
    assert response.get("connection") == "close"
    assert closed, "connection left open after a refusal"
    assert app.scopes == [], "a refused request reached the app"


# request line → 414 ---------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [8190, 100])
def test_request_line_longer_than_the_limit_is_414(http_backend: str, limit: int) -> None:
    options = {} if limit == 8190 else {"limit_request_line": limit}  # 8190: the default
    app = Recorder()
    with serve(app, http=http_backend, **options) as running:
        at_limit = fetch(running, request_line(limit) + b"\r\nHost: example.org\r\n\r\n")
        assert (at_limit.status, at_limit.body) == (200, b"ok")
        assert len(app.scopes.pop()["path"]) == limit - len(b"GET  HTTP/1.1")
        response, closed = ask(running, request_line(limit + 1) + b"\r\nHost: example.org\r\n\r\n")
    assert_refused(response, closed, 414, app)


def test_request_line_over_the_limit_in_one_byte_pieces(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend, limit_request_line=100) as running:
        with RawClient(running.connect()) as raw:
            raw.trickle(request_line(100) + b"\r\nHost: example.org\r\n\r\n")
            at_limit = raw.read_response()
        assert (at_limit.status, at_limit.body) == (200, b"ok")
        app.scopes.clear()
        request = request_line(101) + b"\r\nHost: example.org\r\n\r\n"
        response, closed = ask(running, request, bytewise=True)
    assert_refused(response, closed, 414, app)


@pytest.mark.parametrize("limit", [8190, 100])
@pytest.mark.parametrize("ending", ["in-the-target", "after-the-version"])
def test_request_line_that_never_ends_is_refused_early(
    http_backend: str, limit: int, ending: str
) -> None:
    """No CRLF ever comes: the server answers once the line is past the limit, whether
    the target itself is too long or only the whole line is."""
    options = {} if limit == 8190 else {"limit_request_line": limit}
    app = Recorder()
    if ending == "in-the-target":
        endless = b"GET /" + b"a" * (limit + 10)
    else:
        endless = request_line(limit + 1)  # the target alone fits; no line end follows
    with serve(app, http=http_backend, **options) as running:
        response, closed = ask(running, endless, bytewise=limit < 1000)
    assert_refused(response, closed, 414, app)


def test_request_line_limit_zero_is_off(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend, limit_request_line=0) as running:
        response = fetch(running, request_line(20000) + b"\r\nHost: example.org\r\n\r\n")
    assert (response.status, response.body) == (200, b"ok")
    assert len(app.scopes[0]["path"]) == 20000 - len(b"GET  HTTP/1.1")


# header fields → 431 --------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [100, 5])
def test_more_header_fields_than_the_limit_is_431(http_backend: str, limit: int) -> None:
    options = {} if limit == 100 else {"limit_request_fields": limit}  # 100: the default
    app = Recorder()
    with serve(app, http=http_backend, **options) as running:
        at_limit = fetch(running, with_fields(limit))
        assert (at_limit.status, at_limit.body) == (200, b"ok")
        assert len(app.scopes.pop()["headers"]) == limit
        response, closed = ask(running, with_fields(limit + 1))
    assert_refused(response, closed, 431, app)


def test_too_many_of_the_smallest_header_fields_is_431(http_backend: str) -> None:
    # Fields of two bytes ("a:"), the smallest there are. The httptools backend counts
    # the fields only of a head larger than 4 bytes for each field allowed (a field
    # line takes at least that); this one is, just.
    app = Recorder()
    tiny = b"\r\n".join([b"Host: x"] + [b"a:"] * 20)
    with serve(app, http=http_backend, limit_request_fields=20) as running:
        response, closed = ask(running, b"GET / HTTP/1.1\r\n" + tiny + b"\r\n\r\n")
    assert_refused(response, closed, 431, app)


def test_too_many_header_fields_in_one_byte_pieces(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend, limit_request_fields=5) as running:
        response, closed = ask(running, with_fields(6), bytewise=True)
    assert_refused(response, closed, 431, app)


def test_header_field_count_limit_zero_is_off(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend, limit_request_fields=0) as running:
        response = fetch(running, with_fields(300))
    assert (response.status, response.body) == (200, b"ok")
    assert len(app.scopes[0]["headers"]) == 300


@pytest.mark.parametrize("limit", [8190, 100])
def test_header_field_larger_than_the_limit_is_431(http_backend: str, limit: int) -> None:
    options = {} if limit == 8190 else {"limit_request_field_size": limit}  # 8190: default
    app = Recorder()
    with serve(app, http=http_backend, **options) as running:
        at_limit = fetch(running, with_field_of_size(limit))
        assert (at_limit.status, at_limit.body) == (200, b"ok")
        assert len(dict(app.scopes.pop()["headers"])[b"x-big"]) == limit - len(b"X-Big")
        response, closed = ask(running, with_field_of_size(limit + 1))
    assert_refused(response, closed, 431, app)


def test_field_limit_is_per_field_in_a_head_larger_than_it(http_backend: str) -> None:
    """A head far over the field limit passes when each field is within it (the
    whitespace around a value not counted); one field over it, last of many, is a 431."""
    app = Recorder()
    fields = b"".join(b"X-F%02d: \t%s \t\r\n" % (index, b"v" * 85) for index in range(20))
    within = b"GET / HTTP/1.1\r\nHost: example.org\r\n" + fields + b"\r\n"
    over = within[:-2] + b"X-Last: " + b"v" * (101 - len(b"X-Last")) + b"\r\n\r\n"
    with serve(app, http=http_backend, limit_request_field_size=90) as running:
        response = fetch(running, within)
        assert (response.status, response.body) == (200, b"ok")
        headers = app.scopes.pop()["headers"]
        assert len(headers) == 21
        assert headers[1] == (b"x-f00", b"v" * 85)
        response, closed = ask(running, over)
    assert_refused(response, closed, 431, app)


def test_oversized_header_field_in_one_byte_pieces(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend, limit_request_field_size=100) as running:
        response, closed = ask(running, with_field_of_size(101), bytewise=True)
    assert_refused(response, closed, 431, app)


def test_header_field_that_never_ends_is_refused_early(http_backend: str) -> None:
    """An unterminated field is refused once the head is past the largest the limits
    allow (about fields x field size), without waiting for an end that never comes."""
    app = Recorder()
    endless = b"GET / HTTP/1.1\r\nHost: example.org\r\nX-Big: " + b"v" * 20000
    with serve(app, http=http_backend, limit_request_field_size=100) as running:
        response, closed = ask(running, endless)
    assert_refused(response, closed, 431, app)


def test_header_field_size_limit_zero_is_off(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend, limit_request_field_size=0) as running:
        response = fetch(running, with_field_of_size(20000))
    assert (response.status, response.body) == (200, b"ok")
    assert len(dict(app.scopes[0]["headers"])[b"x-big"]) == 20000 - len(b"X-Big")


# request body → 413 ---------------------------------------------------------------------------


class BodyApp:
    """Reads the body, recording each ``receive()``; answers with its length and hash.

    With ``answer_first`` it starts a streamed response before reading anything.
    """

    def __init__(self, answer_first: bool = False) -> None:
        self.answer_first = answer_first
        self.calls = 0
        self.messages: list[str] = []
        self.got_body = threading.Event()
        self.disconnected = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        if self.answer_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"early", "more_body": True})
        body = b""
        while True:
            message = await receive()
            self.messages.append(message["type"])
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return
            body += message.get("body", b"")
            self.got_body.set()
            if not message.get("more_body", False):
                break
            await asyncio.sleep(0)
        answer = b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())
        if self.answer_first:
            await send({"type": "http.response.body", "body": answer})
        else:
            await respond(send, answer)


def answer_for(body: bytes) -> bytes:
    return b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())


POST = b"POST /upload HTTP/1.1\r\nHost: example.org\r\n"


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_declared_body_over_the_limit_is_413_before_the_app_runs(http_backend: str) -> None:
    app = BodyApp()
    body = b"x" * 101
    request = POST + b"Content-Length: 101\r\n\r\n" + body
    with serve(app, http=http_backend, limit_request_body=100) as running:
        response, closed = ask(running, request)
    assert response.head.startswith(STATUS_LINES[413])
    assert response.get("connection") == "close"
    assert closed
    assert app.calls == 0


def test_declared_body_over_the_limit_gets_no_100_continue(http_backend: str) -> None:
    """The client waits for 100 Continue before it sends the body: it must get the 413
    instead, so the body is never sent."""
    app = BodyApp()
    head = POST + b"Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    with serve(app, http=http_backend, limit_request_body=100) as running:
        with RawClient(running.connect(), timeout=2.0) as raw:
            raw.send(head)
            first = raw.read_response()  # a 100 Continue would be read here
            assert raw.closed_within(1.0)
    assert first.head.startswith(STATUS_LINES[413]), first.head[:40]
    assert app.calls == 0


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_exactly_at_the_limit_is_served(http_backend: str, framing: str) -> None:
    app = BodyApp()
    body = bytes(range(100))
    if framing == "chunked":
        request = POST + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body[:30], body[30:])
    else:
        request = POST + b"Content-Length: 100\r\n\r\n" + body
    with serve(app, http=http_backend, limit_request_body=100) as running:
        with RawClient(running.connect()) as raw:
            raw.send(request)
            response = raw.read_response()
            assert raw.nothing_within(0.2), "connection closed after a body within the limit"
    assert (response.status, response.body) == (200, answer_for(body))


def test_chunked_body_past_the_limit_sent_whole_is_413_before_the_app_runs(
    http_backend: str,
) -> None:
    app = BodyApp()
    request = POST + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"a" * 60, b"b" * 41)
    with serve(app, http=http_backend, limit_request_body=100) as running:
        response, closed = ask(running, request)
    assert response.head.startswith(STATUS_LINES[413])
    assert closed
    assert app.calls == 0


def test_chunked_body_growing_past_the_limit_while_the_app_reads(http_backend: str) -> None:
    """The app already runs and has read part of the body: it gets http.disconnect, the
    client (not yet answered) gets 413 and a close."""
    app = BodyApp()
    with serve(app, http=http_backend, limit_request_body=100) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"32\r\n" + b"a" * 50 + b"\r\n")
            assert app.got_body.wait(2.0), "the app never got the first chunk"
            raw.send(b"3c\r\n" + b"b" * 60 + b"\r\n0\r\n\r\n")
            response = raw.read_response()
            assert raw.closed_within(1.0)
        assert app.disconnected.wait(2.0), "the app's receive() never reported the disconnect"
    assert response.head.startswith(STATUS_LINES[413])
    assert app.messages == ["http.request", "http.disconnect"]


def test_chunked_body_past_the_limit_after_the_app_answered_closes(http_backend: str) -> None:
    """A response already started cannot become a 413: the connection is closed, the
    streamed response stays unfinished, and the app sees a disconnect."""
    app = BodyApp(answer_first=True)
    with serve(app, http=http_backend, limit_request_body=100) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"32\r\n" + b"a" * 50 + b"\r\n")
            head = raw.read_head()
            assert app.got_body.wait(2.0)
            raw.send(b"3c\r\n" + b"b" * 60 + b"\r\n0\r\n\r\n")
            rest = raw.read_until_close()
        assert app.disconnected.wait(2.0)
    assert head.status == 200
    assert rest == b"5\r\nearly\r\n", "a 413 or a completed body after a started response"


def test_declared_body_over_the_limit_behind_a_pipelined_request(http_backend: str) -> None:
    """The 413 waits its turn: the first request is answered, then the refusal."""
    app = Recorder()
    stream = (
        b"GET /first HTTP/1.1\r\nHost: example.org\r\n\r\n"
        + POST
        + b"Content-Length: 101\r\n\r\n"
        + b"x" * 101
        + b"GET /after HTTP/1.1\r\nHost: example.org\r\n\r\n"
    )
    with serve(app, http=http_backend, limit_request_body=100) as running:
        with RawClient(running.connect()) as raw:
            raw.send(stream)
            first = raw.read_response()
            second = raw.read_response()
            assert raw.closed_within(1.0)
    assert (first.status, first.body) == (200, b"ok")
    assert second.head.startswith(STATUS_LINES[413])
    assert [scope["path"] for scope in app.scopes] == ["/first"]


def test_body_limit_zero_is_off(http_backend: str) -> None:
    app = BodyApp()
    body = bytes(range(256)) * 4096  # 1 MiB
    request = POST + b"Content-Length: %d\r\n\r\n" % len(body) + body
    with serve(app, http=http_backend, limit_request_body=0) as running:
        response = fetch(running, request)
    assert (response.status, response.body) == (200, answer_for(body))
