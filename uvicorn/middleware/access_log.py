"""The access log as a request observer: one line per finished request.

Unlike a wrapper around ``send``, an observer runs once, after the response is
complete, so the line can carry the final status, sizes and duration. Records
keep uvicorn's args ``(client_addr, method, path, http_version, status)`` so
existing formatters and log configs work unchanged.

The stdlib logging path (a LogRecord, a formatter, a locked write and a flush
per request) costs more than serving a small response. When the
``uvicorn.access`` logger is left exactly as the default configuration sets it
up, the observer renders the same line itself and writes the lines of one
event-loop iteration to the handler's stream together: byte-for-byte the same
output, one write per batch instead of one per request. Any other configuration
(``--log-config``, extra handlers, filters, propagation) goes through logging.
"""

from __future__ import annotations

import http
import logging
import os
import time
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, TextIO

from uvicorn.observability.access_format import (
    FRACTIONS,
    NUMBERS,
    PLAIN_PATHS,
    CompiledFormat,
    is_plain_path,
    request_target,
)
from uvicorn.observability.json import JSONFormatter
from uvicorn.observability.logging import ACCESS_MESSAGE_FORMAT, AccessFormatter

if TYPE_CHECKING:
    from uvicorn._types import Observer, RequestRecord

__all__ = ["AccessLog", "access_log_observer", "request_target"]

DEFAULT_ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


def _status_texts(use_colors: bool) -> dict[int, str]:
    formatter = AccessFormatter(use_colors=use_colors)
    return {int(status): formatter.get_status_code(int(status)) for status in http.HTTPStatus}


