"""Request parsing with httptools (llhttp): callbacks straight into the sink."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httptools

from uvicorn.server.protocols.http.head import HeadError, build_head

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.backends.base import RequestSink
    from uvicorn.server.protocols.http.limits import Limits

__all__ = ["HttpToolsBackend"]

_METHODS: dict[bytes, str] = {}


def _method_name(raw: bytes) -> str:
    name = _METHODS.get(raw)
    if name is None:
        name = raw.decode("ascii")
        if len(_METHODS) < 64:
            _METHODS[raw] = name
    return name


class HttpToolsBackend:
    """llhttp owns the byte-level grammar; :func:`build_head` the framing rules.

    llhttp stops at an ``Upgrade`` request and reports the offset where the other
    protocol begins. No upgrade is served by this backend, so parsing simply
    resumes there with a fresh parser, treating the request as plain HTTP.
    """

    __slots__ = (
        "_head_bytes",
        "_headers",
        "_in_head",
        "_keep_alive",
        "_limits",
        "_parser",
        "_sink",
        "_stopped",
        "_upgrading",
        "_url",
    )

    def __init__(self, sink: RequestSink, limits: Limits) -> None:
        self._sink = sink
        self._limits = limits
        self._in_head = True  # between requests or inside a head: bytes count to max_head
        self._head_bytes = 0
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._stopped = False
        self._keep_alive = True
        self._upgrading = False  # the sink took the connection over at the last head

    def feed(self, data: bytes) -> None:
        if self._stopped:
            return
        if self._in_head:
            # llhttp buffers a header line without bound until it ends; count the
            # bytes of an unfinished head so an endless one is refused early.
            self._head_bytes += len(data)
            if self._head_bytes > self._limits.max_head:
                self._refuse(431, "Request header fields too large.")
                return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args else len(data)
            if self._upgrading:
                self._upgrading = False
                self._stopped = True
                self._sink.on_upgrade(data[offset:])
                return
            if self._stopped:
                return
            self._parser = httptools.HttpRequestParser(self)
            rest = data[offset:]
            if rest:
                self.feed(rest)
        except httptools.HttpParserError as exc:
            if not self._stopped:
                self._stopped = True
                # llhttp refuses a well-formed version it does not speak (HTTP/9.9) itself;
                # h11 passes it on and build_head answers 505: answer the same here.
                if exc.args and exc.args[0] == "Invalid HTTP version":
                    self._sink.on_error(505, "Unsupported HTTP version.")
                else:
                    self._sink.on_error(400, _error_reason(exc))

    def stop(self) -> None:
        self._stopped = True

    # httptools callbacks (no on_message_begin: each head resets the state it used)

    def on_url(self, url: bytes) -> None:
        self._url += url
        limit = self._limits.request_line
        # The line is at least "METHOD SP target SP HTTP/x.y": refuse as soon as that
        # passes the limit, as the h11 backend does, even if the line never ends.
        if limit and len(self._url) + 13 > limit and not self._stopped:
            if len(self._parser.get_method()) + len(self._url) + 10 > limit:
                self._refuse(414, "Request line too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp keeps trailing whitespace, which is not part of the value (RFC 9110 §5.5)
        value = value.rstrip(b" \t")
        headers = self._headers
        headers.append((name.lower(), value))
        limits = self._limits
        if limits.field_size and len(name) + len(value) > limits.field_size:
            self._refuse(431, "Header field too large.")
        elif limits.fields and len(headers) > limits.fields:
            self._refuse(431, "Too many header fields.")

    def _refuse(self, status: int, reason: str) -> None:
        if not self._stopped:
            self._stopped = True
            self._sink.on_error(status, reason)

    def on_headers_complete(self) -> None:
        if self._stopped:
            return
        parser = self._parser
        url = self._url
        headers = self._headers
        self._url = b""
        self._headers = []
        self._in_head = False
        self._head_bytes = 0
        limit = self._limits.request_line
        method = _method_name(parser.get_method())
        if limit and len(method) + len(url) + 10 > limit:  # "METHOD SP target SP HTTP/1.1"
            self._refuse(414, "Request line too long.")
            return
        try:
            head = build_head(method, url, parser.get_http_version(), headers)
        except HeadError as exc:
            self._stopped = True
            self._sink.on_error(exc.status, exc.reason)
            return
        self._keep_alive = head.keep_alive
        if self._sink.on_head(head):
            self._upgrading = True  # llhttp stops at the end of this request: see feed()

    def on_body(self, body: bytes) -> None:
        if not self._stopped:
            self._sink.on_body(body)

    def on_message_complete(self) -> None:
        # llhttp reports trailer fields through on_header: they are dropped here, never
        # left to be taken for the next request's headers.
        self._headers = []
        if self._stopped or self._upgrading:
            return
        if not self._keep_alive:
            self._stopped = True
        self._in_head = True
        self._sink.on_end()


def _error_reason(exc: Exception) -> str:
    return f"{exc}." if exc.args else "malformed request."
