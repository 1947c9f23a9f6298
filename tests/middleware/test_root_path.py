"""``--root-path``: ``root_path`` is set and prefixed to ``path`` and ``raw_path``."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.server import serve
from uvicorn.middleware.root_path import RootPath


async def paths(scope: Any, receive: Any, send: Any) -> None:
    body = json.dumps(
        {
            "root_path": scope["root_path"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query_string": scope["query_string"].decode("latin-1"),
        }
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_root_path_prefixes_path_and_raw_path(http_backend: str) -> None:
    with serve(paths, root_path="/api", http=http_backend) as running:
        data = httpx.get(running.url + "/items/a%20b?x=1", timeout=5).json()
    assert data == {
        "root_path": "/api",
        "path": "/api/items/a b",
        "raw_path": "/api/items/a%20b",
        "query_string": "x=1",
    }


def test_without_root_path() -> None:
    with serve(paths) as running:
        data = httpx.get(running.url + "/items", timeout=5).json()
    assert data["root_path"] == ""
    assert data["path"] == "/items"
    assert data["raw_path"] == "/items"


def test_root_path_layer() -> None:
    scope: dict[str, Any] = {"path": "/x", "raw_path": b"/x", "root_path": ""}
    RootPath("/m\u00fcnchen")(scope)
    assert scope == {
        "path": "/m\u00fcnchen/x",
        "raw_path": "/m\u00fcnchen/x".encode(),
        "root_path": "/m\u00fcnchen",
    }
