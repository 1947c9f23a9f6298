"""The server: options, config, loading, lifecycle and supervisors.

``uvicorn.server.Server`` and ``uvicorn.server.ServerState`` keep working for code
(and test suites) written against uvicorn.
"""

from uvicorn.server.config import Config
from uvicorn.server.protocols.context import ServerState
from uvicorn.server.server import HANDLED_SIGNALS, Server

__all__ = ["HANDLED_SIGNALS", "Config", "Server", "ServerState"]
