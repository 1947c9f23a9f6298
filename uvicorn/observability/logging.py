"""The ``uvicorn``, ``uvicorn.error`` and ``uvicorn.access`` loggers and their formatters.

Everything goes through the stdlib ``logging`` tree so a user's ``--log-config``
(or ``logging.config.dictConfig``) keeps full control. The defaults below give
uvicorn's familiar ``INFO:     message`` lines, coloured on a terminal; the
formatters are importable as ``uvicorn.logging.DefaultFormatter`` and
``uvicorn.logging.AccessFormatter``, the names existing log configs use.
"""

from __future__ import annotations

import copy
import http
import json
import logging
import logging.config
import os
import sys
from typing import Any, Literal

__all__ = [
    "LOGGING_CONFIG",
    "LOG_LEVELS",
    "TRACE_LOG_LEVEL",
    "AccessFormatter",
    "ColourizedFormatter",
    "DefaultFormatter",
    "configure_logging",
]

TRACE_LOG_LEVEL = 5
logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")

LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LOG_LEVEL,
}

LOGGING_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": None,
        },
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
    },
    "handlers": {
        "default": {
            "formatter": "default",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "formatter": "access",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}

_SGR = {
    "blue": "34",
    "cyan": "36",
    "green": "32",
    "yellow": "33",
    "red": "31",
    "bright_red": "91",
    "bright_white": "97",
    "bold": "1",
}


def _paint(text: str, colour: str) -> str:
    return f"\x1b[{_SGR[colour]}m{text}\x1b[0m"


_LEVEL_COLOURS = {
    TRACE_LOG_LEVEL: "blue",
    logging.DEBUG: "cyan",
    logging.INFO: "green",
    logging.WARNING: "yellow",
    logging.ERROR: "red",
    logging.CRITICAL: "bright_red",
}


class ColourizedFormatter(logging.Formatter):
    """Adds ``%(levelprefix)s``: the level name padded to 9 columns, coloured on a TTY.

    A record may carry ``color_message`` (via ``extra``) to use instead of its
    plain message when colours are on.
    """

    stream = "stdout"

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Literal["%", "{", "$"] = "%",
        use_colors: bool | None = None,
    ) -> None:
        if use_colors is None:
            target = sys.stderr if self.stream == "stderr" else sys.stdout
            use_colors = _isatty(target)
        self.use_colors = use_colors
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)

    def color_level_name(self, level_name: str, level_no: int) -> str:
        colour = _LEVEL_COLOURS.get(level_no)
        return _paint(level_name, colour) if colour else level_name

    def formatMessage(self, record: logging.LogRecord) -> str:
        record = copy.copy(record)
        level_name = record.levelname
        pad = " " * max(8 - len(level_name), 0)
        if self.use_colors:
            level_name = self.color_level_name(level_name, record.levelno)
            if "color_message" in record.__dict__:
                record.msg = record.__dict__["color_message"]
                record.message = record.getMessage()
        record.levelprefix = f"{level_name}:{pad}"
        return super().formatMessage(record)


class DefaultFormatter(ColourizedFormatter):
    stream = "stderr"


class AccessFormatter(ColourizedFormatter):
    """Adds ``%(client_addr)s``, ``%(request_line)s`` and ``%(status_code)s``.

    Access records carry ``(client_addr, method, path, http_version, status)``
    as their args, the shape uvicorn's access log has always had.
    """

    _STATUS_COLOURS = {1: "bright_white", 2: "green", 3: "yellow", 4: "red", 5: "bright_red"}

    def get_status_code(self, status_code: int) -> str:
        try:
            phrase = http.HTTPStatus(status_code).phrase
        except ValueError:
            phrase = ""
        text = f"{status_code} {phrase}"
        if self.use_colors:
            colour = self._STATUS_COLOURS.get(status_code // 100)
            if colour:
                return _paint(text, colour)
        return text

    def formatMessage(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client_addr, method, full_path, http_version, status = args
            request_line = f"{method} {full_path} HTTP/{http_version}"
            if self.use_colors:
                request_line = _paint(request_line, "bold")
            record = copy.copy(record)
            record.client_addr = client_addr
            record.request_line = request_line
            record.status_code = self.get_status_code(int(status))  # type: ignore[call-overload]
        return super().formatMessage(record)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


ACCESS_MESSAGE_FORMAT = "%(levelprefix)s %(message)s"  # with --access-log-format


def default_config(log_format: str, custom_access_format: bool) -> dict[str, Any]:
    """LOGGING_CONFIG adjusted for ``--log-format`` and ``--access-log-format``."""
    config = copy.deepcopy(LOGGING_CONFIG)
    formatters = config["formatters"]
    if log_format == "json":
        for name in ("default", "access"):
            formatters[name] = {"()": "uvicorn.logging.JSONFormatter"}
    elif custom_access_format:
        formatters["access"]["fmt"] = ACCESS_MESSAGE_FORMAT
    return config


def configure_logging(
    log_config: dict[str, Any] | str | os.PathLike[str] | None,
    log_level: str | int | None,
    access_log: bool,
    use_colors: bool | None,
    log_format: str = "text",
    custom_access_format: bool = False,
) -> None:
    """Apply the logging options; a user's config wins over every default."""
    # "==", not "is": a worker gets an unpickled copy of the default config (--workers)
    if log_config == LOGGING_CONFIG and (log_format != "text" or custom_access_format):
        log_config = default_config(log_format, custom_access_format)
    if log_config is not None:
        if isinstance(log_config, dict):
            if use_colors in (True, False):
                log_config = copy.deepcopy(log_config)
                for formatter in log_config.get("formatters", {}).values():
                    if str(formatter.get("()", "")).startswith("uvicorn.logging."):
                        formatter["use_colors"] = use_colors
            logging.config.dictConfig(log_config)
        else:
            path = os.fspath(log_config)
            if path.endswith(".json"):
                with open(path) as file:
                    logging.config.dictConfig(json.load(file))
            elif path.endswith((".yaml", ".yml")):
                import yaml

                with open(path) as file:
                    logging.config.dictConfig(yaml.safe_load(file))
            else:
                logging.config.fileConfig(path, disable_existing_loggers=False)
    if log_level is not None:
        level = LOG_LEVELS[log_level] if isinstance(log_level, str) else log_level
        logging.getLogger("uvicorn.error").setLevel(level)
        logging.getLogger("uvicorn.access").setLevel(level)
        logging.getLogger("uvicorn.asgi").setLevel(level)
    if not access_log:
        access = logging.getLogger("uvicorn.access")
        access.handlers = []
        access.propagate = False
