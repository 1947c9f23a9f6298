"""Strict framing (SPEC §4): requests that cannot be served safely are answered
with a 4xx/5xx and a close, before anything reaches the app, and both parser
backends give the same answer to the same bytes, sent whole or byte by byte.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.apps import Recorder
from tests.support.corpus import ERRORS, STATUS_LINES
from tests.support.raw import RawClient, mask_date
from tests.support.server import RunningServer, serve


def exchange(running: RunningServer, request: bytes, bytewise: bool) -> bytes:
    """Send ``request`` (whole or one byte per send); return what came back.

    Ends with ``<open>`` when a response came and the connection stayed open, and
    with ``<no answer>`` when the server was still waiting for more bytes.
    """
    with RawClient(running.connect(), timeout=1.0) as raw:
        if bytewise:
            raw.trickle(request)
        else:
            raw.send(request)
        try:
            response = raw.read_response()
        except TimeoutError:
            return raw.buffer + b"<no answer>"
        if raw.closed_within(0.3):
            return response.raw
        return response.raw + b"<open>"


@pytest.mark.parametrize("name", list(ERRORS))
def test_framing_error_sent_whole(http_backend: str, name: str) -> None:
    request, status, _ = ERRORS[name]
    app = Recorder()
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(request)
        response = raw.read_response()
        assert raw.closed_within(1.0), "connection left open after a framing error"
    assert response.head.startswith(STATUS_LINES[status])
    assert response.get("connection") == "close"
    assert app.scopes == [], "a request with broken framing reached the app"


@pytest.mark.parametrize("name", list(ERRORS))
def test_framing_error_sent_byte_by_byte(http_backend: str, name: str) -> None:
    request, status, bad_head = ERRORS[name]
    app = Recorder()
    with serve(app, http=http_backend) as running:
        data = exchange(running, request, bytewise=True)
    assert data.startswith(STATUS_LINES[status])
    assert not data.endswith((b"<open>", b"<no answer>"))
    if bad_head:
        assert app.scopes == []


def test_error_after_a_good_request_on_the_same_connection(http_backend: str) -> None:
    app = Recorder()
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(b"GET /good HTTP/1.1\r\nHost: x\r\n\r\n" + ERRORS["missing-host"][0])
        good = raw.read_response()
        bad = raw.read_response()
        assert raw.closed_within(1.0)
    assert (good.status, good.body) == (200, b"ok")
    assert bad.status == 400
    assert [scope["path"] for scope in app.scopes] == ["/good"]


def test_error_in_a_pipelined_body_while_a_request_is_running(http_backend: str) -> None:
    app = Recorder()
    stream = (
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /second HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    )
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(stream)
        first = raw.read_response()
        second = raw.read_response()
        assert raw.closed_within(1.0)
    assert (first.status, first.body) == (200, b"ok")
    assert second.status == 400
    assert [scope["path"] for scope in app.scopes] == ["/first"]


# parity: the same bytes get the same answer from both backends ----------------------------
# (the debatable PROBES of tests/support/corpus.py are compared in test_core_memory.py,
# where the segmentation is exact)


@pytest.fixture(scope="module")
def both_servers() -> Iterator[dict[str, RunningServer]]:
    with serve(Recorder(), http="h11") as h11, serve(Recorder(), http="httptools") as httptools:
        yield {"h11": h11, "httptools": httptools}


@pytest.mark.parametrize(
    "request_bytes", [pytest.param(case[0], id=name) for name, case in ERRORS.items()]
)
def test_both_backends_give_the_same_answer(
    both_servers: dict[str, RunningServer], request_bytes: bytes
) -> None:
    answers: dict[str, bytes] = {}
    for backend, running in both_servers.items():
        for bytewise in (False, True):
            data = exchange(running, request_bytes, bytewise)
            answers[f"{backend}, {'byte by byte' if bytewise else 'whole'}"] = mask_date(data)
    agree = len(set(answers.values())) == 1
    assert agree, {way: (data.split(b"\r\n")[0], data[-12:]) for way, data in answers.items()}


# header size limits -----------------------------------------------------------------------


def test_header_field_larger_than_the_limit(http_backend: str) -> None:
    """--limit-request-field-size (8190 by default): 431 on both backends, app not called."""
    app = Recorder()
    head = b"GET / HTTP/1.1\r\nHost: example.org\r\nX-Big: " + b"a" * 20000
    with serve(app, http=http_backend) as running, RawClient(running.connect()) as raw:
        raw.send(head)
        raw.send(b"\r\n\r\n")
        response = raw.read_response()
        assert response.status == 431
        assert raw.closed_within(1.0)
    assert app.scopes == []


def test_unfinished_head_past_its_largest_size_is_refused(http_backend: str) -> None:
    """A head that can no longer fit the limits is refused before it ends (no endless buffer)."""
    app = Recorder()
    head = b"GET / HTTP/1.1\r\nHost: example.org\r\nX-Big: " + b"a" * 20000
    limits = {"limit_request_fields": 2, "limit_request_field_size": 100}
    with serve(app, http=http_backend, **limits) as running, RawClient(running.connect()) as raw:
        raw.send(head)  # no end of head: the server must not wait for one
        response = raw.read_response()
        assert response.status == 431
        assert raw.closed_within(1.0)
    assert app.scopes == []


def test_h11_max_incomplete_event_size_applies_to_h11() -> None:
    """uvicorn's --h11-max-incomplete-event-size still bounds h11's own buffer."""
    app = Recorder()
    head = b"GET / HTTP/1.1\r\nHost: example.org\r\nX-Big: " + b"a" * 2000
    with serve(app, http="h11", h11_max_incomplete_event_size=1024) as running:
        with RawClient(running.connect()) as raw:
            raw.send(head)  # the head is not finished: no blank line yet
            response = raw.read_response()
            assert raw.closed_within(1.0)
            assert response.status == 431
            assert response.head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert app.scopes == []
