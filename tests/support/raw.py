"""HTTP/1.1 by hand over a real socket: exact bytes out, responses parsed by hand.

Tests that care about framing cannot use an HTTP client, which would hide the
bytes. :class:`RawClient` sends exactly what it is given and parses what comes
back strictly (status line, header block, then the body by the framing the
response announced), keeping the raw bytes for exact comparisons. Every read
has a timeout: a server that never answers fails the test instead of hanging it.
"""

from __future__ import annotations

import re
import select
import socket
from dataclasses import dataclass, field

__all__ = ["RawClient", "RawResponse", "mask_date"]

READ_TIMEOUT = 3.0

_DATE = re.compile(rb"\r\ndate: [^\r\n]*", re.IGNORECASE)


def mask_date(data: bytes) -> bytes:
    """Replace every ``date`` header value, the one part of a response that varies."""
    return _DATE.sub(b"\r\ndate: <masked>", data)


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]  # names lower-cased, values as sent
    head: bytes  # status line and header block, through the blank line
    raw_body: bytes = b""  # the body exactly as framed on the wire
    body: bytes = b""  # the body with chunk framing removed
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def raw(self) -> bytes:
        return self.head + self.raw_body


class RawClient:
    def __init__(self, sock: socket.socket, timeout: float = READ_TIMEOUT) -> None:
        self.sock = sock
        self.timeout = timeout
        self.buffer = b""
        self.eof = False
        sock.settimeout(timeout)

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # sending -------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def trickle(self, data: bytes) -> int:
        """Send ``data`` one byte per ``send`` call (Nagle off); return bytes sent.

        Stops quietly when the server has already answered and closed, which it
        may do before the last byte of a malformed request has been sent.
        """
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = 0
        try:
            for index in range(len(data)):
                sent += self.sock.send(data[index : index + 1])
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sent

    def trickle_until_answered(self, data: bytes) -> int:
        """Like :meth:`trickle`, but stop as soon as the server has sent something (or
        closed), so a refused request is not followed by bytes the server never reads."""
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = 0
        try:
            for index in range(len(data)):
                sent += self.sock.send(data[index : index + 1])
                readable, _, _ = select.select([self.sock], [], [], 0)
                if readable:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sent

    # receiving -----------------------------------------------------------------

    def _fill(self) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise AssertionError(
                    f"connection closed after {len(self.buffer)} of {size} expected bytes"
                )
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _take_line(self) -> bytes:
        """One line including its CRLF."""
        while True:
            end = self.buffer.find(b"\r\n")
            if end != -1:
                return self._take(end + 2)
            if not self._fill():
                raise AssertionError(f"connection closed inside a line: {self.buffer!r}")

    def read_exact(self, size: int) -> bytes:
        return self._take(size)

    def read_head(self) -> RawResponse:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise AssertionError(f"connection closed before a response head: {self.buffer!r}")
        end = self.buffer.index(b"\r\n\r\n") + 4
        head = self._take(end)
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        match = re.fullmatch(r"HTTP/1\.1 (\d{3}) ?(.*)", status_line)
        assert match is not None, f"bad status line {status_line!r}"
        headers: list[tuple[str, str]] = []
        for line in lines:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip() and name, f"bad header line {line!r}"
            headers.append((name.lower(), value.strip(" \t")))
        return RawResponse(int(match.group(1)), match.group(2), headers, head)

    def read_response(self, method: str = "GET") -> RawResponse:
        """Read one complete response; the body is framed as its head says."""
        response = self.read_head()
        status = response.status
        if method == "HEAD" or status < 200 or status in (204, 304):
            return response
        if "chunked" in (response.get("transfer-encoding") or "").lower():
            self._read_chunked(response)
        elif response.get("content-length") is not None:
            length = int(response.get("content-length") or "")
            response.raw_body = response.body = self._take(length)
        else:
            response.raw_body = response.body = self.read_until_close()
        return response

    def _read_chunked(self, response: RawResponse) -> None:
        raw: list[bytes] = []
        body: list[bytes] = []
        while True:
            line = self._take_line()
            raw.append(line)
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            data = self._take(size + 2)
            raw.append(data)
            assert data.endswith(b"\r\n"), f"chunk not followed by CRLF: {data[-2:]!r}"
            body.append(data[:-2])
        while True:
            line = self._take_line()
            raw.append(line)
            if line == b"\r\n":
                break
            name, _, value = line[:-2].decode("latin-1").partition(":")
            response.trailers.append((name.lower(), value.strip(" \t")))
        response.raw_body = b"".join(raw)
        response.body = b"".join(body)

    def read_until_close(self) -> bytes:
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data

    def closed_within(self, timeout: float) -> bool:
        """True if the server closes the connection within ``timeout`` seconds.

        The server must send nothing more meanwhile: any byte is a test failure.
        """
        assert not self.buffer, f"unread bytes before the close: {self.buffer!r}"
        self.sock.settimeout(timeout)
        try:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            except TimeoutError:
                return False
        finally:
            self.sock.settimeout(self.timeout)
        assert not data, f"unexpected bytes instead of a close: {data!r}"
        self.eof = True
        return True

    def nothing_within(self, timeout: float) -> bool:
        """True if the server sends nothing (and does not close) for ``timeout`` s."""
        if self.buffer:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
        self.buffer += data
        return False
