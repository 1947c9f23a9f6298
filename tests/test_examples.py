"""The example apps behave as the seed's README says, served by the real server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.server import serve

LOOPS_MADE: list[str] = []


def recording_loop() -> asyncio.AbstractEventLoop:
    """A custom ``--loop module:callable`` factory that notes it was used."""
    LOOPS_MADE.append("made")
    return asyncio.new_event_loop()


def test_hello(http_backend: str) -> None:
    with serve("examples.hello:app", http=http_backend) as running:
        response = httpx.get(running.url)
    assert response.status_code == 200
    assert response.text == "Hello, world!"
    assert response.headers["content-type"].startswith("text/plain")


def test_echo_method_and_path(http_backend: str) -> None:
    with serve("examples.echo:app", http=http_backend) as running:
        response = httpx.put(running.url + "/some/where")
    assert response.text == "Received PUT request to /some/where"


def test_read_body(http_backend: str) -> None:
    payload = bytes(range(256)) * 1000
    with serve("examples.body:app", http=http_backend) as running:
        response = httpx.post(running.url, content=payload)
        chunked = httpx.post(running.url, content=iter([payload[:1000], payload[1000:]]))
    assert response.content == payload
    assert response.headers["content-length"] == str(len(payload))
    assert chunked.content == payload


def test_streaming_arrives_in_pieces(http_backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXAMPLE_STREAM_DELAY", "0.2")
    with serve("examples.streaming:app", http=http_backend) as running:
        with httpx.stream("GET", running.url) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            pieces = [piece for piece in response.iter_raw() if piece]
    assert b"".join(pieces) == b"Hello, world!"
    assert len(pieces) == 3


def test_legacy_wsgi_app(http_backend: str) -> None:
    with serve("examples.legacy:wsgi_app", http=http_backend, interface="wsgi") as running:
        response = httpx.get(running.url)
    assert response.status_code == 200
    assert "Hello from WSGI!" in response.text


def test_custom_loop_factory_is_used() -> None:
    LOOPS_MADE.clear()
    with serve("examples.hello:app", loop="tests.test_examples:recording_loop") as running:
        assert httpx.get(running.url).text == "Hello, world!"
    assert LOOPS_MADE == ["made"]
