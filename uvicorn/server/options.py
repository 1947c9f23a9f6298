"""THE option table: every setting once, with its name, type, default and help.

The click command (``uvicorn.cli``), ``uvicorn.run``, ``Config`` and the
``--config`` file reader are all generated from :data:`OPTIONS`, so an option is
written in one place. Names, defaults and help texts are uvicorn 0.54's where
the option exists there. Each option is also read from ``UVICORN_<NAME>``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

import click

__all__ = [
    "HTTP_CHOICES",
    "INTERFACE_CHOICES",
    "LIFESPAN_CHOICES",
    "LOG_LEVEL_CHOICES",
    "LOOP_CHOICES",
    "OPTIONS",
    "OPTIONS_BY_NAME",
    "PYTHON_ONLY_DEFAULTS",
    "WS_CHOICES",
    "Option",
]

LOOP_CHOICES = ("auto", "asyncio", "uvloop")
HTTP_CHOICES = ("auto", "h11", "httptools")
WS_CHOICES = ("auto", "none", "websockets", "websockets-sansio", "wsproto")
LIFESPAN_CHOICES = ("auto", "on", "off")
INTERFACE_CHOICES = ("auto", "asgi3", "asgi2", "wsgi")
LOG_FORMAT_CHOICES = ("text", "json")
LOG_LEVEL_CHOICES = ("critical", "error", "warning", "info", "debug", "trace")


class ImportStringOrChoice(click.Choice):  # type: ignore[type-arg]
    """A choice that also accepts ``module:attribute`` (``--loop``, ``--http``)."""

    name = "choice"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and ":" in value:
            return value
        return super().convert(value, param, ctx)


class AccessLogFormat(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A gunicorn-style access format, compiled when parsed so a bad atom is a usage error."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from uvicorn.observability.access_format import compile_access_format

        try:
            compile_access_format(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return value


class Bounded(click.IntRange):
    """An integer with a lower (and maybe upper) bound, shown in --help as plain INTEGER."""

    def _describe_range(self) -> str:
        return ""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.INT.convert(value, param, ctx)
        if (self.min is not None and number < self.min) or (
            self.max is not None and number > self.max
        ):
            bounds = click.IntRange._describe_range(self)
            self.fail(f"{number} is not in the range {bounds}.", param, ctx)
        return number


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    type: Any = None
    default: Any = None
    flag: str | None = None  # the CLI spelling when it is not --<name-with-dashes>
    secondary: str | None = None  # "--no-..." for boolean pairs
    is_flag: bool = False
    multiple: bool = False
    show_default: bool = True
    metavar: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("host", "Bind socket to this host.", str, "127.0.0.1"),
    Option(
        "port",
        "Bind socket to this port. If 0, an available port will be picked.",
        int,
        8000,
    ),
    Option("uds", "Bind to a UNIX domain socket.", str, None),
    Option("fd", "Bind to socket from this file descriptor.", int, None),
    Option(
        "workers",
        "Number of worker processes. Defaults to the $WEB_CONCURRENCY environment variable if "
        "available, or 1. Not valid with --reload.",
        Bounded(min=1),
        None,
        metavar="INTEGER",
    ),
    Option(
        "reload",
        "Enable auto-reload.",
        bool,
        False,
        is_flag=True,
        show_default=False,
    ),
    Option(
        "reload_dirs",
        "Set reload directories explicitly, instead of using the current working directory.",
        click.Path(),
        None,
        flag="--reload-dir",
        multiple=True,
    ),
    Option(
        "reload_includes",
        "Set glob patterns to include while watching for files. Includes '*.py' by default; "
        "these defaults can be overridden with `--reload-exclude`.",
        str,
        None,
        flag="--reload-include",
        multiple=True,
    ),
    Option(
        "reload_excludes",
        "Set glob patterns to exclude while watching for files. Includes '.*, .py[cod], "
        ".sw.*, ~*' by default; these defaults can be overridden with `--reload-include`.",
        str,
        None,
        flag="--reload-exclude",
        multiple=True,
    ),
    Option(
        "reload_delay",
        "Delay between previous and next check if application needs to be. Defaults to 0.25s.",
        click.FloatRange(min=0),
        0.25,
        metavar="FLOAT",
    ),
    Option(
        "loop",
        "Event loop factory implementation.",
        ImportStringOrChoice(LOOP_CHOICES),
        "auto",
    ),
    Option("http", "HTTP protocol implementation.", ImportStringOrChoice(HTTP_CHOICES), "auto"),
    Option("ws", "WebSocket protocol implementation.", click.Choice(WS_CHOICES), "auto"),
    Option("ws_max_size", "WebSocket max size message in bytes", int, 16777216),
    Option("ws_max_queue", "The maximum length of the WebSocket message queue.", int, 32),
    Option("ws_ping_interval", "WebSocket ping interval in seconds.", float, 20.0),
    Option("ws_ping_timeout", "WebSocket ping timeout in seconds.", float, 20.0),
    Option("ws_per_message_deflate", "WebSocket per-message-deflate compression", bool, True),
    Option("lifespan", "Lifespan implementation.", click.Choice(LIFESPAN_CHOICES), "auto"),
    Option(
        "interface",
        "Select ASGI3, ASGI2, or WSGI as the application interface.",
        click.Choice(INTERFACE_CHOICES),
        "auto",
    ),
    Option(
        "env_file",
        "Environment configuration file.",
        click.Path(exists=True),
        None,
        show_default=False,
    ),
    Option(
        "log_config",
        "Logging configuration file. Supported formats: .ini, .json, .yaml.",
        click.Path(exists=True),
        None,
        show_default=False,
    ),
    Option(
        "log_level",
        "Log level. [default: info]",
        click.Choice(LOG_LEVEL_CHOICES),
        None,
        show_default=False,
    ),
    Option(
        "log_format",
        "Log record format: 'json' writes every record, access and error, as one JSON "
        "object per line.",
        click.Choice(LOG_FORMAT_CHOICES),
        "text",
    ),
    Option(
        "access_log_format",
        "Access log line in gunicorn's atoms, e.g. '%(h)s \"%(r)s\" %(s)s %(b)s %(D)s' "
        "(%(h)s %(l)s %(u)s %(t)s %(r)s %(s)s %(b)s %(f)s %(a)s %(D)s %(L)s %({header}i)s "
        "%({header}o)s ...). Defaults to uvicorn's line.",
        AccessLogFormat(),
        None,
    ),
    Option(
        "access_log",
        "Enable/Disable access log.",
        bool,
        True,
        secondary="--no-access-log",
        is_flag=True,
        show_default=False,
    ),
    Option(
        "use_colors",
        "Enable/Disable colorized logging.",
        bool,
        None,
        secondary="--no-use-colors",
        is_flag=True,
        show_default=False,
    ),
    Option(
        "proxy_headers",
        "Enable/Disable X-Forwarded-Proto, X-Forwarded-For to populate url scheme and remote "
        "address info.",
        bool,
        True,
        secondary="--no-proxy-headers",
        is_flag=True,
        show_default=False,
    ),
    Option(
        "server_header",
        "Enable/Disable default Server header.",
        bool,
        True,
        secondary="--no-server-header",
        is_flag=True,
        show_default=False,
    ),
    Option(
        "date_header",
        "Enable/Disable default Date header.",
        bool,
        True,
        secondary="--no-date-header",
        is_flag=True,
        show_default=False,
    ),
    Option(
        "forwarded_allow_ips",
        "Comma separated list of IP Addresses, IP Networks, or literals (e.g. UNIX Socket path) "
        "to trust with proxy headers. Defaults to the $FORWARDED_ALLOW_IPS environment variable "
        "if available, or '127.0.0.1,::1'. The literal '*' means trust everything.",
        str,
        None,
    ),
    Option(
        "root_path",
        "Set the ASGI 'root_path' for applications submounted below a given URL path.",
        str,
        "",
        show_default=False,
    ),
    Option(
        "limit_concurrency",
        "Maximum number of concurrent connections or tasks to allow, before issuing HTTP 503 "
        "responses.",
        Bounded(min=1),
        None,
        metavar="INTEGER",
    ),
    Option(
        "backlog",
        "Maximum number of connections to hold in backlog",
        Bounded(min=1),
        2048,
        metavar="INTEGER",
        show_default=False,
    ),
    Option(
        "limit_max_requests",
        "Maximum number of requests to service before terminating the process.",
        Bounded(min=1),
        None,
        metavar="INTEGER",
    ),
    Option(
        "limit_max_requests_jitter",
        "Maximum jitter to add to limit_max_requests. Staggers worker restarts to avoid all "
        "workers restarting simultaneously.",
        Bounded(min=0),
        0,
        metavar="INTEGER",
    ),
    Option(
        "limit_request_line",
        "Maximum size of the HTTP request line in bytes; a longer one is answered 414. "
        "0 for no limit.",
        Bounded(min=0),
        8190,
        metavar="INTEGER",
    ),
    Option(
        "limit_request_fields",
        "Maximum number of header fields in a request; more are answered 431. 0 for no limit.",
        Bounded(min=0),
        100,
        metavar="INTEGER",
    ),
    Option(
        "limit_request_field_size",
        "Maximum size of one request header field (name and value) in bytes; a larger one is "
        "answered 431. 0 for no limit.",
        Bounded(min=0),
        8190,
        metavar="INTEGER",
    ),
    Option(
        "limit_request_body",
        "Maximum size of a request body in bytes, declared or streamed; a larger one is "
        "answered 413. 0 for no limit.",
        Bounded(min=0),
        0,
        metavar="INTEGER",
    ),
    Option(
        "timeout_keep_alive",
        "Close Keep-Alive connections if no new data is received within this timeout (in seconds).",
        Bounded(min=0),
        5,
        metavar="INTEGER",
    ),
    Option(
        "timeout_request_header",
        "Seconds a request head may take to arrive, counted from the connection's opening or "
        "from the first byte of a kept-alive request; slower ones get 408 and a close. 0 to "
        "switch off.",
        click.FloatRange(min=0),
        20.0,
        metavar="FLOAT",
    ),
    Option(
        "timeout_request_body",
        "Seconds a request body may take to arrive, extended by one second for every "
        "--min-request-body-rate bytes received; paused while the app is not reading. 0 to "
        "switch off.",
        click.FloatRange(min=0),
        20.0,
        metavar="FLOAT",
    ),
    Option(
        "min_request_body_rate",
        "Bytes per second a request body must average to keep extending "
        "--timeout-request-body. 0 for no extension.",
        Bounded(min=0),
        500,
        metavar="INTEGER",
    ),
    Option(
        "timeout_graceful_shutdown",
        "Maximum number of seconds to wait for graceful shutdown.",
        Bounded(min=0),
        None,
        metavar="INTEGER",
    ),
    Option(
        "timeout_worker_healthcheck",
        "Maximum number of seconds to wait for a worker to respond to a healthcheck.",
        Bounded(min=1),
        5,
        metavar="INTEGER",
    ),
    Option("ssl_keyfile", "SSL key file", str, None),
    Option("ssl_certfile", "SSL certificate file", str, None),
    Option("ssl_keyfile_password", "SSL keyfile password", str, None),
    Option(
        "ssl_version",
        "SSL version to use (see stdlib ssl module's)",
        int,
        int(ssl.PROTOCOL_TLS_SERVER),
    ),
    Option(
        "ssl_cert_reqs",
        "Whether client certificate is required (see stdlib ssl module's)",
        Bounded(0, 2),
        int(ssl.CERT_NONE),
        metavar="INTEGER",
    ),
    Option("ssl_ca_certs", "CA certificates file", str, None),
    Option(
        "ssl_ciphers",
        "Ciphers to use (see stdlib ssl module's). Defaults to OpenSSL's safe defaults.",
        str,
        None,
    ),
    Option(
        "headers",
        "Specify custom default HTTP response headers as a Name:Value pair",
        str,
        None,
        flag="--header",
        multiple=True,
    ),
    Option(
        "app_dir",
        "Look for APP in the specified directory, by adding this to the PYTHONPATH. Defaults to "
        "the current working directory.",
        str,
        "",
    ),
    Option(
        "h11_max_incomplete_event_size",
        "For h11, the maximum number of bytes to buffer of an incomplete event.",
        Bounded(min=1),
        None,
        metavar="INTEGER",
    ),
    Option(
        "reset_contextvars",
        "Run each ASGI request in a fresh contextvars.Context. Hides context set in the lifespan.",
        bool,
        False,
        is_flag=True,
        show_default=False,
    ),
    Option(
        "metrics_port",
        "Serve Prometheus metrics at http://<metrics-host>:<port>/metrics, summed over all "
        "workers. Off unless given.",
        Bounded(min=0, max=65535),
        None,
        metavar="INTEGER",
    ),
    Option("metrics_host", "Bind address of the metrics endpoint.", str, "127.0.0.1"),
    Option(
        "factory",
        "Treat APP as an application factory, i.e. a () -> <ASGI app> callable.",
        bool,
        False,
        is_flag=True,
        show_default=False,
    ),
)

OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}

# Settings only the Python API takes (they are objects, not strings).
PYTHON_ONLY_DEFAULTS: dict[str, Any] = {
    "callback_notify": None,
    "timeout_notify": 30,
    "ssl_context_factory": None,
}
