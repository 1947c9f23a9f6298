"""WebSocket echo load: raw sockets, pre-built masked frames, a window of messages in flight.

Why it is written this way: the load generator has to be cheaper per message than the
server it measures, or the figure is the client's. A WebSocket library on the client spends
as much Python per message as the server does, so this client does the HTTP upgrade
handshake by hand and then only moves bytes: every connection builds its masked frame once
(one mask key for the connection's life, RFC 6455's per-frame key is not needed against our
own server), and the server's echo of it, unmasked, is a fixed byte string too, so checking
a recv that holds k whole echoes is one comparison with a prepared string. Each connection
keeps ``--window`` messages in flight: every echo received is answered by one more frame,
and all the frames a recv earns go out in one ``send``. One thread, ``select.epoll``,
non-blocking sockets; nothing per message but a little arithmetic.

It measures messages/s (round trips completed) over ``--duration`` seconds after
``--warmup`` seconds, and, with ``--server-pid``, the server's CPU time in that window from
``/proc/PID/stat`` (utime + stime, clock ticks), so the harness gets CPU per message of the
server alone. Its own CPU time over the same window is reported too: a client near 100% of
its core would be the bottleneck. One JSON object on stdout.

    .venv/bin/python bench/ws_load.py --port 8765 --server-pid PID
    .venv/bin/python bench/ws_load.py --null-server   # the client's own ceiling, see below

``--null-server`` starts a trivial echo server (this file, ``--serve-null``) pinned to
CPU 0 that answers each frame with a prepared reply without parsing it: what the client
reaches against it is the client's ceiling, the check that it is not the bottleneck.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
CLK_TCK = os.sysconf("SC_CLK_TCK")
READ_SIZE = 262144


def frame_header(opcode: int, length: int, masked: bool) -> bytes:
    """The FIN-set header of a frame (RFC 6455 5.2), without the mask key."""
    bit = 0x80 if masked else 0
    if length < 126:
        return bytes([0x80 | opcode, bit | length])
    if length < 65536:
        return bytes([0x80 | opcode, bit | 126]) + length.to_bytes(2, "big")
    return bytes([0x80 | opcode, bit | 127]) + length.to_bytes(8, "big")


def mask_bytes(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 5.3)."""
    repeated = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        len(data), "big"
    )


def client_frame(opcode: int, payload: bytes, key: bytes) -> bytes:
    """A masked client-to-server frame."""
    return frame_header(opcode, len(payload), True) + key + mask_bytes(payload, key)


