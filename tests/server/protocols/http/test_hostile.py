"""Hostile input (issue 10, docs/security.md "What is refused"): strict RFC 9112 on both
backends, the same answer for the same bytes, nothing after a refusal executed.

Every case of ``HOSTILE`` (tests/support/corpus.py) is sent over a real socket, whole
and one byte per send, to both backends, and fed in memory whole and byte by byte,
where the bytes written are compared exactly across backends and ways. Smuggling
cases are also split at every position. ``ACCEPTED`` holds the unusual requests that
strictness must not refuse. The property tests at the end generate pipelines of
valid requests, possibly followed by a broken one, cut at random points.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.apps import respond
from tests.support.corpus import ACCEPTED, ERRORS, HOSTILE, SMUGGLED_PATH, STATUS_LINES
from tests.support.memory import open_connection, run_until
from tests.support.raw import RawClient, RawResponse
from tests.support.server import RunningServer, serve

BACKENDS = ("h11", "httptools")
AFTER_PATH = "/after"
AFTER = b"GET /after HTTP/1.1\r\nHost: example.org\r\n\r\n"  # must never run after a refusal
SMUGGLING = [name for name in HOSTILE if name.startswith("smuggle-")]


@dataclass
class Call:
    path: str
    query: bytes
    messages: list[str] = field(default_factory=list)
    body: bytes = b""
    finished: bool = False


class Witness:
    """Records every call and what ``receive()`` gave it; answers ``ok`` after the body.

    On ``http.disconnect`` it returns without answering, as an app should.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        call = Call(scope["path"], scope["query_string"])
        self.calls.append(call)
        try:
            while True:
                message = await receive()
                call.messages.append(message["type"])
                if message["type"] != "http.request":
                    return
                call.body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            await respond(send, b"ok")
        finally:
            call.finished = True

    @property
    def paths(self) -> list[str]:
        return [call.path for call in self.calls]

    def wait_finished(self, timeout: float = 2.0) -> None:
        """Let apps on the server's thread finish what the closed connection left them."""
        deadline = time.monotonic() + timeout
        while not all(call.finished for call in self.calls):
            assert time.monotonic() < deadline, "an app call never finished"
            time.sleep(0.01)


def check_app_side(app: Witness, bad_head: bool) -> None:
    """The refused request never ran; if its body was the bad part, the app that had
    started for it saw a disconnect, never a complete body; nothing after it ran."""
    assert AFTER_PATH not in app.paths, "a request after the refused one was executed"
    assert SMUGGLED_PATH not in app.paths, "the smuggled request was executed"
    if bad_head:
        assert app.paths == [], "a request with a bad head reached the app"
    for call in app.calls:
        assert call.messages[-1:] == ["http.disconnect"], call.messages


# over real sockets ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[RunningServer, Witness]]]:
    apps = {backend: Witness() for backend in BACKENDS}
    with serve(apps["h11"], http="h11") as h11, serve(apps["httptools"], http="httptools") as ht:
        yield {"h11": (h11, apps["h11"]), "httptools": (ht, apps["httptools"])}


def exchange(
    running: RunningServer, data: bytes, bytewise: bool
) -> tuple[RawResponse | None, bytes, str]:
    """Send ``data``; return (the first response, what was read, how the exchange ended)."""
    with RawClient(running.connect(), timeout=1.0) as raw:
        if bytewise:
            raw.trickle(data)
        else:
            raw.send(data)
        try:
            response = raw.read_response()
        except TimeoutError:
            return None, raw.buffer, "no answer"
        except AssertionError:
            return None, raw.buffer, "closed without an answer"
        # closed_within fails the test if anything (a second response) follows
        ending = "closed" if raw.closed_within(0.5) else "left open"
        return response, response.raw, ending


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "byte-by-byte"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_refused_over_a_socket(
    servers: dict[str, tuple[RunningServer, Witness]],
    http_backend: str,
    name: str,
    bytewise: bool,
) -> None:
    request, status, bad_head = HOSTILE[name]
    running, app = servers[http_backend]
    app.calls.clear()
    response, data, ending = exchange(running, request + AFTER, bytewise)
    assert response is not None, f"{ending}: {data[:80]!r}"
    assert response.head.startswith(STATUS_LINES[status]), response.head[:40]
    assert response.get("connection") == "close"
    assert ending == "closed"
    app.wait_finished()
    check_app_side(app, bad_head)


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_accepted_over_a_socket(
    servers: dict[str, tuple[RunningServer, Witness]], http_backend: str, name: str
) -> None:
    request, paths = ACCEPTED[name]
    running, app = servers[http_backend]
    app.calls.clear()
    with RawClient(running.connect(), timeout=2.0) as raw:
        raw.send(request)
        responses = [raw.read_response() for _ in paths]
        assert raw.nothing_within(0.2), "more than one response per request"
    assert [(r.status, r.body) for r in responses] == [(200, b"ok")] * len(paths)
    assert app.paths == paths


