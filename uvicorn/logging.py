"""Formatter names that existing log configs reference (``uvicorn.logging.DefaultFormatter``)."""

from uvicorn.observability.json import JSONFormatter
from uvicorn.observability.logging import (
    TRACE_LOG_LEVEL,
    AccessFormatter,
    ColourizedFormatter,
    DefaultFormatter,
)

__all__ = [
    "TRACE_LOG_LEVEL",
    "AccessFormatter",
    "ColourizedFormatter",
    "DefaultFormatter",
    "JSONFormatter",
]
