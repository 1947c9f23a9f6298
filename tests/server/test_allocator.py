"""The serving process keeps its heap: request bodies do not fault in fresh pages.

Measured on a real server process: minor page faults (``/proc/PID/stat``) while
it echoes 64 KiB bodies over several keep-alive connections. With glibc's default
trim threshold the heap is returned and regrown around the bodies (9 to 11 faults
per request in this test, 16 under wrk); with the thresholds set at start-up, none.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.apps import read_body, respond
from tests.support.server import spawn_cli
from uvicorn.server.allocator import tune_allocator

ROOT = Path(__file__).resolve().parents[2]
BODY = b"x" * 65536
CONNECTIONS = 16

glibc_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="glibc on Linux only",
)


async def echo(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await respond(send, await read_body(receive))


def _minor_faults(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[7])  # minflt, the 10th field of stat(5)


def _round(connections: list[socket.socket]) -> None:
    """One 64 KiB POST on every connection, then every echo read back whole."""
    request = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(BODY)) + BODY
    for sock in connections:
        sock.sendall(request)
    for sock in connections:
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        while len(body) < len(BODY):
            chunk = sock.recv(262144)
            assert chunk, "connection closed mid-response"
            body += chunk
        assert body == BODY


def _faults_per_request(env: dict[str, str]) -> float:
    with spawn_cli(
        "tests.server.test_allocator:echo", "--port", "0", "--lifespan", "off", cwd=ROOT, env=env
    ) as server:
        assert server.port is not None
        connections = [
            socket.create_connection(("127.0.0.1", server.port), timeout=10)
            for _ in range(CONNECTIONS)
        ]
        try:
            for _ in range(10):  # the heap grows to what the load needs
                _round(connections)
            before = _minor_faults(server.process.pid)
            rounds = 20
            for _ in range(rounds):
                _round(connections)
            after = _minor_faults(server.process.pid)
        finally:
            for sock in connections:
                sock.close()
    return (after - before) / (rounds * CONNECTIONS)


@glibc_linux
def test_bodies_reuse_the_heap() -> None:
    assert _faults_per_request({}) < 2


@glibc_linux
def test_environment_malloc_settings_win() -> None:
    """MALLOC_TRIM_THRESHOLD_ (here glibc's default) is the user's choice: kept, and
    with it the page faults the tuning saves (which shows the test above can fail)."""
    assert _faults_per_request({"MALLOC_TRIM_THRESHOLD_": "131072"}) > 4


def test_tuning_defers_to_the_environment() -> None:
    assert not tune_allocator({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert not tune_allocator({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"})


@glibc_linux
def test_tuning_applies_on_glibc() -> None:
    assert tune_allocator({"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=512"})
