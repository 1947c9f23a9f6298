"""``uvicorn.config``: the names code written for uvicorn imports from here."""

from uvicorn.observability.logging import LOG_LEVELS, LOGGING_CONFIG, TRACE_LOG_LEVEL
from uvicorn.server.config import Config, create_ssl_context
from uvicorn.server.loading import STARTUP_FAILURE
from uvicorn.server.options import (
    HTTP_CHOICES,
    INTERFACE_CHOICES,
    LIFESPAN_CHOICES,
    LOOP_CHOICES,
)

__all__ = [
    "HTTP_CHOICES",
    "INTERFACE_CHOICES",
    "LIFESPAN_CHOICES",
    "LOGGING_CONFIG",
    "LOG_LEVELS",
    "LOOP_CHOICES",
    "STARTUP_FAILURE",
    "TRACE_LOG_LEVEL",
    "Config",
    "create_ssl_context",
]
