from __future__ import annotations

import httpx

from tests.support.server import serve


async def hello(scope, receive, send):  # type: ignore[no-untyped-def]
    assert scope["type"] == "http"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!"})


def test_hello_over_a_real_socket(http_backend: str) -> None:
    with serve(hello, http=http_backend) as running:
        response = httpx.get(running.url + "/")
    assert response.status_code == 200
    assert response.text == "Hello, world!"
    assert response.headers["server"] == "uvicorn"
    assert response.headers["content-length"] == "13"
    assert "date" in response.headers