class AccessLog:
    """Observer that logs each finished request to ``uvicorn.access``.

    ``access_format`` is the compiled ``--access-log-format``, or None for uvicorn's
    line. The fast path is taken when the logger's one handler still has the
    formatter the default configuration gave it: uvicorn's access line, the
    message line used with ``--access-log-format``, or JSON.
    """

    def __init__(self, access_format: CompiledFormat | None = None) -> None:
        self.logger = logging.getLogger("uvicorn.access")
        self.access_format = access_format
        self.stream: TextIO | None = None
        self.handler: logging.Handler | None = None
        self.json: JSONFormatter | None = None
        self.clients: dict[tuple[str, int] | None, tuple[str, str, str]] = {}
        self.agents: dict[bytes, str] = {}  # User-Agent -> JSON string (_new_agent)
        self.clock = _Clock()
        self.pid = os.getpid()
        self.prefix = ""
        self.use_colors = False
        self.status_texts: dict[int, str] = {}
        handler = self._default_handler()
        if handler is not None:
            self.handler = handler
            self.stream = handler.stream  # type: ignore[attr-defined]
            formatter = handler.formatter
            if isinstance(formatter, JSONFormatter):
                self.json = formatter
            else:
                assert isinstance(formatter, AccessFormatter)
                self.use_colors = formatter.use_colors
                name = logging.getLevelName(logging.INFO)
                shown = formatter.color_level_name(name, logging.INFO) if self.use_colors else name
                self.prefix = f"{shown}:{' ' * (8 - len(name))} "
                self.status_texts = _status_texts(self.use_colors)

    def _default_handler(self) -> logging.Handler | None:
        logger = self.logger
        if logger.propagate or logger.filters or len(logger.handlers) != 1:
            return None
        handler = logger.handlers[0]
        formatter = handler.formatter
        if type(handler) is not logging.StreamHandler or handler.filters:
            return None
        if type(formatter) is JSONFormatter:
            return handler
        expected = DEFAULT_ACCESS_FORMAT if self.access_format is None else ACCESS_MESSAGE_FORMAT
        if type(formatter) is AccessFormatter and formatter._fmt == expected:
            return handler
        return None

    def __call__(self, records: list[RequestRecord]) -> None:
        """Log one loop iteration's finished requests."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        if self.stream is None:
            for record in records:
                self._log(record)
            return
        lines = self._json_lines(records) if self.json is not None else self._text_lines(records)
        self._write("".join(lines))

    def _log(self, record: RequestRecord) -> None:
        """Through logging: any handler, filter or formatter a user configured."""
        if self.access_format is not None:
            self.logger.info(
                "%s", self.access_format.render(record), extra={"request_record": record}
            )
            return
        self.logger.info(_UVICORN_LINE, *_uvicorn_args(record), extra={"request_record": record})

    def _new_client(self, client: tuple[str, int] | None) -> tuple[str, str, str]:
        """``host:port`` as text and JSON-escaped (without quotes), and the two JSON
        client fields, for ``self.clients``: made once per client address, which all
        the requests of a keep-alive connection share."""
        if len(self.clients) >= 4096:
            self.clients.clear()
        if client:
            client_addr = "%s:%d" % (client[0], client[1])
            known = (
                client_addr,
                _string(client_addr)[1:-1],
                f'"client.address":{_string(client[0])},"client.port":{client[1]}',
            )
        else:
            known = ("-", "-", '"client.address":null,"client.port":null')
        self.clients[client] = known
        return known

    def _new_agent(self, value: bytes) -> str:
        """A User-Agent as a JSON string, for ``self.agents``: a client sends the same
        one with every request, and a fleet of clients has a handful."""
        if len(self.agents) >= 1024:
            self.agents.clear()
        text = self.agents[value] = _string(value.decode("latin-1"))
        return text

    def _text_lines(self, records: list[RequestRecord]) -> list[str]:
        prefix = self.prefix
        if self.access_format is not None:
            render = self.access_format.render
            return [f"{prefix}{render(record)}\n" for record in records]
        status_texts = self.status_texts
        bold, plain = ("\x1b[1m", "\x1b[0m") if self.use_colors else ("", "")
        clients = self.clients
        plain_paths = PLAIN_PATHS
        lines = []
        for record in records:
            scope = record.scope
            client = scope.get("client")
            client_addr = (clients.get(client) or self._new_client(client))[0]
            path = scope["path"]
            query = scope["query_string"]
            # the usual request, a plain path seen before, is its own log target
            target = path if not query and plain_paths.get(path) else request_target(path, query)
            status = record.status
            status_text = status_texts.get(status) or f"{status} "
            lines.append(
                f'{prefix}{client_addr} - "{bold}{scope["method"]} {target} '
                f'HTTP/{scope["http_version"]}{plain}" {status_text}\n'
            )
        return lines

    def _json_lines(self, records: list[RequestRecord]) -> list[str]:
        """The JSON records, byte for byte what JSONFormatter renders for the same
        requests on the logging path (same key order, same escaping), written out
        directly: no LogRecord, no dict and no json.dumps per request. The lines of
        one batch share a timestamp (they finished in the same loop iteration).

        Escaped here are only the values a client can choose: the path, the query,
        the User-Agent and a forwarded client address. The method is a token (both
        parsers refuse anything else), the scheme one of four words (the proxy
        layer accepts no other), the version "1.0" or "1.1", and the log target
        percent-encoded: none of them holds a character JSON escapes.
        """
        head = (
            f'{{"timestamp":"{self.clock.now()}","level":"info","logger":"uvicorn.access",'
            '"message":'
        )
        tail = f',"worker.pid":{self.pid}}}\n'
        render = self.access_format.render if self.access_format is not None else None
        clients = self.clients
        agents = self.agents
        plain_paths = PLAIN_PATHS
        lines = []
        for record in records:
            scope = record.scope
            client = scope.get("client")
            known = clients.get(client) or self._new_client(client)
            method = scope["method"]
            version = scope["http_version"]
            status = record.status
            code = NUMBERS[status] if status < 1000 else str(status)
            path = scope["path"]
            query = scope["query_string"]
            if not query and (plain_paths.get(path) or is_plain_path(path)):
                # the usual request: the path is its own log target, nothing to escape
                target = path
                path_json = path
                query_json = ""
            else:
                target = request_target(path, query)
                path_json = _string(path)[1:-1]
                query_json = _string(query.decode("latin-1"))[1:-1] if query else ""
            if render is None:  # _UVICORN_LINE, JSON-escaped
                message = f'"{known[1]} - \\"{method} {target} HTTP/{version}\\" {code}"'
            else:
                message = _string(render(record))
            # duration_ms(), inlined: a function call is a tenth of this loop's cost
            microseconds = int((record.finished_at - record.started_at) * 1_000_000 + 0.5)
            milliseconds = microseconds // 1000
            whole = NUMBERS[milliseconds] if milliseconds < 1000 else str(milliseconds)
            user_agent = "null"
            for key, value in scope["headers"]:
                if key == b"user-agent":
                    user_agent = agents.get(value) or self._new_agent(value)
                    break
            size = record.response_body_size
            lines.append(
                f'{head}{message},{known[2]},"http.request.method":"{method}",'
                f'"url.path":"{path_json}","url.query":"{query_json}",'
                f'"url.scheme":"{scope["scheme"]}","network.protocol.version":"{version}",'
                f'"http.response.status_code":{code},'
                f'"http.response.body.size":{NUMBERS[size] if size < 1000 else size},'
                f'"user_agent.original":{user_agent},'
                f'"duration_ms":{whole}{FRACTIONS[microseconds % 1000]}{tail}'
            )
        return lines

    def _write(self, text: str) -> None:
        """One write and flush for a batch of lines, under the handler's lock (the
        same lock the logging path takes, so lines never interleave)."""
        handler = self.handler
        assert handler is not None and self.stream is not None
        handler.acquire()
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:
            handler.handleError(logging.makeLogRecord({"msg": text}))
        finally:
            handler.release()


_UVICORN_LINE = '%s - "%s %s HTTP/%s" %d'


def _uvicorn_args(record: RequestRecord) -> tuple[str, str, str, str, int]:
    """uvicorn's access-record args: (client_addr, method, path, http_version, status)."""
    scope = record.scope
    client = scope.get("client")
    return (
        "%s:%d" % (client[0], client[1]) if client else "-",
        scope["method"],
        request_target(scope["path"], scope["query_string"]),
        scope["http_version"],
        record.status,
    )


_string = encode_basestring  # JSON string escaping, as json.dumps(ensure_ascii=False) does


class _Clock:
    """RFC 3339 UTC timestamps with milliseconds, formatted once per millisecond (under
    load many lines share one) and the date part once a second."""

    __slots__ = ("millisecond", "prefix", "second", "stamp")

    def __init__(self) -> None:
        self.second = -1
        self.millisecond = -1
        self.prefix = ""
        self.stamp = ""

    def now(self) -> str:
        now = time.time()
        millisecond = int(now * 1000)
        if millisecond == self.millisecond:
            return self.stamp
        self.millisecond = millisecond
        second = millisecond // 1000
        if second != self.second:
            self.second = second
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self.stamp = stamp = "%s.%03dZ" % (self.prefix, millisecond - second * 1000)
        return stamp


def access_log_observer(access_format: CompiledFormat | None = None) -> Observer:
    return AccessLog(access_format)
