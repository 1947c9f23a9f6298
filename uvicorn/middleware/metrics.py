"""Metrics as pipeline hooks: an observer per finished request, counters for the rest.

Composed only with ``--metrics-port``; otherwise none of these exist and the
core's hook slots stay ``None``. Each hook is a bound method of one
:class:`~uvicorn.observability.metrics.MetricsState`: a dict update per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uvicorn.observability.metrics import MetricsState

if TYPE_CHECKING:
    from uvicorn._types import RequestRecord

__all__ = ["MetricsHooks"]


class MetricsHooks:
    def __init__(self, state: MetricsState) -> None:
        self.state = state
        self._finished = state.request_finished

    def observe(self, record: RequestRecord) -> None:
        scope = record.scope
        self._finished(
            scope["method"],
            scope["scheme"],
            record.status,
            scope["http_version"],
            record.finished_at - record.started_at,
            record.request_body_size,
            record.response_body_size,
        )

    def rejected(self, reason: str) -> None:
        self.state.rejected_request(reason)
