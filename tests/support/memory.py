"""An in-memory transport for driving protocol cores on a real event loop.

No sockets: the test decides exactly how the input is cut into ``data_received``
calls, when the loop runs, and when the transport asks for back-pressure, so
segmentation and flow control are tested deterministically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.server.protocols.context import ServerContext, ServerState
from uvicorn.server.protocols.http.backends import backend_factory
from uvicorn.server.protocols.http.connection import HTTPConnection
from uvicorn.server.protocols.http.limits import Limits

__all__ = ["MemoryTransport", "open_connection", "run_until"]


class MemoryTransport(asyncio.Transport):
    """Records what the protocol writes and how it steers the transport."""

    def __init__(
        self,
        peername: tuple[str, int] = ("127.0.0.1", 50000),
        sockname: tuple[str, int] = ("127.0.0.1", 8000),
    ) -> None:
        super().__init__()
        self.output = bytearray()
        self.writes: list[bytes] = []
        self.closed = False
        self.reading_paused = False
        self.pause_calls = 0
        self.resume_calls = 0
        self.protocol: asyncio.Protocol | None = None
        self._extra: dict[str, Any] = {"peername": peername, "sockname": sockname}

    # asyncio.Transport ---------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        chunk = bytes(data)
        self.writes.append(chunk)
        self.output += chunk

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        protocol = self.protocol
        if protocol is not None:
            # As a real transport does: connection_lost comes on a later loop iteration.
            asyncio.get_running_loop().call_soon(protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading_paused = True
        self.pause_calls += 1

    def resume_reading(self) -> None:
        self.reading_paused = False
        self.resume_calls += 1

    def is_reading(self) -> bool:
        return not self.reading_paused

    # test helpers ----------------------------------------------------------------

    def take(self) -> bytes:
        """Return and forget everything written so far."""
        data = bytes(self.output)
        self.output.clear()
        return data


async def run_until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    """Let the loop run until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0)


def open_connection(
    app: Any, backend: str, limits: Limits | None = None, timeout_keep_alive: float = 5.0
) -> tuple[HTTPConnection, MemoryTransport]:
    """An HTTP connection as the server builds it, made on a :class:`MemoryTransport`.

    Call inside a running loop. No ``date`` header, so outputs compare byte for byte.
    """
    context = ServerContext(
        app=app,
        asgi_version="3.0",
        backend_factory=backend_factory(backend),
        limits=limits or Limits(),
        timeout_keep_alive=timeout_keep_alive,
        prepare_scope=None,
        admission=None,
        observers=(),
        reset_contextvars=False,
        log_trace=False,
    )
    conn = HTTPConnection(context, ServerState(date_header=False), {}, asyncio.get_running_loop())
    transport = MemoryTransport()
    transport.protocol = conn
    conn.connection_made(transport)
    return conn, transport
