"""``--log-level trace``: log every ASGI message to and from the app.

Only composed into the pipeline when trace logging is on at start-up, so normal
serving never pays for it. Bodies are logged by size, not content.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from uvicorn.observability.logging import TRACE_LOG_LEVEL

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application, Message, Receive, Scope, Send

__all__ = ["MessageLogger"]

logger = logging.getLogger("uvicorn.asgi")


def _summary(message: Message) -> dict[str, Any]:
    shown = dict(message)
    for key in ("body", "bytes", "text"):
        if key in shown and shown[key] is not None:
            shown[key] = f"<{len(shown[key])} {'chars' if key == 'text' else 'bytes'}>"
    return shown


class MessageLogger:
    def __init__(self, app: ASGI3Application) -> None:
        self.app = app
        self.counter = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.counter += 1
        task = f"ASGI [{self.counter}]"
        client = scope.get("client")
        prefix = "%s:%d - %s" % (client[0], client[1], task) if client else task

        async def logged_receive() -> Message:
            message = await receive()
            logger.log(TRACE_LOG_LEVEL, "%s Receive %r", prefix, _summary(message))
            return message

        async def logged_send(message: Message) -> None:
            logger.log(TRACE_LOG_LEVEL, "%s Send %r", prefix, _summary(message))
            await send(message)

        logger.log(TRACE_LOG_LEVEL, "%s Started scope=%r", prefix, _summary(scope))
        try:
            await self.app(scope, logged_receive, logged_send)
        except BaseException:
            logger.log(TRACE_LOG_LEVEL, "%s Raised exception", prefix)
            raise
        logger.log(TRACE_LOG_LEVEL, "%s Completed", prefix)
