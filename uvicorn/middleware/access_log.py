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

import asyncio
import http
import logging
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote

from uvicorn.observability.logging import AccessFormatter

if TYPE_CHECKING:
    from uvicorn._types import Observer, RequestRecord

__all__ = ["AccessLog", "access_log_observer", "request_target"]

DEFAULT_ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'
_SAFE_PATH = "/:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?%"


def request_target(path: str, query_string: bytes) -> str:
    """The path as it goes into a log line: percent-encoded, so no control character survives."""
    target = quote(path, safe=_SAFE_PATH)
    if query_string:
        return target + "?" + quote(query_string.decode("latin-1"), safe=_SAFE_QUERY)
    return target


def _status_texts(use_colors: bool) -> dict[int, str]:
    formatter = AccessFormatter(use_colors=use_colors)
    return {int(status): formatter.get_status_code(int(status)) for status in http.HTTPStatus}


class AccessLog:
    """Observer that logs each finished request to ``uvicorn.access``."""

    def __init__(self) -> None:
        self.logger = logging.getLogger("uvicorn.access")
        self.stream: TextIO | None = None
        self.handler: logging.Handler | None = None
        self.buffer: list[str] = []
        handler = self._default_handler()
        if handler is not None:
            formatter = handler.formatter
            assert isinstance(formatter, AccessFormatter)
            self.handler = handler
            self.stream = handler.stream  # type: ignore[attr-defined]
            self.use_colors = formatter.use_colors
            level = logging.INFO
            name = logging.getLevelName(level)
            prefix = formatter.color_level_name(name, level) if self.use_colors else name
            self.prefix = f"{prefix}:{' ' * (8 - len(name))} "
            self.status_texts = _status_texts(self.use_colors)

    def _default_handler(self) -> logging.Handler | None:
        logger = self.logger
        if logger.propagate or logger.filters or len(logger.handlers) != 1:
            return None
        handler = logger.handlers[0]
        formatter = handler.formatter
        if (
            type(handler) is not logging.StreamHandler
            or handler.filters
            or type(formatter) is not AccessFormatter
            or formatter._fmt != DEFAULT_ACCESS_FORMAT
        ):
            return None
        return handler

    def __call__(self, record: RequestRecord) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        scope = record.scope
        client = scope.get("client")
        client_addr = "%s:%d" % (client[0], client[1]) if client else "-"
        target = request_target(scope["path"], scope["query_string"])
        if self.stream is None:
            logger.info(
                '%s - "%s %s HTTP/%s" %d',
                client_addr,
                scope["method"],
                target,
                scope["http_version"],
                record.status,
                extra={"request_record": record},
            )
            return
        status = record.status
        status_text = self.status_texts.get(status) or f"{status} "
        request_line = f"{scope['method']} {target} HTTP/{scope['http_version']}"
        if self.use_colors:
            request_line = f"\x1b[1m{request_line}\x1b[0m"
        buffer = self.buffer
        buffer.append(f'{self.prefix}{client_addr} - "{request_line}" {status_text}\n')
        if len(buffer) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write the batched lines; runs once per event-loop iteration that logged."""
        if not self.buffer:
            return
        text = "".join(self.buffer)
        self.buffer.clear()
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


def access_log_observer() -> Observer:
    return AccessLog()
