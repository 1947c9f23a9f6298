"""ASGI2 ("double callable") apps: ``app(scope)`` returns the instance to await."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvicorn._types import ASGI2Application, Receive, Scope, Send

__all__ = ["ASGI2Adapter"]


class ASGI2Adapter:
    __slots__ = ("app",)

    def __init__(self, app: ASGI2Application) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)
