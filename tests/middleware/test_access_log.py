"""The access log: one line per finished request, which a client cannot split or forge."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer, serve
from uvicorn.logging import AccessFormatter
from uvicorn.middleware.access_log import request_target


async def app(scope: Any, receive: Any, send: Any) -> None:
    status = 404 if scope["path"].startswith("/missing") else 200
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def access_lines(records: list[logging.LogRecord]) -> list[str]:
    """The access records as uvicorn's default formatter writes them to the stream."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s')
    )
    handler.formatter.use_colors = False  # type: ignore[union-attr]
    for record in records:
        if record.name == "uvicorn.access":
            handler.emit(record)
    return stream.getvalue().splitlines()


def exchange(running: RunningServer, data: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection."""
    with running.connect() as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_line_has_client_method_path_query_version_status(
    uvicorn_logs: list[logging.LogRecord], http_backend: str
) -> None:
    with serve(app, http=http_backend) as running, httpx.Client(timeout=5) as client:
        client.get(running.url + "/path/to?x=1&y=two")
        client.post(running.url + "/missing", content=b"body")
        local_port = None
        for connection in running.server.server_state.connections:
            local_port = connection.client[1]  # type: ignore[attr-defined]
    lines = access_lines(uvicorn_logs)
    assert len(lines) == 2, lines
    assert re.fullmatch(
        r'INFO:     127\.0\.0\.1:(\d+) - "GET /path/to\?x=1&y=two HTTP/1\.1" 200 OK', lines[0]
    ), lines[0]
    assert re.fullmatch(
        r'INFO:     127\.0\.0\.1:(\d+) - "POST /missing HTTP/1\.1" 404 Not Found', lines[1]
    ), lines[1]
    if local_port is not None:
        assert f"127.0.0.1:{local_port} -" in lines[0]


def test_http_10_request_line(uvicorn_logs: list[logging.LogRecord]) -> None:
    with serve(app) as running:
        response = exchange(running, b"GET /old HTTP/1.0\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200")
    [line] = access_lines(uvicorn_logs)
    assert line.endswith('"GET /old HTTP/1.0" 200 OK')


def test_access_log_off(uvicorn_logs: list[logging.LogRecord]) -> None:
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    access = logging.getLogger("uvicorn.access")
    with serve(app, access_log=False) as running:
        # configuring access_log=False dropped the handlers; listen again regardless
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        httpx.get(running.url + "/", timeout=5)
    access.removeHandler(handler)
    assert seen == []
    assert access_lines(uvicorn_logs) == []


def _assert_one_clean_line(records: list[logging.LogRecord]) -> None:
    lines = access_lines(records)
    assert len(lines) <= 1, lines
    for record in records:
        message = record.getMessage()
        assert not re.search(r"[\x00-\x1f\x7f]", message), repr(message)
    for line in lines:
        assert "forged" not in line or "INFO:     forged" not in line


@pytest.mark.parametrize(
    "target",
    [
        b"/a%0aINFO:%20forged",
        b"/a%0d%0aINFO:%20forged",
        b"/a%1b[31mred",
        b"/a%00nul",
        b"/q?x=%0aINFO:%20forged",
    ],
    ids=["lf", "crlf", "escape", "nul", "query-lf"],
)
def test_encoded_control_characters_cannot_forge_lines(
    uvicorn_logs: list[logging.LogRecord], http_backend: str, target: bytes
) -> None:
    request = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with serve(app, http=http_backend) as running:
        response = exchange(running, request)
    assert response.startswith(b"HTTP/1.1 200")
    _assert_one_clean_line(uvicorn_logs)
    assert len(access_lines(uvicorn_logs)) == 1


@pytest.mark.parametrize(
    "target",
    [b"/a\x1bb", b"/a\x7fb", b"/a\x01b", b"/q?x=\x1b[2J"],
    ids=["esc", "del", "soh", "query-esc"],
)
def test_raw_control_bytes_cannot_forge_lines(
    uvicorn_logs: list[logging.LogRecord], http_backend: str, target: bytes
) -> None:
    request = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with serve(app, http=http_backend) as running:
        response = exchange(running, request)
    # a parser may refuse the byte (400) or pass it on; either way the log stays one clean line
    assert response.startswith((b"HTTP/1.1 200", b"HTTP/1.1 400"))
    _assert_one_clean_line(uvicorn_logs)


def test_request_target_escapes() -> None:
    assert request_target("/plain/path", b"") == "/plain/path"
    assert request_target("/a b", b"x=1&y=2") == "/a%20b?x=1&y=2"
    assert "\n" not in request_target("/a\nb", b"q=\r\n")
    assert request_target("/a\nb", b"") == "/a%0Ab"