def accept_value(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def handshake(host: str, port: int) -> tuple[socket.socket, bytes]:
    """Open one connection and upgrade it; returns the socket and any bytes after the head.

    No ``Sec-WebSocket-Extensions`` is offered, so neither server compresses.
    """
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (host.encode(), port, key)
    )
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed the connection during the handshake")
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if lines[0].split(b" ")[1:2] != [b"101"]:
        raise ConnectionError(f"handshake refused: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"sec-websocket-accept") != accept_value(key):
        raise ConnectionError("bad Sec-WebSocket-Accept")
    if b"sec-websocket-extensions" in headers:
        raise ConnectionError("server negotiated an extension that was not offered")
    sock.setblocking(False)
    return sock, rest


class ServerClosed(Exception):
    """The server sent a close frame or closed the connection while the load ran."""


class Connection:
    """One WebSocket connection of the load, with its prepared frames."""

    __slots__ = (
        "blocks",
        "buffer",
        "closed",
        "echo",
        "echo_blocks",
        "epoll",
        "in_flight",
        "key",
        "opcode",
        "out",
        "payload",
        "sock",
    )

    def __init__(
        self,
        sock: socket.socket,
        rest: bytes,
        epoll: select.epoll,
        opcode: int,
        payload: bytes,
        window: int,
        echo_blocks: list[bytes],
    ) -> None:
        self.sock = sock
        self.epoll = epoll
        self.opcode = opcode
        self.payload = payload
        self.key = os.urandom(4)
        frame = client_frame(opcode, payload, self.key)
        self.blocks = [frame * count for count in range(window + 1)]
        self.echo = echo_blocks[1]
        self.echo_blocks = echo_blocks
        self.buffer = rest
        self.out = bytearray()
        self.in_flight = 0
        self.closed = False

    def send(self, data: bytes) -> None:
        if self.out:
            self.out += data
            return
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            self.out += data[sent:]
            self.epoll.modify(self.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def flush(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except BlockingIOError:
            return
        del self.out[:sent]
        if not self.out:
            self.epoll.modify(self.sock.fileno(), select.EPOLLIN)

    def receive(self, refill: bool) -> int:
        """Read what is there; returns the echoes completed, sending as many new frames."""
        data = self.sock.recv(READ_SIZE)
        if not data:
            self.closed = True
            raise ServerClosed("server closed the connection")
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        count, extra = divmod(len(data), len(self.echo))
        if extra == 0 and count < len(self.echo_blocks) and data == self.echo_blocks[count]:
            echoes = count  # the usual case: whole echoes and nothing else
        else:
            echoes = self._parse(data)
        self.in_flight -= echoes
        if refill and echoes:
            self.send(self.blocks[echoes])
            self.in_flight += echoes
        return echoes

    def _parse(self, data: bytes) -> int:
        """The general case: partial frames, pings, a close; keeps the incomplete tail."""
        echoes = 0
        position = 0
        end = len(data)
        while end - position >= 2:
            first, second = data[position], data[position + 1]
            if second & 0x80:
                raise ServerClosed("server sent a masked frame")
            length = second & 0x7F
            start = position + 2
            if length == 126:
                if end - start < 2:
                    break
                length = int.from_bytes(data[start : start + 2], "big")
                start += 2
            elif length == 127:
                if end - start < 8:
                    break
                length = int.from_bytes(data[start : start + 8], "big")
                start += 8
            if end - start < length:
                break
            payload = data[start : start + length]
            position = start + length
            opcode = first & 0x0F
            if opcode == OP_PING:
                self.send(client_frame(OP_PONG, payload, self.key))
            elif opcode == OP_PONG:
                pass
            elif opcode == OP_CLOSE:
                self.closed = True
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                raise ServerClosed(f"server sent close {code} {payload[2:]!r}")
            elif first & 0x80 and opcode == self.opcode and payload == self.payload:
                echoes += 1
            else:
                raise ServerClosed(f"unexpected frame: opcode {opcode}, {length} bytes")
        self.buffer = data[position:]
        return echoes


def server_ticks(pid: int) -> int:
    """utime + stime of process ``pid``, all its threads, in clock ticks (proc(5))."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15, counted from pid


@dataclass
class LoadResult:
    messages: int
    seconds: float
    msgs_per_s: float
    server_cpu_s: float | None
    server_us_per_msg: float | None
    server_cpu_share: float | None  # of one core, over the window
    client_cpu_s: float
    client_us_per_msg: float
    client_cpu_share: float
    connections: int
    window: int
    payload: int
    opcode: str
    clean_closes: int


def run_load(
    host: str,
    port: int,
    connections: int,
    window: int,
    payload_size: int,
    text: bool,
    warmup: float,
    duration: float,
    server_pid: int | None,
    half_close: bool = False,
) -> LoadResult:
    """Upgrade ``connections`` connections, keep ``window`` echoes in flight on each, measure."""
    opcode = OP_TEXT if text else OP_BINARY
    payload = (b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_" * 64)[
        :payload_size
    ]
    echo = frame_header(opcode, len(payload), False) + payload
    echo_blocks = [echo * count for count in range(window + 1)]
    epoll = select.epoll()
    conns: dict[int, Connection] = {}
    for _ in range(connections):
        sock, rest = handshake(host, port)
        conn = Connection(sock, rest, epoll, opcode, payload, window, echo_blocks)
        conns[sock.fileno()] = conn
        epoll.register(sock.fileno(), select.EPOLLIN)
    for conn in conns.values():
        conn.send(conn.blocks[window])
        conn.in_flight = window

    total = 0
    started = time.monotonic()
    mark = started + warmup
    stop = mark + duration
    measuring = False
    first_total = first_ticks = 0
    first_cpu = first_time = 0.0
    poll = epoll.poll
    readable = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR
    try:
        while True:
            now = time.monotonic()
            if not measuring and now >= mark:
                first_total, first_time = total, now
                first_cpu = time.process_time()
                first_ticks = server_ticks(server_pid) if server_pid else 0
                measuring = True
            if now >= stop:
                last_ticks = server_ticks(server_pid) if server_pid else 0
                last_cpu = time.process_time()
                last_total, last_time = total, time.monotonic()
                break
            for fd, events in poll(min(0.05, max(0.0, (mark if not measuring else stop) - now))):
                conn = conns[fd]
                if events & select.EPOLLOUT:
                    conn.flush()
                if events & readable:
                    total += conn.receive(True)
    finally:
        clean = close_all(conns, half_close)
        epoll.close()

    messages = last_total - first_total
    seconds = last_time - first_time
    client_cpu = last_cpu - first_cpu
    server_cpu = (last_ticks - first_ticks) / CLK_TCK if server_pid else None
    return LoadResult(
        messages=messages,
        seconds=seconds,
        msgs_per_s=messages / seconds,
        server_cpu_s=server_cpu,
        server_us_per_msg=server_cpu / messages * 1e6 if server_cpu is not None else None,
        server_cpu_share=server_cpu / seconds if server_cpu is not None else None,
        client_cpu_s=client_cpu,
        client_us_per_msg=client_cpu / messages * 1e6,
        client_cpu_share=client_cpu / seconds,
        connections=connections,
        window=window,
        payload=payload_size,
        opcode="text" if text else "binary",
        clean_closes=clean,
    )


def close_all(conns: dict[int, Connection], half_close: bool, timeout: float = 3.0) -> int:
    """Send a close frame on every connection and wait for the server's close (or EOF).

    A clean close keeps disconnect noise out of the server's log; the count of clean closes
    tells a server that dropped connections from one that did not.
    """
    close = (1000).to_bytes(2, "big")
    waiting: dict[int, Connection] = {}
    for fd, conn in conns.items():
        if conn.closed:
            continue
        try:
            conn.sock.setblocking(True)
            conn.sock.sendall(bytes(conn.out) + client_frame(OP_CLOSE, close, conn.key))
            if half_close:
                conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
        except OSError:
            continue
        waiting[fd] = conn
    clean = 0
    deadline = time.monotonic() + timeout
    with select.epoll() as epoll:
        for fd in waiting:
            epoll.register(fd, select.EPOLLIN)
        while waiting and time.monotonic() < deadline:
            for fd, _ in epoll.poll(0.1):
                conn = waiting[fd]
                try:
                    conn.receive(False)
                    continue
                except ServerClosed:
                    clean += 1
                except OSError:
                    pass
                epoll.unregister(fd)
                del waiting[fd]
    for conn in conns.values():
        conn.sock.close()
    return clean


class NullPeer:
    """One connection of the null server: head, then frame size and prepared reply."""

    __slots__ = ("buffer", "pending", "reply", "size", "sock", "upgraded")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.upgraded = False
        self.size = 0
        self.reply = b""
        self.pending = 0

    def feed(self, data: bytes) -> None:
        if not self.reply:
            data = self._learn(data)
            if not data:
                return
        count, self.pending = divmod(self.pending + len(data), self.size)
        if count:
            self.sock.sendall(self.reply * count)

    def _learn(self, data: bytes) -> bytes:
        """Answer the handshake, then unmask the first frame; returns the bytes to count."""
        buffered = self.buffer + data
        if not self.upgraded:
            if b"\r\n\r\n" not in buffered:
                self.buffer = buffered
                return b""
            head, _, buffered = buffered.partition(b"\r\n\r\n")
            key = head.split(b"ec-WebSocket-Key: ", 1)[1].split(b"\r\n", 1)[0]
            self.sock.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept_value(key)
            )
            self.upgraded = True
        if len(buffered) < 2 or len(buffered) < 6 + (buffered[1] & 0x7F):
            self.buffer = buffered
            return b""
        length = buffered[1] & 0x7F  # payloads under 126 bytes only
        self.size = 6 + length
        payload = mask_bytes(buffered[6 : self.size], buffered[2:6])
        self.reply = frame_header(buffered[0] & 0x0F, length, False) + payload
        self.buffer = b""
        return buffered


def serve_null(port: int) -> None:
    """A trivial echo server for the client's ceiling: one prepared reply per frame received.

    It unmasks each connection's first frame to learn the reply, then only counts bytes; it
    relies on the client sending one fixed frame, which is exactly what ``run_load`` does.
    """
    listener = socket.create_server(("127.0.0.1", port), backlog=256)
    listener.setblocking(False)
    epoll = select.epoll()
    epoll.register(listener.fileno(), select.EPOLLIN)
    peers: dict[int, NullPeer] = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        for fd, _ in epoll.poll():
            if fd == listener.fileno():
                while True:
                    try:
                        sock, _ = listener.accept()
                    except BlockingIOError:
                        break
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    peers[sock.fileno()] = NullPeer(sock)
                    epoll.register(sock.fileno(), select.EPOLLIN)
                continue
            peer = peers[fd]
            data = peer.sock.recv(READ_SIZE)
            if data:
                peer.feed(data)
            else:
                epoll.unregister(fd)
                del peers[fd]
                peer.sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--window", type=int, default=8, help="messages in flight per connection")
    parser.add_argument("--payload", type=int, default=64, help="message size, bytes")
    parser.add_argument("--text", action="store_true", help="text messages (default: binary)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--server-pid", type=int, help="read this process's CPU time")
    parser.add_argument("--null-server", action="store_true", help="measure the client's ceiling")
    parser.add_argument("--serve-null", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve_null:
        serve_null(options.port)
        return
    server = None
    if options.null_server:
        command = [sys.executable, __file__, "--serve-null", "--port", str(options.port)]
        server = subprocess.Popen(["taskset", "-c", "0", *command])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((options.host, options.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        options.server_pid = server.pid
    try:
        result = run_load(
            options.host,
            options.port,
            options.connections,
            options.window,
            options.payload,
            options.text,
            options.warmup,
            options.duration,
            options.server_pid,
            half_close=options.null_server,
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(5)
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
