"""``--log-format json``: every log record as one JSON object per line.

Rendered by structlog's JSON renderer from the stdlib records, so users'
handlers, filters and levels keep working. Fields (SPEC §6): ``timestamp``
(RFC 3339, UTC), ``level``, ``logger``, ``message``; access records add the
request fields of :func:`~uvicorn.observability.access_format.json_fields`;
exceptions add ``error.type``, ``error.message`` and ``error.stack_trace``.
JSON string escaping already keeps control characters out of the line.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

import structlog

from uvicorn.observability.access_format import json_fields

__all__ = ["JSONFormatter"]


def _dumps(event: Any, **kwargs: Any) -> str:
    return json.dumps(event, ensure_ascii=False, default=str, separators=(",", ":"))


class JSONFormatter(logging.Formatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Accepts (and ignores) fmt/datefmt/use_colors so it can replace the default
        # formatters in a dictConfig without other changes: a JSON line has no template.
        super().__init__()
        self._render = structlog.processors.JSONRenderer(serializer=_dumps)

    def event(self, record: logging.LogRecord) -> dict[str, Any]:
        event: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            # text logs end some messages with a newline before the traceback
            # ("Exception in ASGI application\n"); a JSON field has no use for it
            "message": record.getMessage().rstrip("\n"),
        }
        request_record = record.__dict__.get("request_record")
        if request_record is not None:
            event.update(json_fields(request_record))
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            event["error.type"] = type(error).__qualname__
            event["error.message"] = str(error)
            event["error.stack_trace"] = self.formatException(record.exc_info)
        return event

    def format(self, record: logging.LogRecord) -> str:
        return str(self._render(None, "", self.event(record)))

    def render(self, event: dict[str, Any]) -> str:
        return str(self._render(None, "", event))
