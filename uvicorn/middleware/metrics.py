"""Metrics as pipeline hooks: an observer of finished requests, counters for the rest.

Composed only with ``--metrics-port``; otherwise none of these exist and the
core's hook slots stay ``None``. Each hook feeds one
:class:`~uvicorn.observability.metrics.MetricsState`.
"""

from __future__ import annotations

from uvicorn.observability.metrics import MetricsState

__all__ = ["MetricsHooks"]


class MetricsHooks:
    def __init__(self, state: MetricsState) -> None:
        self.state = state
        self.observe = state.fold  # a loop iteration's records, folded in one pass

    def rejected(self, reason: str) -> None:
        self.state.rejected_request(reason)
