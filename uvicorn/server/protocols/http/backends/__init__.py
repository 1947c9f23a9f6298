"""Parser backends: each turns bytes into :class:`RequestSink` calls and nothing more."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.backends.base import BackendFactory

__all__ = ["backend_factory"]


def backend_factory(name: str) -> BackendFactory:
    """Import the backend called ``name`` (``h11`` or ``httptools``)."""
    if name == "h11":
        from uvicorn.server.protocols.http.backends.h11_backend import H11Backend

        return H11Backend
    if name == "httptools":
        from uvicorn.server.protocols.http.backends.httptools_backend import HttpToolsBackend

        return HttpToolsBackend
    raise ValueError(f"Unknown HTTP backend {name!r}")
