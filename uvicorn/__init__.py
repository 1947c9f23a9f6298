"""An ASGI web server, drop-in compatible with uvicorn, observable and fast."""

from uvicorn.server.config import Config
from uvicorn.server.run import run
from uvicorn.server.server import Server

__version__ = "0.55.0"

__all__ = ["Config", "Server", "__version__", "run"]