def test_absolute_form_target_reaches_the_app_as_path_and_query(
    servers: dict[str, tuple[RunningServer, Witness]], http_backend: str
) -> None:
    running, app = servers[http_backend]
    app.calls.clear()
    with RawClient(running.connect()) as raw:
        raw.send(ACCEPTED["absolute-form"][0])
        assert raw.read_response().status == 200
    assert [(call.path, call.query) for call in app.calls] == [("/a", b"b=1")]


# in memory: exact bytes, exact segmentation --------------------------------------------------


async def feed(data: bytes, backend: str, cuts: list[int]) -> tuple[bytes, bool, Witness]:
    """Feed ``data`` cut at ``cuts`` (the app may run between pieces); return what was
    written, whether the connection closed, and the app's record."""
    app = Witness()
    conn, transport = open_connection(app, backend)
    start = 0
    for end in [*cuts, len(data)]:
        if end > start:
            conn.data_received(data[start:end])
            start = end
        for _ in range(3):
            await asyncio.sleep(0)
    for _ in range(30):
        await asyncio.sleep(0)
    closed = transport.closed
    if not closed:
        transport.close()
        await asyncio.sleep(0)
    return bytes(transport.output), closed, app


def responses_in(output: bytes) -> list[RawResponse]:
    """Parse everything written; fails on a partial response."""

    class Bytes:
        def __init__(self) -> None:
            self.data = output

        def settimeout(self, timeout: float | None) -> None:
            pass

        def recv(self, size: int) -> bytes:
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk

    client = RawClient(Bytes())  # type: ignore[arg-type]
    responses = []
    while client.buffer or client._fill():
        responses.append(client.read_response())
    return responses


