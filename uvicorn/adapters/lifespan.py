"""The ASGI lifespan protocol: startup before serving, shutdown after.

``--lifespan on`` requires the app to support it: a startup failure (or an
exception) stops the server, which exits with status 3. ``auto`` tolerates apps
that raise on the ``lifespan`` scope type (they do not support it) and carries
on; a failure the app *reports* (``lifespan.startup.failed``) still stops the
server. ``off`` never sends the scope. ``state`` is the dict the app fills during
startup; every request scope receives a shallow copy of it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application, Message

__all__ = ["Lifespan", "LifespanOff", "LifespanOn"]

logger = logging.getLogger("uvicorn.error")


class LifespanOff:
    """No lifespan: startup and shutdown are immediate; ``state`` stays empty."""

    def __init__(self, app: ASGI3Application, mode: str = "off") -> None:
        self.should_exit = False
        self.state: dict[str, Any] = {}

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class LifespanOn:
    def __init__(self, app: ASGI3Application, mode: str = "on") -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.should_exit = False
        self.error_occured = False
        self.startup_failed = False
        self.shutdown_failed = False
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        logger.info("Waiting for application startup.")
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._inbox.put({"type": "lifespan.startup"})
        await self._startup_done.wait()
        if self.startup_failed or (self.error_occured and self.mode == "on"):
            logger.error("Application startup failed. Exiting.")
            self.should_exit = True
        else:
            logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        if self.error_occured:
            return
        logger.info("Waiting for application shutdown.")
        await self._inbox.put({"type": "lifespan.shutdown"})
        await self._shutdown_done.wait()
        if self.shutdown_failed or (self.error_occured and self.mode == "on"):
            logger.error("Application shutdown failed. Exiting.")
            self.should_exit = True
        else:
            logger.info("Application shutdown complete.")

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self.receive, self.send)
        except BaseException as exc:
            self.error_occured = True
            if self.startup_failed or self.shutdown_failed:
                return
            if self.mode == "auto":
                logger.info("ASGI 'lifespan' protocol appears unsupported.")
            else:
                logger.error("Exception in 'lifespan' protocol\n", exc_info=exc)
        finally:
            self._startup_done.set()
            self._shutdown_done.set()

    async def receive(self) -> Message:
        return await self._inbox.get()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self._check(not self._startup_done.is_set(), kind)
            self._startup_done.set()
        elif kind == "lifespan.startup.failed":
            self._check(not self._startup_done.is_set(), kind)
            self.startup_failed = True
            self._startup_done.set()
            if message.get("message"):
                logger.error(message["message"])
        elif kind == "lifespan.shutdown.complete":
            self._check(self._startup_done.is_set() and not self._shutdown_done.is_set(), kind)
            self._shutdown_done.set()
        elif kind == "lifespan.shutdown.failed":
            self._check(self._startup_done.is_set() and not self._shutdown_done.is_set(), kind)
            self.shutdown_failed = True
            self._shutdown_done.set()
            if message.get("message"):
                logger.error(message["message"])
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message type {kind!r}.")

    @staticmethod
    def _check(ok: bool, kind: str) -> None:
        if not ok:
            raise RuntimeError(f"ASGI lifespan message {kind!r} sent out of order.")


Lifespan = LifespanOn | LifespanOff
