from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


@pytest.fixture(params=["h11", "httptools"])
def http_backend(request: pytest.FixtureRequest) -> str:
    """Every HTTP behaviour is tested on both parser backends."""
    return str(request.param)


@pytest.fixture
def pristine_logging() -> Iterator[None]:
    """Undo what ``Config(...)`` (``dictConfig``, ``--log-level``) did to uvicorn's loggers."""
    saved = []
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.level, logger.propagate))
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = False


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def uvicorn_logs(pristine_logging: None) -> Iterator[list[logging.LogRecord]]:
    """Every record of ``uvicorn.error`` and ``uvicorn.access`` at INFO and above.

    Serve with ``log_config=None`` (``serve()``'s default) so no dictConfig
    replaces the handler during the test.
    """
    keep = _Keep()
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.addHandler(keep)
        logger.setLevel(logging.INFO)
        logger.disabled = False
    yield keep.records
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).removeHandler(keep)
