"""WSGI apps through the a2wsgi adapter, over a real socket."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from tests.support.server import serve


def environ_echo(environ: Any, start_response: Any) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
    data = {
        key: environ.get(key)
        for key in (
            "REQUEST_METHOD",
            "SCRIPT_NAME",
            "PATH_INFO",
            "QUERY_STRING",
            "CONTENT_TYPE",
            "CONTENT_LENGTH",
            "SERVER_PROTOCOL",
            "REMOTE_ADDR",
            "HTTP_X_CUSTOM",
            "wsgi.url_scheme",
        )
    }
    data["body"] = body.decode("latin-1")
    out = json.dumps(data).encode()
    start_response(
        "201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))]
    )
    return [out]


def test_environ_basics(http_backend: str) -> None:
    with serve(environ_echo, interface="wsgi", http=http_backend) as running:
        response = httpx.get(
            running.url + "/a%20b/c?x=1&y=%20z", headers={"X-Custom": "yes"}, timeout=5
        )
    assert response.status_code == 201
    data = response.json()
    assert data["REQUEST_METHOD"] == "GET"
    assert data["PATH_INFO"] == "/a b/c"
    assert data["QUERY_STRING"] == "x=1&y=%20z"
    assert data["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert data["REMOTE_ADDR"] == "127.0.0.1"
    assert data["HTTP_X_CUSTOM"] == "yes"
    assert data["wsgi.url_scheme"] == "http"
    assert data["SCRIPT_NAME"] == ""


def test_post_body_is_readable(http_backend: str) -> None:
    payload = b"field=value&" + b"x" * 100_000
    with serve(environ_echo, interface="wsgi", http=http_backend) as running:
        response = httpx.post(
            running.url + "/submit",
            content=payload,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
    data = response.json()
    assert data["REQUEST_METHOD"] == "POST"
    assert data["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert data["CONTENT_LENGTH"] == str(len(payload))
    assert data["body"] == payload.decode()


def test_chunked_post_body_is_readable() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"one,"
        yield b"two,"
        yield b"three"

    with serve(environ_echo, interface="wsgi") as running:
        response = httpx.post(running.url + "/chunked", content=chunks(), timeout=5)
    assert response.json()["body"] == "one,two,three"


def test_url_scheme_follows_trusted_proxy_and_root_path() -> None:
    with serve(environ_echo, interface="wsgi", root_path="/mount") as running:
        response = httpx.get(
            running.url + "/inner", headers={"X-Forwarded-Proto": "https"}, timeout=5
        )
    data = response.json()
    assert data["wsgi.url_scheme"] == "https"
    assert data["SCRIPT_NAME"] == "/mount"
    assert data["PATH_INFO"] == "/inner"


def test_generator_body_is_streamed() -> None:
    """The first chunk reaches the client before the generator produces the next one."""
    release = threading.Event()

    def streaming(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first;"
        yield b"released;" if release.wait(5) else b"timed-out;"
        for index in range(3):
            yield f"chunk{index};".encode()

    with serve(streaming, interface="wsgi") as running, httpx.Client(timeout=10) as client:
        began = time.monotonic()
        with client.stream("GET", running.url + "/stream") as response:
            assert "content-length" not in response.headers
            assert response.headers["transfer-encoding"] == "chunked"
            parts = response.iter_bytes()
            received = next(parts)
            assert received.startswith(b"first;")
            release.set()
            received += b"".join(parts)
    assert received == b"first;released;chunk0;chunk1;chunk2;"
    assert time.monotonic() - began < 4


def test_wsgi_exception_gives_500() -> None:
    def broken(environ: Any, start_response: Any) -> list[bytes]:
        raise RuntimeError("wsgi app failed")

    with serve(broken, interface="wsgi") as running:
        first = httpx.get(running.url + "/", timeout=5)
        second = httpx.get(running.url + "/", timeout=5)
    assert first.status_code == 500
    assert second.status_code == 500  # the server survives


def test_wsgi_with_lifespan_auto_still_serves() -> None:
    with serve(environ_echo, lifespan="auto") as running:
        response = httpx.get(running.url + "/", timeout=5)
    assert response.status_code == 201
