"""The ASGI app that ``scripts/soak`` serves: one endpoint per behaviour the load exercises.

Every answer is a pure function of the request (path, query, body), so the load can check
each byte it gets back without any shared state between the two processes. The server
loads it with ``--app-dir scripts soak_app:app``.

* ``/hello?Q``: ``hello Q``; the query makes pipelined answers tell apart their requests.
* ``/json?Q``: a small JSON object naming the method, path and query.
* ``/echo``: the request body, whatever its framing (content-length or chunked).
* ``/raise``: raises :class:`SoakError` before answering; the server must answer 500,
  log it and carry on. The load counts these log records as expected, by the class name.
* ``/ignore-body``: answers 200 without reading the body, so the server has to deal with
  the unread rest (discard it or close the connection).
* ``/stream?chunks=N&size=M``: N body messages of M bytes (capped), a streaming response.
* ``/sleep?ms=N``: answers after N ms (capped), so some requests are in flight for a while.
* anything else (``/``, the corpus paths): reads the whole body, then ``ok``, like the
  witness app of the hostile-input tests, so a bad body is found before an answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

__all__ = ["MAX_SLEEP_MS", "MAX_STREAM_BYTES", "SoakError", "app", "stream_chunk"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_STREAM_BYTES = 8 * 1024 * 1024  # enough to still be writing when a client walks away
MAX_SLEEP_MS = 1000


class SoakError(Exception):
    """The failure ``/raise`` provokes; its name marks the log records the soak expects."""


def stream_chunk(index: int, size: int) -> bytes:
    """Chunk ``index`` of a ``/stream`` answer: deterministic, so the client can check it."""
    return (b"%d:" % index + b"s" * size)[:size]


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


async def _answer(send: Send, body: bytes, content_type: bytes = b"text/plain") -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _int_param(query: dict[str, list[str]], name: str, default: int, cap: int) -> int:
    try:
        value = int(query.get(name, [str(default)])[0])
    except ValueError:
        value = default
    return max(0, min(value, cap))


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    raw_query: bytes = scope["query_string"]
    if path == "/hello":
        await _answer(send, b"hello " + raw_query)
    elif path == "/json":
        document = {"method": scope["method"], "path": path, "query": raw_query.decode("latin-1")}
        await _answer(send, json.dumps(document).encode(), b"application/json")
    elif path == "/echo":
        body = await _read_body(receive)
        if body is not None:
            await _answer(send, body, b"application/octet-stream")
    elif path == "/raise":
        raise SoakError("expected failure of /raise")
    elif path == "/ignore-body":
        await _answer(send, b"ignored")
    elif path == "/stream":
        query = parse_qs(raw_query.decode("latin-1"))
        size = _int_param(query, "size", 1024, 65536)
        chunks = _int_param(query, "chunks", 8, MAX_STREAM_BYTES // max(size, 1))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for index in range(chunks):
            chunk = stream_chunk(index, size)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/sleep":
        query = parse_qs(raw_query.decode("latin-1"))
        await asyncio.sleep(_int_param(query, "ms", 50, MAX_SLEEP_MS) / 1000)
        await _answer(send, b"slept")
    else:
        body = await _read_body(receive)
        if body is not None:
            await _answer(send, b"ok")
