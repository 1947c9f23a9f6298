"""``compose``: turn a loaded app and a Config into the frozen ServerContext.

This is the only place that decides which adapter, backend and pipeline layers
a server runs with; nothing downstream asks again per request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from uvicorn.adapters.asgi2 import ASGI2Adapter
from uvicorn.adapters.detect import detect_interface
from uvicorn.adapters.message_logger import MessageLogger
from uvicorn.adapters.wsgi import wsgi_adapter
from uvicorn.middleware.metrics import MetricsHooks
from uvicorn.middleware.pipeline import build_pipeline
from uvicorn.observability.metrics import MetricsState
from uvicorn.server.protocols.context import ServerContext, WebSocketSettings
from uvicorn.server.protocols.http.backends import backend_factory
from uvicorn.server.protocols.http.limits import Limits
from uvicorn.server.protocols.websocket import websocket_factory

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application
    from uvicorn.server.config import Config

__all__ = ["adapt", "compose"]

logger = logging.getLogger("uvicorn.error")


def adapt(app: Any, interface: str) -> tuple[ASGI3Application, str]:
    """Normalise any app to one ASGI3 callable; returns it and the interface used."""
    if interface == "auto":
        interface = detect_interface(app)
        if interface == "wsgi":
            logger.info("Detected a WSGI application (use --interface to choose explicitly).")
    if interface == "wsgi":
        return wsgi_adapter(app), interface
    if interface == "asgi2":
        return ASGI2Adapter(app), interface
    return app, interface


def compose(config: Config, loaded: Any) -> tuple[ServerContext, ASGI3Application, str]:
    app, interface = adapt(loaded, config.interface)
    trace = config.trace_enabled
    if trace:
        app = MessageLogger(app)
    extra_observers = []
    on_rejected = None
    if config.metrics_port is not None:
        state = config.metrics_state = MetricsState()
        hooks = MetricsHooks(state)
        extra_observers.append(hooks.observe)
        on_rejected = hooks.rejected
    pipeline = build_pipeline(
        proxy_headers=config.proxy_headers,
        forwarded_allow_ips=",".join(config.forwarded_allow_ips)
        if isinstance(config.forwarded_allow_ips, list)
        else config.forwarded_allow_ips,
        root_path=config.root_path,
        limit_concurrency=config.limit_concurrency,
        access_log=config.access_log,
        access_log_format=config.access_log_format,
        extra_observers=extra_observers,
    )
    http_name = config.http_backend_name() if isinstance(config.http, str) else "h11"
    if ":" in http_name:
        http_name = "h11"  # a custom protocol class replaces the core; the name is unused
    context = ServerContext(
        app=app,
        asgi_version="2.0" if interface == "asgi2" else "3.0",
        backend_factory=backend_factory(http_name),
        limits=Limits(
            request_line=config.limit_request_line,
            fields=config.limit_request_fields,
            field_size=config.limit_request_field_size,
            body=config.limit_request_body,
            head_timeout=config.timeout_request_header,
            body_timeout=config.timeout_request_body,
            min_body_rate=config.min_request_body_rate,
            h11_max_incomplete_event_size=config.h11_max_incomplete_event_size,
        ),
        timeout_keep_alive=config.timeout_keep_alive,
        prepare_scope=pipeline.prepare_scope,
        prepare_forwarded=pipeline.prepare_forwarded,
        admission=pipeline.admission,
        observers=pipeline.observers,
        on_rejected=on_rejected,
        reset_contextvars=config.reset_contextvars,
        log_trace=trace,
        ws_factory=None if interface == "wsgi" else websocket_factory(config.ws),
        ws=WebSocketSettings(
            max_size=config.ws_max_size,
            max_queue=config.ws_max_queue,
            ping_interval=config.ws_ping_interval,
            ping_timeout=config.ws_ping_timeout,
            per_message_deflate=config.ws_per_message_deflate,
        ),
    )
    return context, app, interface
