"""``--limit-concurrency``: admission control in front of the app.

Beyond the limit a request is answered 503 by the core without reaching the
app, so an overloaded server sheds load instead of queueing without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvicorn.server.protocols.context import ServerState

__all__ = ["concurrency_admission"]


def concurrency_admission(limit: int) -> Callable[[ServerState], bool]:
    """Admit while open connections and running requests stay within ``limit``.

    Called as a request is about to start: the request's own connection is
    already counted, its task not yet.
    """

    def admit(state: ServerState) -> bool:
        return len(state.connections) <= limit and len(state.tasks) < limit

    return admit
