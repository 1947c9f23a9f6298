"""``uvicorn.main.main`` (the click command) and ``uvicorn.main.run``, where uvicorn keeps them."""

from uvicorn.cli import main
from uvicorn.server.loading import STARTUP_FAILURE
from uvicorn.server.run import run

__all__ = ["STARTUP_FAILURE", "main", "run"]
