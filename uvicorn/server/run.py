"""``uvicorn.run``: the Python twin of the command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from uvicorn.server.config import Config
from uvicorn.server.loading import STARTUP_FAILURE
from uvicorn.server.server import Server

__all__ = ["run"]

logger = logging.getLogger("uvicorn.error")


def run(app: Any, **kwargs: Any) -> None:
    """Serve ``app`` (a callable or ``"module:attribute"``) with any option as a keyword.

    Exits with status 3 when the app cannot be loaded or its lifespan startup fails.
    """
    config = Config(app, **kwargs)
    server = Server(config=config)
    if (config.workers > 1 or config.reload) and not isinstance(app, str):
        logger.warning(
            "You must pass the application as an import string to enable 'reload' or 'workers'."
        )
        sys.exit(1)
    supervised = config.workers > 1 or config.reload or (config.supervised and isinstance(app, str))
    try:
        if supervised:
            from uvicorn.server.supervisors.multiprocess import Multiprocess

            sock = config.bind_socket()
            watcher = None
            if config.reload:
                from uvicorn.server.supervisors.watchers import make_watcher

                directories = [Path(d).resolve() for d in config.reload_dirs if Path(d).is_dir()]
                if config.reload_dirs and len(directories) < len(config.reload_dirs):
                    logger.warning("Some --reload-dir values are not directories; ignoring them.")
                watcher = make_watcher(
                    directories or [Path.cwd()],
                    config.reload_includes,
                    config.reload_excludes,
                    config.reload_delay,
                )
            supervisor = Multiprocess(config, sockets=[sock], watcher=watcher)
            supervisor.run()
            if supervisor.exit_code:
                sys.exit(supervisor.exit_code)
        else:
            server.run()
    except KeyboardInterrupt:
        pass  # Ctrl+C after the graceful shutdown: nothing left to do but exit
    finally:
        if config.uds and os.path.exists(config.uds):
            os.remove(config.uds)
    if not supervised and not server.started:
        sys.exit(STARTUP_FAILURE)
