"""Metrics as pipeline hooks: an observer per finished request, counters for the rest.

Composed only with ``--metrics-port``; otherwise none of these exist and the
core's hook slots stay ``None``. Each hook feeds one
:class:`~uvicorn.observability.metrics.MetricsState`: a tuple queued per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uvicorn.observability.metrics import FOLD_EVERY, MetricsState

if TYPE_CHECKING:
    from uvicorn._types import RequestRecord

__all__ = ["MetricsHooks"]


class MetricsHooks:
    def __init__(self, state: MetricsState) -> None:
        self.state = state
        self._pending = state.pending
        self._fold = state.fold

    def observe(self, record: RequestRecord) -> None:
        """Queue this request's sample; every FOLD_EVERY, fold the queue."""
        scope = record.scope
        pending = self._pending
        pending.append(
            (
                scope["method"],
                record.status,
                scope["scheme"],
                scope["http_version"],
                record.finished_at - record.started_at,
                record.request_body_size,
                record.response_body_size,
            )
        )
        if len(pending) >= FOLD_EVERY:
            self._fold()

    def rejected(self, reason: str) -> None:
        self.state.rejected_request(reason)
