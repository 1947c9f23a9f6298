"""Soak a real server process with good and hostile traffic; fail on a wrong answer or a leak.

Unit tests prove each defence once, in a fresh server. What they cannot show is that a
server stays healthy after hours of the internet's mix: a socket not closed on one rare
path, a buffer kept per timed-out connection, an exception that escapes once in ten
thousand requests. So this script starts the ``uvicorn`` CLI (``scripts/soak_app.py``, a
free port on 127.0.0.1), drives a bounded mix of traffic at it for ``--minutes``, checks
every single answer, and compares the server's resident memory (VmRSS) and open file
descriptors after the run with the same figures after a warm-up.

Both figures are taken with the server idle (the load paused and every client connection
closed for ``--settle`` seconds): figures taken under load move with the number of
connections in flight and would hide a leak of a few sockets. The start figure comes
after the warm-up, not at boot, because a fresh server legitimately grows while it
imports lazily, fills caches and its allocator reaches its working size.

The exit status is 0 only if every answer was the expected one, no error other than the
app's deliberate ``/raise`` failures was logged, no process died, the server shut down
cleanly, and the idle fds and RSS did not grow past ``--fd-slack`` and
``--max-rss-growth-mib``. See the "Soak" section of docs/security.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

from soak_app import stream_chunk  # noqa: E402  (needs the sys.path entry above)

HOST_LINE = b"Host: soak.example\r\n"
READ_TIMEOUT = 10.0  # an answer to a good request, even on a loaded 2-core machine
CLOSE_TIMEOUT = 5.0  # the close that must follow a refusal or a Connection: close
GRACE = 5.0  # how much later than its configured timeout a slow client may be cut
EARLY = 0.1  # how much earlier than its configured timeout a cut is tolerated (clocks)
TRICKLE_INTERVAL = 0.5  # slow clients send one byte this often
MAX_EXAMPLES = 5  # unexpected answers printed per kind, with what it takes to reproduce
AFTER = b"GET /after HTTP/1.1\r\n" + HOST_LINE + b"\r\n"  # must never be answered


# the answers ---------------------------------------------------------------------------------


class Unexpected(Exception):
    """An answer (or its absence) that the server must not give; ``detail`` reproduces it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; the last value of a repeated field
    body: bytes

    @property
    def closes(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()


class Conn:
    """One client connection over a raw non-blocking socket, with its own read buffer.

    Raw ``sock_recv`` rather than asyncio streams because a stream reader that sees a
    reset drops the bytes it already buffered: the answer a server sent just before
    resetting would be lost, and a correct refusal would look like a missing one.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.eof = False
        self.reset = False
        self.read_delay = 0.0  # a slow reader waits this long before each read

    @classmethod
    async def open(cls, port: int, receive_buffer: int = 0) -> Conn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), READ_TIMEOUT)
        except BaseException as exc:
            sock.close()
            if isinstance(exc, (OSError, asyncio.TimeoutError)):
                raise Unexpected(f"connect failed: {type(exc).__name__}") from exc
            raise
        return cls(sock)

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        """Close with a reset (SO_LINGER 0), as a crashed or impatient client does."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    async def send(self, data: bytes) -> bool:
        """Send all of ``data``; False if the server has closed (it may refuse early)."""
        try:
            await asyncio.wait_for(self.loop.sock_sendall(self.sock, data), READ_TIMEOUT)
        except (BrokenPipeError, ConnectionResetError):
            return False
        except asyncio.TimeoutError:
            raise Unexpected("the server stopped reading (send timed out)") from None
        return True

    async def fill(self, timeout: float) -> bool | None:
        """Read once: True with new bytes, False at end of stream, None after ``timeout``."""
        if self.eof:
            return False
        try:
            data = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), max(timeout, 0))
        except asyncio.TimeoutError:
            return None
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        return self._received(data)

    def _received(self, data: bytes) -> bool:
        """Keep what a recv returned; an empty one is the peer's EOF."""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def poll(self) -> bool | None:
        """Read what has already arrived, without waiting; as :meth:`fill` (None: nothing)."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return None
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        return self._received(data)

    async def _more(self, deadline: float, what: str) -> None:
        if self.read_delay:
            await asyncio.sleep(self.read_delay)
        got = await self.fill(deadline - self.loop.time())
        if got is None:
            raise Unexpected(f"timeout waiting for {what}")
        if not got:
            ended = "reset" if self.reset else "closed"
            where = "in the middle of" if self.buffer else "before"
            raise Unexpected(f"{ended} {where} {what}")

    async def _take(self, size: int, deadline: float, what: str) -> bytes:
        while len(self.buffer) < size:
            await self._more(deadline, what)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def _line(self, deadline: float, what: str) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            await self._more(deadline, what)
        return await self._take(end + 2, deadline, what)

    async def read_response(self, timeout: float = READ_TIMEOUT, head: bool = False) -> Response:
        """One complete response, framed as its head says (no body for HEAD)."""
        deadline = self.loop.time() + timeout
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            await self._more(deadline, "the answer")
        raw_head = (await self._take(end + 4, deadline, "the answer")).decode("latin-1")
        status_line, *lines = raw_head[:-4].split("\r\n")
        match = re.fullmatch(r"HTTP/1\.1 (\d{3}) [^\r\n]*", status_line)
        if match is None:
            raise Unexpected(f"bad status line {status_line[:60]!r}")
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise Unexpected(f"bad header line {line[:60]!r}")
            headers[name.lower()] = value.strip(" \t")
        status = int(match.group(1))
        response = Response(status, headers, b"")
        if head or status < 200 or status in (204, 304):
            return response
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size_line = await self._line(deadline, "a chunk size")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    break
                data = await self._take(size + 2, deadline, "a chunk")
                if not data.endswith(b"\r\n"):
                    raise Unexpected("chunk data not followed by CRLF")
                parts.append(data[:-2])
            while await self._line(deadline, "the trailers") != b"\r\n":
                pass
            response.body = b"".join(parts)
        elif "content-length" in headers:
            response.body = await self._take(int(headers["content-length"]), deadline, "the body")
        else:
            while await self.fill(deadline - self.loop.time()):
                pass
            response.body, self.buffer = bytes(self.buffer), bytearray()
        return response

    async def expect_close(self, timeout: float = CLOSE_TIMEOUT, after: str = "") -> None:
        """The server closes (end of stream or a reset) within ``timeout``, sending nothing."""
        deadline = self.loop.time() + timeout
        while True:
            if self.buffer:
                raise Unexpected(f"data after {after or 'the answer'}: {bytes(self.buffer[:60])!r}")
            got = await self.fill(deadline - self.loop.time())
            if got is None:
                raise Unexpected(f"left open after {after or 'the answer'}")
            if got is False:
                return


def check(response: Response, status: int, body: bytes | None, what: str) -> None:
    if response.status != status:
        raise Unexpected(f"status {response.status} (expected {status})", what)
    if body is not None and response.body != body:
        got = response.body[:40]
        raise Unexpected(f"wrong body ({len(response.body)} bytes: {got!r}...)", what)


# the requests --------------------------------------------------------------------------------


def request(
    method: str, target: str, body: bytes = b"", chunks: list[bytes] | None = None, extra: str = ""
) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\n".encode() + HOST_LINE + extra.encode()
    if chunks is not None:
        framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks if chunk)
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n"
    if body or method in ("POST", "PUT"):
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


def split(data: bytes, rng: random.Random, most: int = 12) -> list[bytes]:
    """``data`` cut at up to ``most`` random points (every piece non-empty)."""
    if len(data) < 2:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(most, len(data) - 1, rng.randint(1, most))))
    return [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@dataclass
class Exchange:
    """A request and what must come back for it."""

    name: str
    data: bytes
    status: int
    body: bytes | None
    head: bool = False
    may_close: bool = False  # the server may close after it (an unread body)
    closes: bool = False  # the server must close after it
    continue_body: bytes | None = None  # sent after the server's 100 Continue


# good requests by weight: /raise is rare because each one logs a traceback (a real app
# fails rarely; thousands of tracebacks a second would soak the log, not the server)
GOOD = {"hello": 10, "json": 8, "echo-cl": 8, "echo-chunked": 8, "stream": 5, "sleep": 4}
GOOD |= {"head": 3, "head-stream": 2, "big-head": 2}
ONLY_SEQUENTIAL = {"raise": 1, "ignore-body": 3, "echo-at-limit": 1, "echo-expect-100": 3}


def good_exchange(rng: random.Random, body_limit: int, pipelined: bool = False) -> Exchange:
    """A random valid request to one of the soak app's endpoints, with its answer."""
    tag = rng.randrange(1 << 30)
    weights = GOOD if pipelined else GOOD | ONLY_SEQUENTIAL
    name = rng.choices(list(weights), list(weights.values()))[0]
    if name == "hello":
        return Exchange(name, request("GET", f"/hello?i={tag}"), 200, b"hello i=%d" % tag)
    if name == "head":
        return Exchange(name, request("HEAD", f"/hello?i={tag}"), 200, b"", head=True)
    if name == "head-stream":  # the app streams a body; the server must not send it
        data = request("HEAD", f"/stream?chunks={rng.randint(1, 8)}&size=100")
        return Exchange(name, data, 200, b"", head=True)
    if name == "big-head":
        # at the default limits: one field of 8190 bytes (name + value), and 99 fields with
        # Host, so 100 when a Connection: close is added to the last request
        fields = "".join(f"X-F{index}: v\r\n" for index in range(97))
        big = "X-Big: " + "v" * (8190 - len("X-Big"))
        data = request("GET", f"/hello?i={tag}", extra=fields + big + "\r\n")
        return Exchange(name, data, 200, b"hello i=%d" % tag)
    if name == "echo-expect-100":
        body = rng.randbytes(rng.choice([1, 5000]))
        head = b"POST /echo HTTP/1.1\r\n" + HOST_LINE + b"Expect: 100-continue\r\n"
        data = head + b"Content-Length: %d\r\n\r\n" % len(body)
        return Exchange(name, data, 200, body, continue_body=body)
    if name == "json":
        body = json.dumps({"method": "GET", "path": "/json", "query": f"k={tag}"}).encode()
        return Exchange(name, request("GET", f"/json?k={tag}"), 200, body)
    if name in ("echo-cl", "echo-chunked", "echo-at-limit"):
        size = body_limit if name == "echo-at-limit" else rng.choice([0, 1, 100, 5000, 32768])
        body = rng.randbytes(size)
        if name == "echo-chunked":
            chunks = split(body, rng, 8) if body else []
            return Exchange(name, request("POST", "/echo", chunks=chunks), 200, body)
        return Exchange(name, request("POST", "/echo", body), 200, body)
    if name == "stream":
        count, size = rng.randint(1, 16), rng.choice([1, 100, 4096])
        body = b"".join(stream_chunk(index, size) for index in range(count))
        target = f"/stream?chunks={count}&size={size}"
        return Exchange(name, request("GET", target), 200, body)
    if name == "sleep":
        return Exchange(name, request("GET", f"/sleep?ms={rng.randint(1, 200)}"), 200, b"slept")
    if name == "raise":
        return Exchange(name, request("GET", "/raise"), 500, None, closes=True)
    body = rng.randbytes(rng.choice([0, 10, 20000]))
    return Exchange(name, request("POST", "/ignore-body", body), 200, b"ignored", may_close=True)


