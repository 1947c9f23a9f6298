"""Write-side flow control, shared by the HTTP and WebSocket connections.

asyncio calls ``pause_writing`` when a transport's buffer passes its high-water
mark and ``resume_writing`` when it drains below the low one. A sender that
must not outrun a slow client awaits :meth:`WriteFlow.drain` while paused; all
senders wait on one future, released on resume or when the connection is lost
(nothing will drain then, and the sender must see the loss instead of hanging).
"""

from __future__ import annotations

import asyncio

__all__ = ["WriteFlow"]


class WriteFlow:
    __slots__ = ("loop", "paused", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self._release()

    def lost(self) -> None:
        """The connection is gone: stop waiting for a drain that will never come."""
        self.paused = False
        self._release()

    async def drain(self) -> None:
        if not self.paused:
            return
        waiter = self.waiter
        if waiter is None:
            waiter = self.waiter = self.loop.create_future()
        await waiter

    def _release(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
