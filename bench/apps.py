"""Apps the benchmark serves; identical for both servers.

Run as ``uvicorn bench.apps:<name>`` from the repository root (``bench/run`` does).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

HELLO = b"Hello, world!"
JSON_BODY = json.dumps({"message": "Hello, world!", "ok": True, "items": [1, 2, 3]}).encode()
CHUNK = b"x" * 65536
STREAM_CHUNKS = 16  # 16 x 64 KiB = 1 MiB


async def plaintext(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The seed's hello-world app."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": HELLO})


async def json_response(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(JSON_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": JSON_BODY})


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST echo: read the whole body, send it back."""
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """1 MiB streamed in 64 KiB chunks (chunked transfer coding)."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/octet-stream")],
        }
    )
    for _ in range(STREAM_CHUNKS - 1):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
    await send({"type": "http.response.body", "body": CHUNK})


def wsgi_hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


async def ws_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """WebSocket echo: accept, then send every text or bytes message back until disconnect.

    The load is ``bench/ws_load.py`` (``bench/run --only ws-echo``). A plain HTTP request
    gets a 426 rather than an app error, so a stray probe leaves no traceback in the log.
    """
    if scope["type"] == "http":
        await send(
            {
                "type": "http.response.start",
                "status": 426,
                "headers": [(b"content-length", b"0"), (b"upgrade", b"websocket")],
            }
        )
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["type"] != "websocket":
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return  # websocket.disconnect
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes")})
