"""The pipeline is composed once from the enabled layers only; the concurrency limit admits."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

from tests.support.server import serve
from uvicorn.middleware.pipeline import build_pipeline, chain_scope_layers
from uvicorn.middleware.proxy_headers import ProxyHeaders
from uvicorn.middleware.root_path import RootPath

OFF: dict[str, Any] = {
    "proxy_headers": False,
    "forwarded_allow_ips": "127.0.0.1",
    "root_path": "",
    "limit_concurrency": None,
    "access_log": False,
}


def test_everything_off_leaves_nothing_in_the_pipeline() -> None:
    pipeline = build_pipeline(**OFF)
    assert pipeline.prepare_forwarded is None
    assert pipeline.prepare_scope is None
    assert pipeline.admission is None
    assert pipeline.observers == ()


def test_single_layer_is_used_directly() -> None:
    pipeline = build_pipeline(**{**OFF, "proxy_headers": True})
    # the proxy layer stands apart: the core calls it for heads with X-Forwarded-* only
    assert isinstance(pipeline.prepare_forwarded, ProxyHeaders)
    assert pipeline.prepare_scope is None
    pipeline = build_pipeline(**{**OFF, "root_path": "/r"})
    assert isinstance(pipeline.prepare_scope, RootPath)
    assert pipeline.prepare_forwarded is None


def test_access_log_and_admission_present_when_enabled() -> None:
    pipeline = build_pipeline(**{**OFF, "access_log": True, "limit_concurrency": 3})
    assert len(pipeline.observers) == 1
    assert pipeline.admission is not None


def test_proxy_headers_run_before_root_path() -> None:
    pipeline = build_pipeline(**{**OFF, "proxy_headers": True, "root_path": "/r"})
    assert pipeline.prepare_forwarded is not None
    assert pipeline.prepare_scope is not None
    scope: dict[str, Any] = {
        "type": "http",
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "path": "/x",
        "raw_path": b"/x",
        "root_path": "",
        "headers": [(b"x-forwarded-for", b"192.0.2.1")],
    }
    pipeline.prepare_forwarded(scope)  # in this order, as the connections call them
    pipeline.prepare_scope(scope)
    assert scope["client"] == ("192.0.2.1", 0)
    assert scope["path"] == "/r/x"


def test_chain_scope_layers() -> None:
    order: list[str] = []
    assert chain_scope_layers([]) is None
    chained = chain_scope_layers([lambda s: order.append("a"), lambda s: order.append("b")])
    assert chained is not None
    chained({})
    assert order == ["a", "b"]


def test_limit_concurrency_answers_503_beyond_the_limit(http_backend: str) -> None:
    release = threading.Event()
    entered = threading.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/hold":
            entered.set()
            while not release.is_set():
                await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    results: list[httpx.Response] = []
    with serve(slow, limit_concurrency=1, http=http_backend) as running:
        holder = threading.Thread(
            target=lambda: results.append(httpx.get(running.url + "/hold", timeout=10)),
            daemon=True,
        )
        holder.start()
        assert entered.wait(5)
        refused = httpx.get(running.url + "/other", timeout=5)
        release.set()
        holder.join(5)
        after = httpx.get(running.url + "/other", timeout=5)
    assert refused.status_code == 503
    assert results and results[0].status_code == 200
    assert after.status_code == 200
