"""``Config``: validated settings plus ``load()``, which composes the server once.

Every option of :mod:`uvicorn.server.options` is an attribute of the same name
(``config.port``, ``config.limit_max_requests``), as code written for uvicorn
expects. ``load()`` imports the app, picks the adapter, the HTTP backend and the
lifespan handler, builds the pipeline, and freezes it all into a
:class:`ServerContext` the connections read.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from uvicorn.observability.access_format import compile_access_format
from uvicorn.observability.logging import (
    LOG_LEVELS,
    LOGGING_CONFIG,
    TRACE_LOG_LEVEL,
    configure_logging,
)
from uvicorn.server.loading import (
    STARTUP_FAILURE,
    AppLoadError,
    exit_on_load_error,
    import_from_string,
    resolve_app,
)
from uvicorn.server.options import (
    HTTP_CHOICES,
    INTERFACE_CHOICES,
    LIFESPAN_CHOICES,
    LOG_FORMAT_CHOICES,
    LOOP_CHOICES,
    OPTIONS,
    PYTHON_ONLY_DEFAULTS,
    WS_CHOICES,
)

if TYPE_CHECKING:
    from uvicorn.adapters.lifespan import Lifespan
    from uvicorn.observability.metrics import MetricsState
    from uvicorn.server.protocols.context import ServerContext

__all__ = ["LOGGING_CONFIG", "STARTUP_FAILURE", "Config", "create_ssl_context"]

logger = logging.getLogger("uvicorn.error")

_DEFAULTS: dict[str, Any] = {option.name: option.default for option in OPTIONS}
_DEFAULTS["log_config"] = LOGGING_CONFIG
_DEFAULTS["headers"] = None
_DEFAULTS.update(PYTHON_ONLY_DEFAULTS)
_NOT_CONFIG = {"app_dir"}  # a run()/CLI setting, applied before the app is imported


def create_ssl_context(
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str] | None,
    password: str | None,
    ssl_version: int,
    cert_reqs: int,
    ca_certs: str | os.PathLike[str] | None,
    ciphers: str | None,
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl_version)
    get_password = (lambda: password) if password else None
    context.load_cert_chain(certfile, keyfile, get_password)
    context.verify_mode = ssl.VerifyMode(cert_reqs)
    if ca_certs:
        context.load_verify_locations(ca_certs)
    if ciphers:
        context.set_ciphers(ciphers)
    return context


class Config:
    host: str
    port: int
    uds: str | None
    fd: int | None
    workers: int
    loop: str
    http: str | type[asyncio.Protocol]
    ws: str
    ws_max_size: int
    ws_max_queue: int
    ws_ping_interval: float | None
    ws_ping_timeout: float | None
    ws_per_message_deflate: bool
    lifespan: str
    interface: str
    env_file: str | os.PathLike[str] | None
    log_config: dict[str, Any] | str | os.PathLike[str] | None
    log_level: str | int | None
    access_log: bool
    log_format: str
    access_log_format: str | None
    use_colors: bool | None
    proxy_headers: bool
    server_header: bool
    date_header: bool
    forwarded_allow_ips: str | list[str]
    root_path: str
    limit_concurrency: int | None
    backlog: int
    limit_max_requests: int | None
    limit_max_requests_jitter: int
    timeout_keep_alive: int
    limit_request_line: int
    limit_request_fields: int
    limit_request_field_size: int
    limit_request_body: int
    timeout_request_header: float
    timeout_request_body: float
    min_request_body_rate: int
    timeout_graceful_shutdown: int | None
    timeout_worker_healthcheck: int
    ssl_keyfile: str | os.PathLike[str] | None
    ssl_certfile: str | os.PathLike[str] | None
    ssl_keyfile_password: str | None
    ssl_version: int
    ssl_cert_reqs: int
    ssl_ca_certs: str | os.PathLike[str] | None
    ssl_ciphers: str | None
    headers: list[tuple[str, str]]
    h11_max_incomplete_event_size: int | None
    reset_contextvars: bool
    factory: bool
    reload: bool
    reload_dirs: list[str]
    reload_includes: list[str]
    reload_excludes: list[str]
    reload_delay: float
    metrics_port: int | None
    metrics_host: str
    callback_notify: Callable[..., Awaitable[None]] | None
    timeout_notify: int
    ssl_context_factory: Callable[[Config, Callable[[], ssl.SSLContext]], ssl.SSLContext] | None

    def __init__(self, app: Any, **options: Any) -> None:
        unknown = sorted(set(options) - set(_DEFAULTS) - _NOT_CONFIG)
        if unknown:
            raise TypeError(f"Config got unexpected keyword argument(s): {', '.join(unknown)}")
        self.app = app
        for name, default in _DEFAULTS.items():
            setattr(self, name, options.get(name, default))
        self.app_dir = options.get("app_dir")
        self.headers = list(self.headers or [])
        self.loaded = False
        self.metrics_dir: str | None = None  # set by a supervisor: workers report there
        self.metrics_state: MetricsState | None = None
        self.reload_dirs = [str(d) for d in (self.reload_dirs or [])]
        self.reload_includes = list(self.reload_includes or [])
        self.reload_excludes = list(self.reload_excludes or [])
        if self.reload and options.get("workers") not in (None, 1):
            raise ValueError(
                "--reload and --workers are mutually exclusive: reload runs one worker."
            )
        self.should_reload = bool(self.reload and isinstance(app, str))
        if (self.reload_dirs or self.reload_includes or self.reload_excludes) and not self.reload:
            logger.warning("The --reload-* options have no effect without --reload.")

        if self.env_file is not None:
            self._load_env_file(self.env_file)
        # Asked for workers (even one): serve under the supervisor, which can roll
        # them on SIGHUP; otherwise one process serves directly, as uvicorn does.
        self.supervised = self.workers is not None or "WEB_CONCURRENCY" in os.environ
        if self.workers is None:
            self.workers = int(os.environ.get("WEB_CONCURRENCY", 1))
        if self.forwarded_allow_ips is None:
            self.forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
        self._check_choice("lifespan", LIFESPAN_CHOICES)
        self._check_choice("interface", INTERFACE_CHOICES)
        self._check_choice("log_format", LOG_FORMAT_CHOICES)
        self._check_choice("ws", WS_CHOICES)
        if self.access_log_format is not None:
            compile_access_format(self.access_log_format)  # a bad atom fails here, not per request
        if isinstance(self.loop, str) and ":" not in self.loop:
            self._check_choice("loop", LOOP_CHOICES)
        if isinstance(self.http, str) and ":" not in self.http:
            self._check_choice("http", HTTP_CHOICES)
        if isinstance(self.log_level, str) and self.log_level not in LOG_LEVELS:
            raise ValueError(
                f"Invalid log_level {self.log_level!r}; choose from {list(LOG_LEVELS)}"
            )
        if self.app_dir is not None:
            sys.path.insert(0, str(self.app_dir))
        self.configure_logging()

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, name)
        if value not in choices:
            raise ValueError(f"Invalid {name} {value!r}; choose from {', '.join(choices)}")

    @staticmethod
    def _load_env_file(path: str | os.PathLike[str]) -> None:
        if not os.path.isfile(path):
            logger.warning("Environment file %s not found.", path)
            return
        logger.info("Loading environment from '%s'", path)
        from dotenv import load_dotenv

        load_dotenv(dotenv_path=path)

    # uvicorn's read-only views ----------------------------------------------------

    @property
    def asgi_version(self) -> str:
        return "2.0" if self.interface == "asgi2" else "3.0"

    @property
    def is_ssl(self) -> bool:
        return bool(self.ssl_keyfile or self.ssl_certfile or self.ssl_context_factory)

    @property
    def use_subprocess(self) -> bool:
        return bool(self.reload or self.workers > 1 or self.supervised)

    # setup ------------------------------------------------------------------------------

    def configure_logging(self) -> None:
        configure_logging(
            self.log_config,
            self.log_level,
            self.access_log,
            self.use_colors,
            self.log_format,
            self.access_log_format is not None,
        )

    def get_loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        loop = self.loop
        if loop == "auto":
            loop = "uvloop" if _uvloop_usable() else "asyncio"
        if loop == "asyncio":
            return asyncio.SelectorEventLoop if sys.platform != "win32" else None
        if loop == "uvloop":
            import uvloop

            return uvloop.new_event_loop
        try:
            factory = import_from_string(loop)
        except Exception as exc:
            logger.error("Error loading custom loop setup function. %s", exc)
            sys.exit(STARTUP_FAILURE)
        return factory  # type: ignore[no-any-return]

    def setup_event_loop(self) -> None:
        """Kept for code written against older uvicorn; loops are made per run now."""

    def bind_socket(self) -> socket.socket:
        from uvicorn.server.sockets import bind_config_socket

        return bind_config_socket(self)

    def http_backend_name(self) -> str:
        if self.http == "auto":
            return "httptools" if importlib.util.find_spec("httptools") else "h11"
        return str(self.http)

    def load(self) -> None:
        """Resolve the app, adapters, backend and pipeline once; exit 3 if the app is unusable."""
        assert not self.loaded
        from uvicorn.adapters.lifespan import LifespanOff, LifespanOn
        from uvicorn.server.composition import compose

        if self.ssl_context_factory is not None:
            default = self._default_ssl_context
            self.ssl: ssl.SSLContext | None = self.ssl_context_factory(self, default)
        elif self.is_ssl:
            self.ssl = self._default_ssl_context()
        else:
            self.ssl = None
        self.encoded_headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers
        ]
        try:
            self.loaded_app = resolve_app(self.app, self.factory)
        except AppLoadError as exc:
            exit_on_load_error(exc)
        self.context: ServerContext
        try:
            self.context, self.loaded_app, self.interface = compose(self, self.loaded_app)
        except ModuleNotFoundError as exc:  # a backend chosen by name whose package is absent
            exit_on_load_error(
                AppLoadError(
                    f"Error setting up the server: the {exc.name!r} package is not installed; "
                    "install it or choose another --http, --ws or --interface."
                )
            )
        self.lifespan_class: type[Lifespan] = LifespanOff if self.lifespan == "off" else LifespanOn
        if isinstance(self.http, str) and ":" in self.http:
            self.http_protocol_class: type[asyncio.Protocol] | None = import_from_string(self.http)
        elif isinstance(self.http, type):
            self.http_protocol_class = self.http
        else:
            self.http_protocol_class = None
        self.loaded = True

    def make_lifespan(self) -> Lifespan:
        return self.lifespan_class(self.loaded_app, self.lifespan)

    def _default_ssl_context(self) -> ssl.SSLContext:
        if not self.ssl_certfile:
            raise RuntimeError("ssl_certfile is required to build the default SSL context.")
        return create_ssl_context(
            certfile=self.ssl_certfile,
            keyfile=self.ssl_keyfile,
            password=self.ssl_keyfile_password,
            ssl_version=self.ssl_version,
            cert_reqs=self.ssl_cert_reqs,
            ca_certs=self.ssl_ca_certs,
            ciphers=self.ssl_ciphers,
        )

    @property
    def trace_enabled(self) -> bool:
        return logging.getLogger("uvicorn.error").isEnabledFor(TRACE_LOG_LEVEL)

    def app_label(self) -> str:
        return self.app if isinstance(self.app, str) else repr(self.app)


def _uvloop_usable() -> bool:
    if sys.platform in ("win32", "cygwin") or sys.implementation.name == "pypy":
        return False
    return importlib.util.find_spec("uvloop") is not None
