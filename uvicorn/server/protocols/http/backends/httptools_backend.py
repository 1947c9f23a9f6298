"""Request parsing with httptools (llhttp): callbacks straight into the sink."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httptools

from uvicorn.server.protocols.http.head import HeadError, build_head

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.backends.base import RequestSink

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

    __slots__ = ("_headers", "_keep_alive", "_parser", "_sink", "_stopped", "_url")

    def __init__(self, sink: RequestSink, max_incomplete_event_size: int) -> None:
        self._sink = sink
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._stopped = False
        self._keep_alive = True

    def feed(self, data: bytes) -> None:
        if self._stopped:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self._stopped:
                return
            offset = exc.args[0] if exc.args else len(data)
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

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if self._stopped:
            return
        parser = self._parser
        url = self._url
        headers = self._headers
        self._url = b""
        self._headers = []
        try:
            head = build_head(
                _method_name(parser.get_method()), url, parser.get_http_version(), headers
            )
        except HeadError as exc:
            self._stopped = True
            self._sink.on_error(exc.status, exc.reason)
            return
        self._keep_alive = head.keep_alive
        self._sink.on_head(head)

    def on_body(self, body: bytes) -> None:
        if not self._stopped:
            self._sink.on_body(body)

    def on_message_complete(self) -> None:
        if self._stopped:
            return
        if not self._keep_alive:
            self._stopped = True
        self._sink.on_end()


def _error_reason(exc: Exception) -> str:
    return f"{exc}." if exc.args else "malformed request."
