"""gunicorn runs our worker classes: real gunicorn processes, real sockets."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import ROOT

pytest.importorskip("gunicorn")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UVICORN_", "GUNICORN"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    out = process.communicate(timeout=5)[0]
                    raise AssertionError(f"gunicorn did not serve:\n{out}") from None
                time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


@pytest.mark.parametrize("worker", ["UvicornWorker", "UvicornH11Worker"])
def test_serves_and_stops_gracefully(worker: str) -> None:
    with gunicorn("-k", f"uvicorn.workers.{worker}", "-w", "2", "examples.hello:app") as (
        process,
        url,
    ):
        responses = [httpx.get(url, timeout=5) for _ in range(5)]
        assert all(r.status_code == 200 and r.text == "Hello, world!" for r in responses)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    assert process.returncode == 0, out
    assert "Application startup complete" in out or "Booting worker" in out


def test_gunicorn_settings_reach_the_server() -> None:
    """limit_request_line and the access log setting are gunicorn's, applied by our worker."""
    with gunicorn(
        "-k",
        "uvicorn.workers.UvicornWorker",
        "--limit-request-line",
        "64",
        "--access-logfile",
        "-",
        "examples.hello:app",
    ) as (process, url):
        ok = httpx.get(url + "/short", timeout=5)
        too_long = httpx.get(url + "/" + "a" * 200, timeout=5)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    assert ok.status_code == 200
    assert too_long.status_code == 414
    assert re.search(r'"GET /short HTTP/1.1" 200', out), out


@pytest.mark.parametrize("worker", ["UvicornWorker", "UvicornH11Worker"])
def test_gunicorn_sighup_under_load_drops_nothing(worker: str) -> None:
    from tests.server.supervisors.test_multiprocess import Load

    with gunicorn(
        "-k",
        f"uvicorn.workers.{worker}",
        "-w",
        "2",
        "--graceful-timeout",
        "10",
        "tests.test_workers:pid_app",
    ) as (process, url):
        port = int(url.rsplit(":", 1)[1])
        with Load(port) as load:
            time.sleep(0.5)
            first = set(load.pids)
            process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 15
            while not (set(load.pids) - first) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    assert load.results["ok"] > 100
    assert load.failures == {}, (load.results, out[-2000:])
    assert set(load.pids) - first, "gunicorn's new workers never answered"


async def pid_app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})


def test_gunicorn_timeout_kills_a_worker_whose_loop_hangs() -> None:
    """The worker notifies gunicorn's arbiter from its event loop: a hung loop stops that."""
    with gunicorn(
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-w",
        "1",
        "--timeout",
        "2",
        "tests.test_workers:hang_app",
    ) as (process, url):
        before = httpx.get(url, timeout=5).text
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + "/hang", timeout=1)
        deadline = time.monotonic() + 20
        after = before
        while after == before and time.monotonic() < deadline:
            try:
                after = httpx.get(url, timeout=1).text
            except httpx.HTTPError:
                time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    assert after != before, out[-2000:]  # a new worker (another pid) answers
    assert "WORKER TIMEOUT" in out


async def hang_app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    if scope["path"] == "/hang":
        time.sleep(3600)  # blocks the event loop
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
