"""Faults a server meets in production (issue 10, item 5), over real sockets against the CLI:
SIGTERM while requests are in flight, and apps that fail or misbehave on every request
without the server's memory growing."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

APP = textwrap.dedent(
    """
    import asyncio

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/slow":
            await asyncio.sleep(1.0)
        elif path == "/raise":
            raise RuntimeError("this app fails on every request")
        elif path == "/read":
            while (await receive()).get("more_body"):
                pass
        # /unread answers without reading the body it was sent
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(tmp_path: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """The CLI with its output in a file (a test that reads no pipe cannot block it)."""
    (tmp_path / "faultapp.py").write_text(APP)
    port = _free_port()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVICORN_")}
    env.pop("WEB_CONCURRENCY", None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "faultapp:app", "--port", str(port), *extra],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _get(port: int, path: str, results: Counter[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        results[f"{response.status} {body.decode()}"] += 1
    except ConnectionRefusedError:
        results["refused"] += 1
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        results["reset"] += 1
    except TimeoutError:
        results["timeout"] += 1
    finally:
        connection.close()


@pytest.mark.parametrize("workers", [None, "2"])
def test_sigterm_lets_every_in_flight_request_finish(tmp_path: Path, workers: str | None) -> None:
    extra = ("--workers", workers) if workers else ()
    with server(tmp_path, "--no-access-log", *extra) as (process, port, log):
        if workers:  # both workers up, so requests reach either
            deadline = time.monotonic() + 20
            while log.read_text().count("Application startup complete") < 2:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        in_flight: Counter[str] = Counter()
        threads = [
            threading.Thread(target=_get, args=(port, "/slow", in_flight)) for _ in range(12)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.4)  # every request is in the app's one-second sleep
        process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        late: Counter[str] = Counter()
        _get(port, "/", late)  # after SIGTERM: answered or refused, never dropped
        for thread in threads:
            thread.join(15)
        assert process.wait(15) == 0, log.read_text()
    assert in_flight == {"200 done": 12}, log.read_text()
    assert set(late) <= {"200 done", "refused"}, late


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _hammer(port: int, rounds: int, results: Counter[str]) -> None:
    """Per round, each on its own connection: a request whose app raises (500), a
    64 KiB POST whose app answers without reading it, and one that reads it."""
    body = b"x" * 65536
    for _ in range(rounds):
        for method, path, payload in (
            ("GET", "/raise", None),
            ("POST", "/unread", body),
            ("POST", "/read", body),
        ):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request(method, path, body=payload)
                response = connection.getresponse()
                response.read()
                results[f"{path[1:]} {response.status}"] += 1
            finally:
                connection.close()


@pytest.mark.parametrize("http_backend", ["h11", "httptools"])
def test_failing_and_non_reading_apps_do_not_grow_memory(tmp_path: Path, http_backend: str) -> None:
    with server(tmp_path, "--http", http_backend, "--no-access-log") as (process, port, log):
        results: Counter[str] = Counter()
        _hammer(port, 400, results)  # warm-up: caches, arenas, the traceback machinery
        before = _rss_kib(process.pid)
        _hammer(port, 1600, results)
        after = _rss_kib(process.pid)
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0
    print(f"\nRSS {before} -> {after} KiB over 4,800 requests ({http_backend})")  # for the note
    assert results == {"raise 500": 2000, "unread 200": 2000, "read 200": 2000}
    assert log.read_text().count("RuntimeError: this app fails on every request") == 2000
    # a leak of 200 bytes per request would add more than 1 MiB here
    assert after - before < 1024, f"RSS grew from {before} to {after} KiB over 4,800 requests"