def limit_cases(body_limit: int) -> dict[str, tuple[bytes, int]]:
    """Requests past the default size limits and ``--limit-request-body``, with the status."""
    fields = b"".join(b"X-F%d: v\r\n" % index for index in range(101))
    big = b"b" * (body_limit // 2 + 1)
    chunked = b"POST / HTTP/1.1\r\n" + HOST_LINE + b"Transfer-Encoding: chunked\r\n\r\n"
    return {
        "request-line-too-long": (
            b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST_LINE + b"\r\n",
            414,
        ),
        "too-many-header-fields": (b"GET / HTTP/1.1\r\n" + HOST_LINE + fields + b"\r\n", 431),
        "header-field-too-large": (
            b"GET / HTTP/1.1\r\n" + HOST_LINE + b"X-Big: " + b"v" * 9000 + b"\r\n\r\n",
            431,
        ),
        "declared-body-too-large": (
            b"POST / HTTP/1.1\r\n" + HOST_LINE + b"Content-Length: %d\r\n\r\n" % (body_limit + 1),
            413,
        ),
        "chunked-body-too-large": (
            chunked + b"".join(b"%x\r\n%s\r\n" % (len(big), big) for _ in range(2)) + b"0\r\n\r\n",
            413,
        ),
    }


# the load ------------------------------------------------------------------------------------


@dataclass
class Tally:
    ok: int = 0
    unexpected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


@dataclass
class Load:
    """What the scenarios share: where the server is, its limits, and the counts."""

    port: int
    header_timeout: float
    body_timeout: float
    keep_alive_timeout: float
    body_limit: int
    hostile: dict[str, tuple[bytes, int]]
    accepted: dict[str, tuple[bytes, list[str]]]
    tallies: dict[str, Tally] = field(default_factory=dict)
    printed: int = 0

    def ok(self, kind: str, count: int = 1) -> None:
        self.tallies.setdefault(kind, Tally()).ok += count

    def unexpected(self, kind: str, reason: str, detail: str) -> None:
        tally = self.tallies.setdefault(kind, Tally())
        tally.unexpected += 1
        tally.reasons[reason] += 1
        example = f"{reason}; {detail}" if detail else reason
        if len(tally.examples) < MAX_EXAMPLES:
            tally.examples.append(example)
        if self.printed < 20:  # the first ones as they happen, the rest in the summary
            self.printed += 1
            print(f"UNEXPECTED {kind}: {example}", flush=True)

    @property
    def total(self) -> int:
        return sum(tally.ok + tally.unexpected for tally in self.tallies.values())

    @property
    def total_unexpected(self) -> int:
        return sum(tally.unexpected for tally in self.tallies.values())


# a scenario returns how many checks passed (several for a kept-alive connection) and
# raises Unexpected for the first that did not
Scenario = Callable[[Load, random.Random], Awaitable[int]]


async def keep_alive(load: Load, rng: random.Random) -> int:
    """Several requests on one connection; the last one closes it, or the client does."""
    count = rng.randint(1, 12)
    conn = await Conn.open(load.port)
    try:
        for index in range(count):
            exchange = good_exchange(rng, load.body_limit)
            data = exchange.data
            last_closes = index == count - 1 and rng.random() < 0.5
            if last_closes:
                data = data.replace(HOST_LINE, HOST_LINE + b"Connection: close\r\n", 1)
            what = f"request {index + 1} {exchange.name}: {data[:80]!r}"
            if not await conn.send(data):
                raise Unexpected("closed before the request was sent", what)
            try:
                if exchange.continue_body is not None:
                    check(await conn.read_response(), 100, None, what)
                    await conn.send(exchange.continue_body)
                response = await conn.read_response(head=exchange.head)
            except Unexpected as exc:
                raise Unexpected(exc.reason, what) from None
            check(response, exchange.status, exchange.body, what)
            if exchange.closes or last_closes:
                if not response.closes:
                    raise Unexpected("no 'connection: close' on a closing answer", what)
                await conn.expect_close()
            elif response.closes and not exchange.may_close:
                raise Unexpected("a kept-alive connection closed by the server", what)
            elif response.closes:  # allowed after an unread body
                await conn.expect_close()
            if response.closes and index < count - 1:
                conn.close()
                conn = await Conn.open(load.port)
    finally:
        conn.close()
    return count


async def pipelined(load: Load, rng: random.Random) -> int:
    """Several requests in one write (or in random pieces); answers must come in order.
    When the last one says ``Connection: close``, a request sent after it must not be
    answered."""
    exchanges = [
        good_exchange(rng, load.body_limit, pipelined=True) for _ in range(rng.randint(2, 8))
    ]
    closing = rng.random() < 0.3
    data = b"".join(exchange.data for exchange in exchanges)
    if closing:
        last = exchanges[-1].data
        last = last.replace(HOST_LINE, HOST_LINE + b"Connection: close\r\n", 1)
        data = data[: -len(exchanges[-1].data)] + last + AFTER
    what = f"{len(exchanges)} pipelined: {[exchange.name for exchange in exchanges]}"
    conn = await Conn.open(load.port)
    try:
        pieces = [data] if rng.random() < 0.5 else split(data, rng)
        for piece in pieces:
            if not await conn.send(piece):
                # fine once the closing request is in (the AFTER behind it may find the
                # connection closed); before that, the missing answers below tell
                break
        for index, exchange in enumerate(exchanges):
            try:
                response = await conn.read_response(head=exchange.head)
            except Unexpected as exc:
                raise Unexpected(exc.reason, f"answer {index + 1} of {what}") from None
            check(response, exchange.status, exchange.body, f"answer {index + 1} of {what}")
        if closing:
            await conn.expect_close(after=f"Connection: close, of {what}")
        return 1
    finally:
        conn.close()


async def pipeline_flood(load: Load, rng: random.Random) -> int:
    """Hundreds of pipelined requests, not read for a while: the server must stop reading
    (not buffer answers without bound) and then answer every one, in order."""
    count = rng.randint(100, 500)
    tags = [rng.randrange(1 << 30) for _ in range(count)]
    data = b"".join(request("GET", f"/hello?i={tag}") for tag in tags)
    what = f"{count} pipelined GET /hello"
    conn = await Conn.open(load.port, receive_buffer=8192)
    try:
        sender = asyncio.create_task(conn.send(data))
        await asyncio.sleep(rng.random() * 0.5)
        for index, tag in enumerate(tags):
            try:
                check(await conn.read_response(), 200, b"hello i=%d" % tag, what)
            except Unexpected as exc:
                raise Unexpected(exc.reason, f"answer {index + 1} of {what}") from None
        if not await sender:
            raise Unexpected("closed before the requests were sent", what)
        return 1
    finally:
        conn.close()


async def http10_close(load: Load, rng: random.Random) -> int:
    """HTTP/1.0 without keep-alive: one answer, then the server closes."""
    tag = rng.randrange(1 << 30)
    data = f"GET /hello?i={tag} HTTP/1.0\r\n\r\n".encode()
    conn = await Conn.open(load.port)
    try:
        if not await conn.send(data):
            raise Unexpected("closed before the request was sent")
        check(await conn.read_response(), 200, b"hello i=%d" % tag, repr(data))
        await conn.expect_close()
        return 1
    finally:
        conn.close()


async def accepted(load: Load, rng: random.Random) -> int:
    """An unusual but valid request of the corpus: every request in it answered ``ok``."""
    name = rng.choice(sorted(load.accepted))
    data, paths = load.accepted[name]
    pieces = [data] if rng.random() < 0.5 else split(data, rng)
    what = f"ACCEPTED[{name!r}] in {len(pieces)} pieces"
    conn = await Conn.open(load.port)
    try:
        for piece in pieces:
            if not await conn.send(piece):
                raise Unexpected("closed before the request was sent", what)
        for _ in paths:
            try:
                check(await conn.read_response(), 200, b"ok", what)
            except Unexpected as exc:
                raise Unexpected(exc.reason, what) from None
        return 1
    finally:
        conn.close()


async def hostile(load: Load, rng: random.Random, whole: bool) -> int:
    """A refused request (HOSTILE corpus or a size limit), whole or in random pieces, with a
    request behind it that must never be answered: the listed status, then a close.
    Sometimes a good request goes first on the same connection, so the refusal also meets
    a connection that has already served something."""
    name = rng.choice(sorted(load.hostile))
    data, status = load.hostile[name]
    data += AFTER
    pieces = [data] if whole else split(data, rng)
    sizes = [len(piece) for piece in pieces]
    first = good_exchange(rng, load.body_limit, pipelined=True) if rng.random() < 0.3 else None
    after_good = f" after a good {first.name} request" if first else ""
    what = f"{name!r} ({len(data)} bytes with AFTER) in pieces of {sizes}{after_good}"
    conn = await Conn.open(load.port)
    try:
        if first is not None:
            try:
                await conn.send(first.data)
                response = await conn.read_response(head=first.head)
                check(response, first.status, first.body, f"{first.name}: {first.data[:80]!r}")
            except Unexpected as exc:
                raise Unexpected(exc.reason, f"the good request before {what}") from None
        for piece in pieces:
            if not await conn.send(piece):
                break
            if not whole:
                await asyncio.sleep(rng.random() * 0.01)
                if conn.buffer or conn.poll() is not None:
                    break  # answered (or closed): stop, as a client reading its socket would
        try:
            response = await conn.read_response()
            check(response, status, None, what)
            if not response.closes:
                raise Unexpected("no 'connection: close' on a refusal")
            await conn.expect_close(after="the refusal")
        except Unexpected as exc:
            raise Unexpected(exc.reason, what) from None
        return 1
    finally:
        conn.close()


async def disconnect(load: Load, rng: random.Random, where: str) -> int:
    """The client walks away (close or reset) in the head, in the body, while the app runs,
    or while the answer streams. Nothing to check here but that the server survives it:
    the fds, RSS and server log at the end tell."""
    conn = await Conn.open(load.port)
    try:
        if where == "head":
            data = request("GET", "/hello")
            await conn.send(data[: rng.randint(1, len(data) - 1)])
        elif where == "body":
            body = rng.randbytes(rng.randint(100, load.body_limit))
            if rng.random() < 0.5:
                data = request("POST", "/echo", chunks=split(body, rng))
            else:
                data = request("POST", "/echo", body)
            # the whole head and part of the body
            await conn.send(data[: rng.randint(len(data) - len(body), len(data) - 1)])
        elif where == "app":
            await conn.send(request("GET", "/sleep?ms=300"))
        else:
            await conn.send(request("GET", "/stream?chunks=512&size=16384"))
            deadline = conn.loop.time() + READ_TIMEOUT
            while len(conn.buffer) < 13 and await conn.fill(deadline - conn.loop.time()):
                pass
            if not conn.buffer.startswith(b"HTTP/1.1 200 "):
                raise Unexpected(f"stream answer began {bytes(conn.buffer[:40])!r}")
        await asyncio.sleep(rng.random() * 0.05)
        return 1
    finally:
        if rng.random() < 0.5:
            conn.abort()
        else:
            conn.close()


WHERE = ("head", "body", "app", "response")  # where a client may walk away
BODIES = ("content-length", "chunked", "unread")  # the slow bodies


async def trickle(conn: Conn, data: bytes, until: float) -> None:
    """Send ``data`` one byte per TRICKLE_INTERVAL until the server answers or closes, or
    until the loop time ``until`` (when it should long have cut the client)."""
    for index in range(len(data)):
        if conn.loop.time() >= until or not await conn.send(data[index : index + 1]):
            return
        if await conn.fill(TRICKLE_INTERVAL) is not None:
            return


async def slow_head(load: Load, rng: random.Random, silent: bool) -> int:
    """A head trickled too slowly (or nothing at all): 408 and a close, or for silence a
    close without an answer, at ``--timeout-request-header`` (never before)."""
    loop = asyncio.get_running_loop()
    opened = loop.time()
    conn = await Conn.open(load.port)
    limit = load.header_timeout + GRACE
    try:
        if silent:
            await conn.expect_close(limit, after="nothing sent (idle connection)")
        else:
            head = b"GET /hello HTTP/1.1\r\n" + HOST_LINE + b"X-Trickle: " + b"t" * 200
            await trickle(conn, head, opened + limit)
            remaining = max(opened + limit - loop.time(), 0.1)
            check(await conn.read_response(remaining), 408, None, "a trickled head")
            await conn.expect_close(after="the 408")
        elapsed = loop.time() - opened
        if elapsed < load.header_timeout - EARLY:
            raise Unexpected(f"cut after {elapsed:.2f} s, before the header timeout")
        if elapsed > limit:
            raise Unexpected(f"cut only after {elapsed:.2f} s")
        return 1
    finally:
        conn.close()


async def slow_body(load: Load, rng: random.Random, variant: str) -> int:
    """A body trickled too slowly: 408 and a close at ``--timeout-request-body``; if the app
    answered without reading it, the answer and then a close."""
    loop = asyncio.get_running_loop()
    conn = await Conn.open(load.port)
    limit = load.body_timeout + GRACE
    try:
        if variant == "chunked":
            head = b"POST /echo HTTP/1.1\r\n" + HOST_LINE + b"Transfer-Encoding: chunked\r\n\r\n"
            body = b"c8\r\n" + b"x" * 200
        else:
            path = b"/ignore-body" if variant == "unread" else b"/echo"
            head = b"POST " + path + b" HTTP/1.1\r\n" + HOST_LINE + b"Content-Length: 200\r\n\r\n"
            body = b"x" * 200
        started = loop.time()
        if not await conn.send(head):
            raise Unexpected("closed before the head was sent")
        if variant == "unread":
            check(await conn.read_response(), 200, b"ignored", "an unread body")
            await trickle(conn, body, started + limit)
            remaining = max(started + limit - loop.time(), 0.1)
            await conn.expect_close(remaining, after="the answer to an unread, trickled body")
        else:
            await trickle(conn, body, started + limit)
            remaining = max(started + limit - loop.time(), 0.1)
            check(await conn.read_response(remaining), 408, None, "a trickled body")
            await conn.expect_close(after="the 408")
            elapsed = loop.time() - started
            if elapsed < load.body_timeout - EARLY:
                raise Unexpected(f"cut after {elapsed:.2f} s, before the body timeout")
        elapsed = loop.time() - started
        if elapsed > limit:
            raise Unexpected(f"cut only after {elapsed:.2f} s")
        return 1
    finally:
        conn.close()


async def idle_after_answer(load: Load, rng: random.Random) -> int:
    """Silence after an answer: closed at ``--timeout-keep-alive``, without another answer."""
    conn = await Conn.open(load.port)
    try:
        await conn.send(request("GET", "/hello"))
        check(await conn.read_response(), 200, b"hello ", "GET /hello")
        await conn.expect_close(load.keep_alive_timeout + GRACE, after="keep-alive idleness")
        return 1
    finally:
        conn.close()


async def slow_reader(load: Load, rng: random.Random) -> int:
    """A client that reads a 1 MiB answer slowly through a small receive buffer: the server
    must wait for it (write flow control) and deliver every byte in order."""
    count, size = 64, 16384
    conn = await Conn.open(load.port, receive_buffer=8192)
    try:
        await conn.send(request("GET", f"/stream?chunks={count}&size={size}"))
        conn.read_delay = rng.choice([0.005, 0.02])
        body = b"".join(stream_chunk(index, size) for index in range(count))
        check(await conn.read_response(READ_TIMEOUT * 3), 200, body, "a slowly read stream")
        return 1
    finally:
        conn.close()


# (scenario, weight, kind): what the fast and the slow clients pick from
FAST: list[tuple[Scenario, int, str]] = [
    (keep_alive, 30, "keep-alive"),
    (pipelined, 12, "pipelined"),
    (pipeline_flood, 1, "pipelined-flood"),
    (http10_close, 4, "http/1.0-close"),
    (accepted, 6, "accepted"),
    (partial(hostile, whole=True), 15, "hostile-whole"),
    (partial(hostile, whole=False), 15, "hostile-pieces"),
    *((partial(disconnect, where=where), 3, f"disconnect-in-{where}") for where in WHERE),
]
SLOW: list[tuple[Scenario, int, str]] = [
    (partial(slow_head, silent=False), 6, "slow-head"),
    (partial(slow_head, silent=True), 2, "slow-idle"),
    *((partial(slow_body, variant=variant), 3, f"slow-body-{variant}") for variant in BODIES),
    (idle_after_answer, 2, "slow-idle-keep-alive"),
    (slow_reader, 4, "slow-reader"),
]


async def client(
    load: Load, rng: random.Random, scenarios: list[tuple[Scenario, int, str]], until: float
) -> None:
    """Run random scenarios back to back until ``until``; every failure is counted."""
    loop = asyncio.get_running_loop()
    weights = [weight for _, weight, _ in scenarios]
    while loop.time() < until:
        scenario, _, kind = rng.choices(scenarios, weights)[0]
        try:
            load.ok(kind, await scenario(load, rng))
        except Unexpected as exc:
            load.unexpected(kind, exc.reason, exc.detail)
        except OSError as exc:
            load.unexpected(kind, f"{type(exc).__name__}: {exc}", "")
        except Exception as exc:  # a garbled answer the parser choked on, say
            load.unexpected(kind, f"client error {exc!r}", "")


async def run_load(load: Load, seconds: float, concurrency: int, seed: int) -> None:
    """``concurrency`` clients for ``seconds``; one in eight is a slow client (at least
    one), so the slow ones, which hold a connection for seconds, never crowd out the rest."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    slow = max(1, concurrency // 8)
    tasks = [
        asyncio.create_task(
            client(load, random.Random(seed + index), SLOW if index < slow else FAST, until)
        )
        for index in range(concurrency)
    ]
    # every scenario ends by itself (all reads have deadlines); this bound is a backstop
    done, pending = await asyncio.wait(tasks, timeout=seconds + 60)
    for task in pending:
        task.cancel()
        load.unexpected("load", "a client hung past every deadline", "")
    for task in done:
        if task.exception() is not None:
            exc = task.exception()
            load.unexpected("load", f"client crashed: {exc!r}", "")


# the server process --------------------------------------------------------------------------


@dataclass
class Sample:
    pid: int
    role: str
    rss_kib: int
    fds: int

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / 1024


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, found by scanning /proc/*/stat for their parent."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name (in parentheses) may contain spaces; the fields after it do not
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def sample_process(pid: int, role: str) -> Sample | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return Sample(pid, role, int(match.group(1)) if match else 0, fds)


def sample_server(pid: int, workers: bool) -> list[Sample]:
    """The server process and, under ``--workers``, each of its children."""
    samples = [sample_process(pid, "supervisor" if workers else "server")]
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        role = "helper" if b"resource_tracker" in cmdline else "worker"
        samples.append(sample_process(child, role))
    return [item for item in samples if item is not None]


def fd_targets(pid: int) -> Counter[str]:
    """What the fds of ``pid`` point at, sockets and pipes by kind, to show a leak's kind."""
    targets: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                targets[re.sub(r"\[\d+\]$", "", target)] += 1
    return targets


def format_samples(samples: list[Sample]) -> str:
    return " | ".join(
        f"{item.pid} {item.role} rss {item.rss_mib:.1f} MiB fds {item.fds}" for item in samples
    )


def start_server(args: argparse.Namespace, log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start the CLI on a free port; return it once it answers ``/hello``."""
    uvicorn = ROOT / ".venv" / "bin" / "uvicorn"
    command = [
        str(uvicorn),
        "soak_app:app",
        "--app-dir",
        str(SCRIPTS),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--http",
        args.http,
        "--no-access-log",  # thousands of lines a second would measure the log, not the server
        "--no-use-colors",
        "--timeout-request-header",
        str(args.header_timeout),
        "--timeout-request-body",
        str(args.body_timeout),
        "--timeout-keep-alive",
        str(args.keep_alive_timeout),
        "--limit-request-body",
        str(args.body_limit),
        "--timeout-graceful-shutdown",
        "10",
    ]
    if args.workers:
        command += ["--workers", str(args.workers)]
    command += args.server_args
    env = {key: value for key, value in os.environ.items() if not key.startswith("UVICORN_")}
    env.pop("WEB_CONCURRENCY", None)
    env["PYTHONUNBUFFERED"] = "1"
    print("server: " + " ".join(command), flush=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    port = 0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}; see {log_path}")
        match = re.search(rb"Uvicorn running on http://127\.0\.0\.1:(\d+)", log_path.read_bytes())
        if match:
            port = int(match.group(1))
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.sendall(request("GET", "/hello", extra="Connection: close\r\n"))
                    if sock.recv(100).startswith(b"HTTP/1.1 200 "):
                        return process, port
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"the server did not answer within 30 s; see {log_path}")


def stop_server(process: subprocess.Popen[bytes]) -> int:
    """SIGINT, as Ctrl+C would; a kill only if it does not stop within 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return -signal.SIGKILL


# the level given to output that is no log record ("--- Logging error ---", a bare traceback)
UNFORMATTED = "UNFORMATTED"


def log_records(text: str) -> list[tuple[str, str]]:
    """(level, text) of each record of the server log, text or JSON lines.

    A traceback belongs to the error record above it. Any other line that is not a record
    (logging's own "--- Logging error ---" report, a traceback printed by Python for an
    exception nobody logged, a warning from the interpreter) starts an UNFORMATTED record:
    the server wrote something it should not have, which counts as an unexpected error.
    """
    records: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                document = json.loads(line)
                records.append((str(document.get("level", "")).upper(), line))
                continue
            except ValueError:
                pass
        level_match = re.match(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL):\s", line)
        if level_match:
            records.append((level_match.group(1), line))
        elif line == "--- Logging error ---":  # a record that logging failed to format
            records.append((UNFORMATTED, line))
        elif records and records[-1][0] in ("ERROR", "CRITICAL", UNFORMATTED):
            records[-1] = (records[-1][0], records[-1][1] + "\n" + line)
        else:
            records.append((UNFORMATTED, line))
    return records


# the run -------------------------------------------------------------------------------------


async def sampler(pid: int, workers: bool, load: Load, interval: float, began: float) -> None:
    while True:
        await asyncio.sleep(interval)
        samples = sample_server(pid, workers)
        elapsed = time.monotonic() - began
        head = f"[{elapsed:7.1f} s] checks {load.total} unexpected {load.total_unexpected}"
        print(f"{head} | {format_samples(samples)}", flush=True)


async def quiet_sample(pid: int, workers: bool, settle: float, label: str) -> list[Sample]:
    await asyncio.sleep(settle)
    samples = sample_server(pid, workers)
    print(f"{label} (idle {settle:g} s): {format_samples(samples)}", flush=True)
    return samples


async def soak(args: argparse.Namespace, load: Load, pid: int) -> tuple[list[Sample], list[Sample]]:
    """Warm-up, pause, sample; main load, pause, sample. The pauses are not load time."""
    total = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(30.0, total / 10)
    workers = bool(args.workers)
    began = time.monotonic()
    ticker = asyncio.create_task(sampler(pid, workers, load, args.interval, began))
    try:
        print(f"warm-up: {warmup:g} s of load", flush=True)
        await run_load(load, warmup, args.concurrency, args.seed)
        start = await quiet_sample(pid, workers, args.settle, "start")
        print(f"load: {total - warmup:g} s", flush=True)
        await run_load(load, total - warmup, args.concurrency, args.seed + 100_000)
        end = await quiet_sample(pid, workers, args.settle, "end")
        # a connection whose close is still in flight is not a leak: give it a moment
        deadline = time.monotonic() + 10
        while fd_growth(start, end) > args.fd_slack and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            end = sample_server(pid, workers)
        if fd_growth(start, end) > args.fd_slack:
            print(f"end (after waiting for closes): {format_samples(end)}", flush=True)
        return start, end
    finally:
        ticker.cancel()


def fd_growth(start: list[Sample], end: list[Sample]) -> int:
    before = {item.pid: item.fds for item in start}
    return max((item.fds - before.get(item.pid, 0) for item in end), default=0)


def summary(
    args: argparse.Namespace,
    load: Load,
    start: list[Sample],
    end: list[Sample],
    exit_code: int,
    log_path: Path,
    seconds: float,
) -> list[str]:
    """Print the summary; return the reasons the run failed (none: it passed)."""
    failures: list[str] = []
    print("\n== soak summary ==")
    print(f"{'kind':<28}{'total':>9}{'ok':>9}{'unexpected':>12}")
    for kind in sorted(load.tallies):
        tally = load.tallies[kind]
        total = tally.ok + tally.unexpected
        print(f"{kind:<28}{total:>9}{tally.ok:>9}{tally.unexpected:>12}")
    print(
        f"{'all':<28}{load.total:>9}{load.total - load.total_unexpected:>9}"
        f"{load.total_unexpected:>12}"
    )
    print(f"rate: {load.total / max(seconds, 1e-9):.0f} checks/s over {seconds:.0f} s of load")
    for kind in sorted(load.tallies):
        tally = load.tallies[kind]
        if tally.unexpected:
            failures.append(f"{tally.unexpected} unexpected answers ({kind})")
            for reason, count in tally.reasons.most_common():
                print(f"unexpected {kind}: {count} x {reason}")
            for example in tally.examples:
                print(f"  e.g. {example}")

    before = {item.pid: item for item in start}
    after = {item.pid: item for item in end}
    if set(before) != set(after):
        failures.append(f"server processes changed: {sorted(before)} -> {sorted(after)}")
    for pid in sorted(before):
        first, last = before[pid], after.get(pid)
        if last is None:
            print(f"{first.role} {pid}: gone at the end")
            continue
        growth = last.rss_mib - first.rss_mib
        print(
            f"rss {first.role} {pid}: start {first.rss_mib:.1f} MiB, end {last.rss_mib:.1f} MiB, "
            f"growth {growth:+.1f} MiB (limit {args.max_rss_growth_mib:g} MiB)"
        )
        print(f"fds {first.role} {pid}: start {first.fds}, end {last.fds} (slack {args.fd_slack})")
        if growth > args.max_rss_growth_mib:
            failures.append(f"RSS of {first.role} {pid} grew by {growth:.1f} MiB")
        if last.fds > first.fds + args.fd_slack:
            failures.append(f"fds of {first.role} {pid} grew from {first.fds} to {last.fds}")
            print(f"  open fds of {pid} now: {dict(fd_targets(pid))}")

    records = log_records(log_path.read_text(errors="replace"))
    levels = Counter(level for level, _ in records)
    # the app's own /raise failures are the only errors expected; all else is the server's
    expected = [text for level, text in records if level == "ERROR" and "SoakError" in text]
    unexpected_errors = [
        text
        for level, text in records
        if level in ("CRITICAL", UNFORMATTED) or (level == "ERROR" and "SoakError" not in text)
    ]
    print(
        f"server log: {len(records)} records ({dict(sorted(levels.items()))}), "
        f"{len(expected)} expected /raise errors, "
        f"{len(unexpected_errors)} unexpected errors"
    )
    if unexpected_errors:
        failures.append(f"{len(unexpected_errors)} unexpected errors in the server log")
        for text in unexpected_errors[:3]:
            print("  " + text.replace("\n", "\n  "))
    print(f"server exit code: {exit_code}")
    if exit_code != 0:
        failures.append(f"the server exited with {exit_code}")
    return failures


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/soak",
        description="Mixed good and hostile traffic against a real server process for N "
        "minutes; fails on any unexpected answer, a server error, or fd/RSS growth.",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="load time (fractions ok)")
    parser.add_argument("--http", choices=["auto", "h11", "httptools"], default="auto")
    parser.add_argument("--workers", type=int, default=0, help="run the server with --workers K")
    parser.add_argument("--concurrency", type=int, default=32, help="client connections at once")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--warmup", type=float, default=None, help="default: 10%% of the run, <= 30 s"
    )
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before sampling")
    parser.add_argument("--seed", type=int, default=None, help="for the random choices")
    parser.add_argument("--header-timeout", type=float, default=2.0, dest="header_timeout")
    parser.add_argument("--body-timeout", type=float, default=2.0, dest="body_timeout")
    parser.add_argument("--keep-alive-timeout", type=int, default=2, dest="keep_alive_timeout")
    parser.add_argument("--body-limit", type=int, default=65536, dest="body_limit")
    # 8 MiB: a leak worth finding grows with traffic (at ~1000 checks/s for 10 minutes even
    # 15 bytes each is 8 MiB), while an idle CPython server's RSS moves in steps of a few MiB
    # without one: pymalloc arenas (1 MiB) and glibc heaps are kept once touched, and the
    # first rare answer fills caches (linecache for a traceback, the parsers' tables).
    parser.add_argument("--max-rss-growth-mib", type=float, default=8.0)
    # both fd figures are taken idle, so they should be equal; 2 covers a log file rotated
    # or a helper pipe opened by the supervisor between the samples
    parser.add_argument("--fd-slack", type=int, default=2)
    parser.add_argument("--log", type=Path, default=None, help="server log file (default: temp)")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        dest="server_args",
        metavar="ARG",
        help="one more argument for the server, after the soak's own (which it may override), "
        "e.g. --server-arg=--log-format=json or --server-arg=--access-log; repeatable",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.concurrency < 1 or args.interval <= 0:
        parser.error("--minutes, --concurrency and --interval must be positive")
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    return args


