"""Slow clients (SPEC §2, docs/security.md "Slow clients"), over real sockets on both
backends, with timeouts of a fraction of a second so each test stays short.

* ``--timeout-request-header``: the whole head within it, counted from the
  connection's opening or from the first byte of a kept-alive request; else 408 and a
  close. A connection that sends nothing is closed without a response.
* ``--timeout-request-body`` plus one second per ``--min-request-body-rate`` bytes:
  a steady upload passes however long it takes, a trickle or a stall is cut (408 if
  the app has not answered, else a close). The clock stops while reading is paused
  because the app is not reading.
* ``0`` switches each off.

Elapsed times are checked against a window around the configured value: wide enough
for a loaded machine, narrow enough to tell the rules apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from typing import Any

from tests.support.apps import Recorder, respond
from tests.support.corpus import STATUS_LINES
from tests.support.raw import RawClient
from tests.support.server import serve
from uvicorn import Config

HEAD = b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n"
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: example.org\r\n"  # the blank line never comes
SLACK = 0.7  # how much later than its deadline a cut may come on a busy machine


def send_paced(raw: RawClient, pieces: list[bytes], interval: float) -> int:
    """Send ``pieces`` ``interval`` seconds apart until the server answers or closes;
    return how many were sent."""
    for count, piece in enumerate(pieces, 1):
        try:
            raw.send(piece)
        except (BrokenPipeError, ConnectionResetError):
            return count - 1
        if not raw.nothing_within(interval):
            return count
    return len(pieces)


def assert_408(data: bytes) -> None:
    assert data.startswith(STATUS_LINES[408]), data[:40]


class BodyApp:
    """Reads the whole body (after ``delay`` seconds); answers with its length and hash."""

    def __init__(self, delay: float = 0.0, answer_first: bool = False) -> None:
        self.delay = delay
        self.answer_first = answer_first
        self.messages: list[str] = []
        self.disconnected = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.answer_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"early", "more_body": True})
        if self.delay:
            await asyncio.sleep(self.delay)
        body = b""
        while True:
            message = await receive()
            self.messages.append(message["type"])
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await respond(send, digest(body))


def digest(body: bytes) -> bytes:
    return b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())


def post_head(length: int) -> bytes:
    return b"POST /upload HTTP/1.1\r\nHost: example.org\r\nContent-Length: %d\r\n\r\n" % length


# the request head ----------------------------------------------------------------------------


def test_partial_head_then_silence_gets_408_at_the_header_timeout(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend, timeout_request_header=0.5) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            opened = time.monotonic()
            raw.send(PARTIAL_HEAD)
            response = raw.read_response()
            elapsed = time.monotonic() - opened
            assert raw.closed_within(1.0)
    assert_408(response.head)
    assert response.get("connection") == "close"
    assert 0.4 <= elapsed <= 0.5 + SLACK, elapsed
    assert app.scopes == []


def test_header_lines_trickled_slowly_are_cut_at_the_header_timeout(http_backend: str) -> None:
    """Each line comes quickly enough on its own; the head as a whole does not. The
    deadline is absolute (mod_reqtimeout), not renewed by each byte."""
    app = Recorder()
    lines = [b"GET / HTTP/1.1\r\n", b"Host: example.org\r\n"]
    lines += [b"X-Slow-%d: %d\r\n" % (index, index) for index in range(10)] + [b"\r\n"]
    with serve(app, http=http_backend, timeout_request_header=0.6) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            opened = time.monotonic()
            sent = send_paced(raw, lines, interval=0.15)  # all of it would take ~1.8 s
            response = raw.read_response()
            elapsed = time.monotonic() - opened
            assert raw.closed_within(1.0)
    assert_408(response.head)
    assert sent < len(lines), "the server waited for the whole trickled head"
    assert 0.5 <= elapsed <= 0.6 + SLACK, elapsed
    assert app.scopes == []


def test_connection_that_sends_nothing_is_closed_without_a_response(http_backend: str) -> None:
    with serve(Recorder(), http=http_backend, timeout_request_header=0.5) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            opened = time.monotonic()
            assert raw.closed_within(2.0), "a silent connection was kept open"
            elapsed = time.monotonic() - opened
    assert 0.4 <= elapsed <= 0.5 + SLACK, elapsed


def test_idle_time_before_a_kept_alive_request_does_not_count_against_its_head(
    http_backend: str,
) -> None:
    """Between requests the keep-alive timeout runs, not the header timeout."""
    app = Recorder()
    options = {"timeout_request_header": 0.4, "timeout_keep_alive": 2.0}
    with serve(app, http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(HEAD)
            assert raw.read_response().status == 200
            assert raw.nothing_within(0.8), "closed while idle, before the keep-alive timeout"
            raw.send(HEAD)
            second = raw.read_response()
    assert (second.status, second.body) == (200, b"ok")
    assert len(app.scopes) == 2


def test_header_clock_of_a_kept_alive_request_starts_at_its_first_byte(
    http_backend: str,
) -> None:
    app = Recorder()
    options = {"timeout_request_header": 0.5, "timeout_keep_alive": 2.0}
    with serve(app, http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(HEAD)
            assert raw.read_response().status == 200
            assert raw.nothing_within(0.7)
            first_byte = time.monotonic()
            raw.send(b"GET /second HTTP/1.1\r\n")
            response = raw.read_response()
            elapsed = time.monotonic() - first_byte
            assert raw.closed_within(1.0)
    assert_408(response.head)
    assert 0.4 <= elapsed <= 0.5 + SLACK, elapsed
    assert [scope["path"] for scope in app.scopes] == ["/"]


def test_idle_kept_alive_connection_is_closed_by_the_keep_alive_timeout(
    http_backend: str,
) -> None:
    """Silence after a response: closed at the keep-alive timeout, without a 408."""
    options = {"timeout_request_header": 0.3, "timeout_keep_alive": 1.0}
    with serve(Recorder(), http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(HEAD)
            assert raw.read_response().status == 200
            answered = time.monotonic()
            assert raw.closed_within(2.5)
            elapsed = time.monotonic() - answered
    assert 0.9 <= elapsed <= 1.0 + SLACK, elapsed


# the request body ----------------------------------------------------------------------------


def test_body_stall_gets_408_and_the_app_sees_a_disconnect(http_backend: str) -> None:
    app = BodyApp()
    options = {"timeout_request_body": 0.5, "min_request_body_rate": 500}
    with serve(app, http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(post_head(100) + b"x" * 10)  # deadline: 0.5 s + 10 / 500 s
            sent = time.monotonic()
            response = raw.read_response()
            elapsed = time.monotonic() - sent
            assert raw.closed_within(1.0)
        assert app.disconnected.wait(2.0), "the app's receive() never reported the disconnect"
    assert_408(response.head)
    assert 0.45 <= elapsed <= 0.52 + SLACK, elapsed
    assert app.messages == ["http.request", "http.disconnect"]


def test_body_stall_after_the_response_started_closes_without_a_408(http_backend: str) -> None:
    app = BodyApp(answer_first=True)
    options = {"timeout_request_body": 0.5, "min_request_body_rate": 500}
    with serve(app, http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(post_head(100) + b"x" * 10)
            head = raw.read_head()
            rest = raw.read_until_close()
        assert app.disconnected.wait(2.0)
    assert head.status == 200
    assert rest == b"5\r\nearly\r\n", "a 408 or a completed body after a started response"


def test_steady_upload_longer_than_the_body_timeout_passes(http_backend: str) -> None:
    """1000 bytes/s for 1.2 s against a 0.5 s timeout and a 500 bytes/s minimum rate."""
    app = BodyApp()
    body = bytes(range(100)) * 12
    pieces = [body[index : index + 100] for index in range(0, len(body), 100)]
    options = {"timeout_request_body": 0.5, "min_request_body_rate": 500}
    with serve(app, http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(post_head(len(body)))
            started = time.monotonic()
            assert send_paced(raw, pieces, interval=0.1) == len(pieces)
            response = raw.read_response()
            elapsed = time.monotonic() - started
    assert (response.status, response.body) == (200, digest(body))
    assert elapsed > 1.0, "the upload did not outlast the body timeout: the test proves nothing"
    assert "http.disconnect" not in app.messages


def test_body_trickled_below_the_minimum_rate_is_cut(http_backend: str) -> None:
    """100 bytes/s against 500 bytes/s: cut when 0.5 s + received / 500 runs out (~0.63 s)."""
    app = BodyApp()
    pieces = [b"y" * 10] * 20  # 2 s in all
    options = {"timeout_request_body": 0.5, "min_request_body_rate": 500}
    with serve(app, http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(post_head(200))
            started = time.monotonic()
            sent = send_paced(raw, pieces, interval=0.1)
            response = raw.read_response()
            elapsed = time.monotonic() - started
        assert app.disconnected.wait(2.0)
    assert_408(response.head)
    assert sent < len(pieces)
    assert 0.5 <= elapsed <= 0.63 + SLACK, elapsed


def test_slow_app_that_reads_its_body_late_is_not_cut(http_backend: str) -> None:
    """Reading pauses once 64 KiB wait unread; the body clock stops with it. The app
    sleeps well past the body timeout (with a minimum rate so high that the bytes
    received barely extend it) and still gets the whole body."""
    app = BodyApp(delay=1.2)
    body = bytes(range(256)) * 4096  # 1 MiB: far more than is read before the pause
    options = {"timeout_request_body": 0.4, "min_request_body_rate": 10_000_000}
    with serve(app, http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=4.0) as raw:
            raw.send(post_head(len(body)) + body)
            response = raw.read_response()
    assert (response.status, response.body) == (200, digest(body))
    assert not app.disconnected.is_set()


# 0 switches a timeout off --------------------------------------------------------------------


def test_zero_header_timeout_is_off(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend, timeout_request_header=0) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(PARTIAL_HEAD)
            assert raw.nothing_within(0.8), "a head timeout of 0 cut the connection"
            raw.send(b"\r\n")
            response = raw.read_response()
    assert (response.status, response.body) == (200, b"ok")


def test_zero_body_timeout_is_off(http_backend: str) -> None:
    app = BodyApp()
    with serve(app, http=http_backend, timeout_request_body=0) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(post_head(20) + b"z" * 10)
            assert raw.nothing_within(0.8), "a body timeout of 0 cut the connection"
            raw.send(b"z" * 10)
            response = raw.read_response()
    assert (response.status, response.body) == (200, digest(b"z" * 20))


def test_zero_min_rate_gives_no_extension(http_backend: str) -> None:
    """The steady upload that passes above is cut at the bare body timeout."""
    app = BodyApp()
    pieces = [b"w" * 100] * 12
    options = {"timeout_request_body": 0.5, "min_request_body_rate": 0}
    with serve(app, http=http_backend, **options) as running:
        with RawClient(running.connect(), timeout=3.0) as raw:
            raw.send(post_head(1200))
            started = time.monotonic()
            sent = send_paced(raw, pieces, interval=0.1)
            response = raw.read_response()
            elapsed = time.monotonic() - started
    assert_408(response.head)
    assert sent < len(pieces)
    assert 0.4 <= elapsed <= 0.5 + SLACK, elapsed


def test_the_defaults_protect_out_of_the_box() -> None:
    config = Config(Recorder())
    assert (config.timeout_request_header, config.timeout_request_body) == (20.0, 20.0)
    assert config.min_request_body_rate == 500