@pytest.mark.parametrize("name", list(HOSTILE))
def test_refused_in_memory_alike_every_way(name: str) -> None:
    request, status, bad_head = HOSTILE[name]

    async def main() -> dict[str, tuple[bytes, bool, Witness]]:
        results = {}
        for backend in BACKENDS:
            results[f"{backend}/whole"] = await feed(request, backend, [])
            results[f"{backend}/bytewise"] = await feed(request, backend, list(range(len(request))))
        return results

    results = asyncio.run(main())
    summary = {way: (output[:40], closed) for way, (output, closed, _) in results.items()}
    assert len({output for output, _, _ in results.values()}) == 1, summary
    for way, (output, closed, app) in results.items():
        responses = responses_in(output)
        assert len(responses) == 1, (way, output)
        assert responses[0].head.startswith(STATUS_LINES[status]), (way, output[:40])
        assert closed, way
        check_app_side(app, bad_head or way.endswith("whole"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SMUGGLING)
def test_smuggled_request_never_runs_however_the_bytes_are_cut(name: str, backend: str) -> None:
    request, status, bad_head = HOSTILE[name]

    async def main() -> dict[int, str]:
        wrong: dict[int, str] = {}
        for cut in range(1, len(request)):
            output, closed, app = await feed(request, backend, [cut])
            if not output.startswith(STATUS_LINES[status]) or not closed:
                wrong[cut] = f"answered {output[:30]!r}, closed={closed}"
            elif SMUGGLED_PATH in app.paths:
                wrong[cut] = "smuggled request executed"
            elif bad_head and app.paths:
                wrong[cut] = "app called"
        return wrong

    wrong = asyncio.run(main())
    assert wrong == {}, dict(list(wrong.items())[:5])


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_accepted_in_memory_alike_every_way(name: str) -> None:
    request, paths = ACCEPTED[name]

    async def main() -> dict[str, tuple[bytes, bool, Witness]]:
        results = {}
        for backend in BACKENDS:
            results[f"{backend}/whole"] = await feed(request, backend, [])
            results[f"{backend}/bytewise"] = await feed(request, backend, list(range(len(request))))
        return results

    results = asyncio.run(main())
    summary = {way: (output[:40], closed) for way, (output, closed, _) in results.items()}
    assert len({output for output, _, _ in results.values()}) == 1, summary
    for way, (output, closed, app) in results.items():
        responses = responses_in(output)
        assert [(r.status, r.body) for r in responses] == [(200, b"ok")] * len(paths), way
        assert not closed, way
        assert app.paths == paths, way


@pytest.mark.parametrize("backend", BACKENDS)
def test_trailer_fields_never_become_headers_of_the_next_request(backend: str) -> None:
    """Trailers are dropped (the app is not offered them); above all they must not be
    left over for the next request on the connection, where they would be injected."""
    stream = (
        b"POST /first HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nX-Injected: evil\r\nAuthorization: Basic YTpi\r\n\r\n"
        b"GET /second HTTP/1.1\r\nHost: example.org\r\n\r\n"
    )
    seen: list[tuple[str, list[tuple[bytes, bytes]]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["path"], scope["headers"]))
        while (await receive()).get("more_body", False):
            pass
        await respond(send, b"ok")

    async def main() -> bytes:
        conn, transport = open_connection(app, backend)
        conn.data_received(stream)
        await run_until(lambda: transport.output.count(b"HTTP/1.1 ") == 2)
        return bytes(transport.output)

    output = asyncio.run(main())
    assert [r.status for r in responses_in(output)] == [200, 200]
    assert seen == [
        ("/first", [(b"host", b"example.org"), (b"transfer-encoding", b"chunked")]),
        ("/second", [(b"host", b"example.org")]),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_field_values_reach_the_app_without_surrounding_whitespace(backend: str) -> None:
    """RFC 9110 §5.5: leading and trailing SP/HTAB are not part of a field value."""
    request = (
        b"GET / HTTP/1.1\r\nHost: example.org\r\nX-A: \t v \t\r\nX-B:w\t\r\n"
        b"X-C: in \t side \r\nX-D: \r\n\r\n"
    )
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["headers"])
        await respond(send, b"ok")

    async def main() -> None:
        conn, transport = open_connection(app, backend)
        conn.data_received(request)
        await run_until(lambda: b"ok" in transport.output)

    asyncio.run(main())
    assert seen == [
        [
            (b"host", b"example.org"),
            (b"x-a", b"v"),
            (b"x-b", b"w"),
            (b"x-c", b"in \t side"),
            (b"x-d", b""),
        ]
    ]


# property-based: pipelines of generated requests ---------------------------------------------

METHODS = ("GET", "POST", "PUT", "DELETE")
TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
RESERVED_NAMES = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"}
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~"


@dataclass
class Generated:
    data: bytes
    path: str
    headers: list[tuple[bytes, bytes]]  # as the app must see them
    body: bytes


@st.composite
def valid_requests(draw: st.DrawFn, index: int) -> Generated:
    method = draw(st.sampled_from(METHODS))
    path = f"/{index}/" + draw(st.text(PATH_CHARS, max_size=12))
    query = draw(st.sampled_from(["", "?a=1", "?q=x%20y&b"]))
    names = st.text(TOKEN, min_size=1, max_size=10).filter(
        lambda name: name.lower() not in RESERVED_NAMES
    )
    values = st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20
    ) | st.builds(lambda a, b: f"{a} \t{b}", st.text("xyz", min_size=1), st.text("xyz", min_size=1))
    headers = draw(st.lists(st.tuples(names, values), max_size=4))
    body = draw(st.binary(max_size=300))
    head = [f"{method} {path}{query} HTTP/1.1", "Host: example.org"]
    ows = st.sampled_from(["", " ", "\t", " \t"])  # optional whitespace around values
    head += [f"{name}:{draw(ows)}{value}{draw(ows)}" for name, value in headers]
    chunked = draw(st.booleans())
    if not chunked:
        if body or draw(st.booleans()):
            head.append(f"Content-Length: {len(body)}")
        encoded = body
    else:
        head.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(body) - 1)), max_size=4)))
        cuts = [cut for cut in cuts if cut < len(body)]
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        encoded = b""
        for piece in pieces:
            size = draw(st.sampled_from(["%x", "%X", "%04x"])) % len(piece)
            extension = draw(st.sampled_from(["", ";a=b", ';n="v w"']))
            encoded += f"{size}{extension}\r\n".encode() + piece + b"\r\n"
        # trailers, which must reach neither this request nor the next one as headers
        trailers = draw(st.lists(st.tuples(names | st.just("Host"), values), max_size=2))
        lines = "".join(f"{name}: {value}\r\n" for name, value in trailers)
        encoded += f"0\r\n{lines}\r\n".encode()
    data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + encoded
    seen = []
    for line in head[1:]:
        name, _, value = line.encode("latin-1").partition(b":")
        seen.append((name.lower(), value.strip(b" \t")))
    return Generated(data, path, seen, body)


@st.composite
def pipelines(draw: st.DrawFn) -> tuple[list[Generated], str | None, bytes, list[int], int]:
    """(valid requests, the corpus error that follows them or None, the bytes, cuts, yields)."""
    count = draw(st.integers(0, 4))
    requests = [draw(valid_requests(index)) for index in range(count)]
    broken = draw(st.none() | st.sampled_from(sorted(ERRORS)))
    data = b"".join(request.data for request in requests)
    if broken is not None:
        data += ERRORS[broken][0] + AFTER
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=8)))
    cuts = [cut for cut in cuts if cut < len(data)]
    yields = draw(st.integers(0, 3))
    return requests, broken, data, cuts, yields