def load_corpus(
    body_limit: int,
) -> tuple[dict[str, tuple[bytes, int]], dict[str, tuple[bytes, list[str]]]]:
    sys.path.insert(0, str(ROOT))
    from tests.support.corpus import ACCEPTED, HOSTILE

    hostile = {name: (data, status) for name, (data, status, _) in HOSTILE.items()}
    hostile.update(limit_cases(body_limit))
    return hostile, dict(ACCEPTED)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not (ROOT / ".venv" / "bin" / "uvicorn").exists():
        print("no .venv/bin/uvicorn: run scripts/test once to create the venv", file=sys.stderr)
        return 2
    hostile_cases, accepted_cases = load_corpus(args.body_limit)
    if args.log is None:
        handle, name = tempfile.mkstemp(prefix="soak-server-", suffix=".log")
        os.close(handle)
    log_path = args.log or Path(name)
    print(
        f"soak: {args.minutes:g} min, --http {args.http}, workers {args.workers or 'none'}, "
        f"concurrency {args.concurrency}, seed {args.seed}",
        flush=True,
    )
    process, port = start_server(args, log_path)
    load = Load(
        port=port,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive_timeout=args.keep_alive_timeout,
        body_limit=args.body_limit,
        hostile=hostile_cases,
        accepted=accepted_cases,
    )
    try:
        start, end = asyncio.run(soak(args, load, process.pid))
        alive = process.poll() is None
    finally:
        exit_code = stop_server(process)
    failures = summary(args, load, start, end, exit_code, log_path, args.minutes * 60)
    if not alive:
        failures.append("the server died during the run")
    if failures:
        print(f"server log: {log_path}")
        print("result: FAIL: " + "; ".join(failures))
        # the seed repeats the random choices; the timing of a loaded machine is not repeated
        seed = "" if "--seed" in argv else f" --seed {args.seed}"
        print(f"same choices again: scripts/soak {' '.join(argv)}{seed}")
        return 1
    print("result: PASS")
    if args.log is None:
        log_path.unlink()  # a passing run's log holds nothing but the expected records
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
