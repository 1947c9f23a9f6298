"""The request pipeline, composed once at start-up from the enabled layers only.

::

    scope layers   proxy headers -> root path        (rewrite the scope in place; the
                                                      proxy layer only for a head that
                                                      has X-Forwarded-* fields)
    admission      concurrency limit                 (503 before the app runs)
    headers        server, date, --header            (pre-encoded bytes, see ServerState)
    observers      access log (metrics later)        (one RequestRecord per finished request)

A layer that is switched off is simply not here: the core sees ``None`` or an
empty tuple and pays nothing for it per request. Layers never wrap ``send``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from uvicorn.middleware.access_log import access_log_observer
from uvicorn.middleware.concurrency import concurrency_admission
from uvicorn.middleware.proxy_headers import ProxyHeaders, TrustedHosts
from uvicorn.middleware.root_path import RootPath
from uvicorn.observability.access_format import compile_access_format

if TYPE_CHECKING:
    from uvicorn._types import Observer, Scope, ScopeLayer
    from uvicorn.server.protocols.context import ServerState

__all__ = ["Pipeline", "build_pipeline", "chain_scope_layers"]


@dataclass(frozen=True)
class Pipeline:
    # ProxyHeaders reads nothing but X-Forwarded-For and X-Forwarded-Proto: the core
    # calls it only for a request that has one (build_head notes it while it reads
    # the head), so a request without pays nothing for it.
    prepare_forwarded: ScopeLayer | None
    prepare_scope: ScopeLayer | None
    admission: Callable[[ServerState], bool] | None
    observers: tuple[Observer, ...]


def chain_scope_layers(layers: Sequence[ScopeLayer]) -> ScopeLayer | None:
    """One callable for all scope layers (or None when there are none)."""
    if not layers:
        return None
    if len(layers) == 1:
        return layers[0]
    frozen = tuple(layers)

    def prepare(scope: Scope) -> None:
        for layer in frozen:
            layer(scope)

    return prepare


def build_pipeline(
    *,
    proxy_headers: bool,
    forwarded_allow_ips: str,
    root_path: str,
    limit_concurrency: int | None,
    access_log: bool,
    access_log_format: str | None = None,
    extra_observers: Sequence[Observer] = (),
) -> Pipeline:
    layers: list[ScopeLayer] = []
    if root_path:
        layers.append(RootPath(root_path))
    observers: list[Observer] = []
    if access_log:
        compiled = compile_access_format(access_log_format) if access_log_format else None
        observers.append(access_log_observer(compiled))
    observers.extend(extra_observers)
    return Pipeline(
        prepare_forwarded=ProxyHeaders(TrustedHosts(forwarded_allow_ips))
        if proxy_headers
        else None,
        prepare_scope=chain_scope_layers(layers),
        admission=concurrency_admission(limit_concurrency) if limit_concurrency else None,
        observers=tuple(observers),
    )
