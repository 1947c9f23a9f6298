"""The access log as a request observer: one line per finished request.

Unlike a wrapper around ``send``, an observer runs once, after the response is
complete, so the line can carry the final status, sizes and duration. The
record's args keep uvicorn's shape ``(client_addr, method, path, http_version,
status)`` so existing formatters and log configs work unchanged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from uvicorn._types import Observer, RequestRecord

__all__ = ["access_log_observer", "request_target"]


def request_target(path: str, query_string: bytes) -> str:
    """The path as it goes into a log line: percent-encoded, so no control character survives."""
    target = quote(path, safe="/:@!$&'()*+,;=-._~")
    if query_string:
        return target + "?" + quote(query_string.decode("latin-1"), safe="/:@!$&'()*+,;=-._~?%")
    return target


def access_log_observer() -> Observer:
    logger = logging.getLogger("uvicorn.access")
    is_enabled_for = logger.isEnabledFor
    info = logging.INFO

    def observe(record: RequestRecord) -> None:
        if not is_enabled_for(info):
            return
        scope = record.scope
        client = scope.get("client")
        logger.info(
            '%s - "%s %s HTTP/%s" %d',
            "%s:%d" % (client[0], client[1]) if client else "-",
            scope["method"],
            request_target(scope["path"], scope["query_string"]),
            scope["http_version"],
            record.status,
            extra={"request_record": record},
        )

    return observe