def digest(path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    fields = hashlib.sha256(repr(headers).encode()).hexdigest()[:16]
    return f"{path} {fields} {len(body)} {hashlib.sha256(body).hexdigest()}".encode()


class Echo(Witness):
    """Reads its whole body, then answers with the path and a hash of that body."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        call = Call(scope["path"], scope["query_string"])
        self.calls.append(call)
        while True:
            message = await receive()
            call.messages.append(message["type"])
            if message["type"] != "http.request":
                return
            call.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
            if len(call.messages) % 2:
                await asyncio.sleep(0)  # vary the interleaving with the parser
        await respond(send, digest(call.path, scope["headers"], call.body))


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def run_pipeline(
    backend: str, data: bytes, cuts: list[int], yields: int, expected: int, broken: bool
) -> tuple[bytes, bool, Echo, list[dict[str, Any]]]:
    app = Echo()
    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: loop_errors.append(ctx))
    conn, transport = open_connection(app, backend)
    start = 0
    for end in [*cuts, len(data)]:
        if end > start:
            conn.data_received(data[start:end])
            start = end
        for _ in range(yields):
            await asyncio.sleep(0)

    def done() -> bool:
        return transport.closed if broken else transport.output.count(b"HTTP/1.1 ") >= expected

    await run_until(done)
    for _ in range(20):
        await asyncio.sleep(0)
    closed = transport.closed
    if not closed:
        transport.close()
        await asyncio.sleep(0)
    return bytes(transport.output), closed, app, loop_errors


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=pipelines())
def test_pipelines_answered_once_in_order_with_their_own_headers_and_bodies(
    backend: str, case: tuple[list[Generated], str | None, bytes, list[int], int]
) -> None:
    requests, broken, data, cuts, yields = case
    errors = Errors()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(errors)
    disabled, logger.disabled = logger.disabled, False
    try:
        output, closed, app, loop_errors = asyncio.run(
            run_pipeline(backend, data, cuts, yields, len(requests), broken is not None)
        )
    finally:
        logger.removeHandler(errors)
        logger.disabled = disabled
    assert loop_errors == []
    assert [record.getMessage() for record in errors.records] == []
    responses = responses_in(output)
    answered = [(r.status, r.body) for r in responses[: len(requests)]]
    assert answered == [(200, digest(r.path, r.headers, r.body)) for r in requests]
    paths = [r.path for r in requests]
    assert app.paths[: len(requests)] == paths
    if broken is None:
        assert len(responses) == len(requests)
        assert app.paths == paths
        assert not closed, "a connection without errors was closed"
        return
    _, status, bad_head = ERRORS[broken]
    assert len(responses) == len(requests) + 1, "nothing may follow the error response"
    assert responses[-1].status == status
    assert responses[-1].get("connection") == "close"
    assert closed
    extra = app.calls[len(requests) :]
    assert AFTER_PATH not in app.paths
    assert not (bad_head and extra), "the broken request reached the app"
    for call in extra:  # a broken body whose head had been handed over
        assert call.messages[-1] == "http.disconnect"


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=150, deadline=None)
@given(
    requests=st.lists(valid_requests(0), max_size=2),
    garbage=st.binary(min_size=1, max_size=200),
    cuts=st.lists(st.integers(1, 600), max_size=6),
)
def test_garbage_after_valid_requests_never_breaks_the_server(
    backend: str, requests: list[Generated], garbage: bytes, cuts: list[int]
) -> None:
    """Random bytes after good requests: the good ones are answered, then at most one
    error and a close; the server never raises and never answers twice."""
    data = b"".join(request.data for request in requests) + garbage
    cuts = sorted({cut for cut in cuts if cut < len(data)})

    async def main() -> tuple[bytes, bool, list[dict[str, Any]]]:
        app = Echo()
        loop_errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: loop_errors.append(ctx))
        conn, transport = open_connection(app, backend)
        start = 0
        for end in [*cuts, len(data)]:
            conn.data_received(data[start:end])
            start = end
            await asyncio.sleep(0)
        for _ in range(40):
            await asyncio.sleep(0)
        closed = transport.closed
        if not closed:
            transport.close()
            await asyncio.sleep(0)
        return bytes(transport.output), closed, loop_errors

    output, closed, loop_errors = asyncio.run(main())
    assert loop_errors == []
    responses = responses_in(output)
    answered = [(r.status, r.body) for r in responses[: len(requests)]]
    assert answered == [(200, digest(r.path, r.headers, r.body)) for r in requests]
    rest = responses[len(requests) :]
    # the garbage is either still incomplete (nothing more, connection open) or refused
    # with one error and a close
    assert len(rest) <= 1, [r.head for r in rest]
    if rest:
        assert rest[0].status >= 400
        assert rest[0].get("connection") == "close"
    assert closed == bool(rest)
