"""gunicorn worker classes: ``gunicorn app:app -k uvicorn.workers.UvicornWorker``.

gunicorn owns the processes (its arbiter binds, forks, restarts and signals);
each worker runs the same :class:`~uvicorn.server.server.Server` the ``uvicorn``
command runs, on the sockets gunicorn hands it. gunicorn's settings map onto
ours: ``bind`` and ``backlog``, ``max_requests`` (with gunicorn's own jitter),
``graceful_timeout``, ``keepalive``, ``forwarded_allow_ips``, the ``limit_request_*``
sizes, TLS (``certfile``, ``keyfile``, ``ca_certs``, ``cert_reqs``, ``ciphers``),
and the access and error logs, which go to gunicorn's handlers.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from uvicorn.server.config import Config
from uvicorn.server.server import Server, run_with_loop

__all__ = ["UvicornH11Worker", "UvicornWorker"]


class UvicornWorker(Worker):  # type: ignore[misc]
    """Runs an ASGI app under gunicorn, on uvloop and httptools when installed."""

    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "http": "auto"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        options: dict[str, Any] = {
            "app": None,
            "log_config": None,  # gunicorn's logging stays in charge
            "access_log": bool(cfg.accesslog),
            "timeout_keep_alive": cfg.keepalive,
            "timeout_notify": self.timeout,
            "callback_notify": self.callback_notify,
            "limit_max_requests": self.max_requests or None,  # gunicorn already added jitter
            "timeout_graceful_shutdown": cfg.graceful_timeout,
            "forwarded_allow_ips": cfg.forwarded_allow_ips,
            "limit_request_line": cfg.limit_request_line,
            "limit_request_fields": cfg.limit_request_fields,
            "limit_request_field_size": cfg.limit_request_field_size,
        }
        if cfg.is_ssl:
            ssl = cfg.ssl_options
            options.update(
                ssl_keyfile=ssl["keyfile"],
                ssl_certfile=ssl["certfile"],
                ssl_version=ssl["ssl_version"],
                ssl_cert_reqs=ssl["cert_reqs"],
                ssl_ca_certs=ssl["ca_certs"],
                ssl_ciphers=ssl["ciphers"],
            )
        backlog = cfg.settings["backlog"].value
        if backlog:
            options["backlog"] = backlog
        options.update(self.CONFIG_KWARGS)
        self.config = Config(**options)
        for name, source in (
            ("uvicorn.error", self.log.error_log),
            ("uvicorn.access", self.log.access_log),
        ):
            logger = logging.getLogger(name)
            logger.handlers = list(source.handlers)
            logger.setLevel(source.level)
            logger.propagate = False

    def init_signals(self) -> None:
        # The Server installs its own SIGINT/SIGTERM handling while it serves;
        # gunicorn's SIGQUIT (quick exit) is installed in _serve, on the loop.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, self.handle_usr1)
        signal.siginterrupt(signal.SIGUSR1, False)

    def run(self) -> None:
        run_with_loop(self._serve(), self.config.get_loop_factory())

    async def _serve(self) -> None:
        self.config.app = self.wsgi  # gunicorn's loaded app object: here, the ASGI app
        server = Server(config=self.config)

        def quick_exit() -> None:
            server.should_exit = True
            server.force_exit = True

        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, quick_exit)
        await server.serve(sockets=[listener.sock for listener in self.sockets])
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)

    async def callback_notify(self) -> None:
        self.notify()


class UvicornH11Worker(UvicornWorker):
    """The pure-Python stack (h11 on the asyncio loop), for PyPy."""

    CONFIG_KWARGS = {"loop": "asyncio", "http": "h11"}
