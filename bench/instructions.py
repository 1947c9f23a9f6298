"""Instructions per request, counted by valgrind: the benchmark that does not move with
the host.

On this VM the same server, configuration and load give 19k to 40k requests/s from one
minute to the next, and CPU time per request moves with the host's clock too. The number
of instructions a server's process executes per request does not: for each cell this
runs the server under ``valgrind --tool=cachegrind --cache-sim=no`` (``PYTHONHASHSEED=0``)
twice, once serving ``WARMUP`` requests and once ``WARMUP + count``, each time over real
sockets from a client here that keeps every connection's request in lockstep (all
connections send, then all responses are read: the server sees as many requests per
loop iteration as it does under wrk), and takes the difference over ``count``. Start-up
and shutdown cancel out.

What it counts is user space only: the kernel's share (36% of the server's time under
wrk, see docs/benchmarks.md) is not in it. uvicorn 0.54 makes two writes per response
where ours makes one, so leaving the kernel out understates our lead, if anything.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from harness import Workload

WARMUP = 1000  # requests before the measured ones, in both runs
START_TIMEOUT = 180.0  # a server starting under valgrind takes ~50x its usual time

POST_BODY = b"x" * 65536


def _request(workload: Workload, port: int) -> bytes:
    host = f"Host: 127.0.0.1:{port}\r\n"
    if workload.lua:  # the POST echo workload: wrk's script posts 64 KiB
        return (
            f"POST / HTTP/1.1\r\n{host}Content-Type: application/octet-stream\r\n"
            f"Content-Length: {len(POST_BODY)}\r\n\r\n"
        ).encode() + POST_BODY
    return f"GET / HTTP/1.1\r\n{host}\r\n".encode()


def _read_response(reader: BinaryIO) -> None:
    """One whole response (Content-Length or chunked); anything but 200 is an error."""
    status = reader.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected response: {status!r}")
    length = -1
    chunked = False
    while True:
        line = reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int(reader.readline().split(b";")[0], 16)
            reader.read(size + 2)
            if size == 0:
                break
    elif length >= 0:
        if len(reader.read(length)) != length:
            raise RuntimeError("response cut short")
    else:
        raise RuntimeError("response with neither Content-Length nor chunked")


def drive(port: int, workload: Workload, count: int) -> None:
    """``count`` requests over ``workload.connections`` keep-alive connections, in lockstep."""
    request = _request(workload, port)
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(workload.connections)]
    readers = [sock.makefile("rb") for sock in sockets]
    try:
        done = 0
        while done < count:
            batch = min(len(sockets), count - done)
            for sock in sockets[:batch]:
                sock.sendall(request)
            for reader in readers[:batch]:
                _read_response(reader)
            done += batch
    finally:
        for reader in readers:
            reader.close()
        for sock in sockets:
            sock.close()


def wait_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Until something listens on ``port``; an error if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port}")


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """A graceful stop (SIGINT, as Ctrl-C), killed if it takes over ``timeout``."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def count_run(
    script: Path, workload: Workload, args: list[str], port: int, requests: int, log: Path
) -> int:
    """The instructions one server process executed, start to exit, serving ``requests``.

    ``script`` is a virtualenv's ``uvicorn`` (valgrind follows its ``#!`` line); not
    ``python -m uvicorn``, which would import the ``uvicorn`` package of the working
    directory, this repository's, whichever interpreter runs it."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "cachegrind.out"
        command = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            f"--cachegrind-out-file={out}",
            f"--log-file={Path(scratch) / 'valgrind.log'}",
            str(script),
            workload.app,
            "--port",
            str(port),
            *args,
            *workload.extra,
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                command, cwd=Path(__file__).resolve().parents[1], stdout=sink, stderr=sink, env=env
            )
        try:
            wait_port(port, START_TIMEOUT, process)
            drive(port, workload, requests)
        finally:
            stop(process, 120.0)  # valgrind writes its count as the server exits
        match = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M) if out.exists() else None
        if match is None:
            raise RuntimeError("valgrind wrote no instruction count (see the server log)")
        return int(match.group(1))


def per_request(
    script: Path, workload: Workload, args: list[str], port: int, count: int, log: Path
) -> float:
    short = count_run(script, workload, args, port, WARMUP, log)
    long = count_run(script, workload, args, port, WARMUP + count, log)
    return (long - short) / count


def check_valgrind() -> None:
    try:
        subprocess.run(["valgrind", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        sys.exit("--instructions needs valgrind (Debian package 'valgrind'); bench/run installs it")
