"""``Server``: serve sockets in one process, from start-up to graceful shutdown.

Processes and signals beyond this one process belong to the supervisors; this
class only binds (or adopts) sockets, runs the lifespan, ticks once every 0.1 s
(date header, notifications, the max-requests limit, exit requests) and, on the
way out, lets in-flight requests finish within ``--timeout-graceful-shutdown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Generator, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from uvicorn.server.allocator import tune_allocator
from uvicorn.server.protocols.context import ServerState
from uvicorn.server.protocols.http.connection import HTTPConnection
from uvicorn.server.protocols.websocket.connection import WebSocketConnection
from uvicorn.server.sockets import bind_tcp, log_listening, socket_from_fd

if TYPE_CHECKING:
    from uvicorn.adapters.lifespan import Lifespan
    from uvicorn.server.config import Config
    from uvicorn.server.supervisors.multiprocess import WorkerChannel

__all__ = ["HANDLED_SIGNALS", "Server", "ServerState"]

logger = logging.getLogger("uvicorn.error")

HANDLED_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
if sys.platform == "win32":  # pragma: no cover
    HANDLED_SIGNALS += (signal.SIGBREAK,)  # type: ignore[attr-defined]

_DEFAULT_HANDLERS: tuple[Any, ...] = (
    signal.SIG_DFL,
    signal.SIG_IGN,
    signal.default_int_handler,
    None,
)


def run_with_loop(
    main: Coroutine[Any, Any, None],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None,
) -> None:
    """``asyncio.run`` with a loop factory, on every supported Python."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main)
        return
    loop = loop_factory() if loop_factory is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.server_state = ServerState(
            server_header=config.server_header,
            date_header=config.date_header,
            headers=[
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in config.headers
            ],
        )
        self.started = False
        self.should_exit = False
        self.force_exit = False
        self.last_notified = 0.0
        self.servers: list[asyncio.base_events.Server] = []
        self.lifespan: Lifespan
        self._captured_signals: list[int] = []
        self._date_second = 0
        self._stop_metrics: Callable[[], None] | None = None
        # Set by a supervisor's worker entry point: ready/heartbeat/retire messages.
        self.channel: WorkerChannel | None = None
        self.limit_max_requests: int | None = None
        if config.limit_max_requests is not None:
            self.limit_max_requests = config.limit_max_requests + random.randint(
                0, config.limit_max_requests_jitter
            )

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        run_with_loop(self.serve(sockets=sockets), self.config.get_loop_factory())

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        with self.capture_signals():
            await self._serve(sockets)

    async def _serve(self, sockets: list[socket.socket] | None = None) -> None:
        process_id = os.getpid()
        config = self.config
        if not config.loaded:
            config.load()
        tune_allocator()  # before the first request's body: see uvicorn.server.allocator
        self.lifespan = config.make_lifespan()
        logger.info(
            "Started server process [%d]",
            process_id,
            extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
        )
        await self.startup(sockets=sockets)
        if self.should_exit:
            return
        await self.main_loop()
        await self.shutdown(sockets=sockets)
        logger.info(
            "Finished server process [%d]",
            process_id,
            extra={"color_message": "Finished server process [\x1b[36m%d\x1b[0m]"},
        )

    # start-up -----------------------------------------------------------------------

    def _protocol_factory(self) -> Any:
        config = self.config
        state = self.server_state
        app_state = self.lifespan.state
        custom = config.http_protocol_class
        if custom is not None:

            def create_custom(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
                return custom(  # type: ignore[call-arg]
                    config=config, server_state=state, app_state=app_state, _loop=_loop
                )

            return create_custom
        context = config.context

        def create(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
            return HTTPConnection(context, state, app_state, _loop)

        return create

    async def startup(self, sockets: Sequence[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            self.should_exit = True
            return
        config = self.config
        loop = asyncio.get_running_loop()
        create_protocol = self._protocol_factory()
        listeners: list[socket.socket] = []
        try:
            if sockets is None and config.fd is None and config.uds is not None:
                mode = os.stat(config.uds).st_mode if os.path.exists(config.uds) else 0o666
                server = await loop.create_unix_server(
                    create_protocol, path=config.uds, ssl=config.ssl, backlog=config.backlog
                )
                os.chmod(config.uds, mode & 0o777)
                self.servers.append(server)
                listeners.extend(server.sockets)
            else:
                owned: list[socket.socket] = []  # bound here: closed here if not served
                if sockets is not None:
                    given = list(sockets)
                elif config.fd is not None:
                    given = [socket_from_fd(config.fd)]
                else:
                    # bound here, not by the loop: see bind_tcp (no resolver threads)
                    given = owned = bind_tcp(config.host, config.port)
                for index, sock in enumerate(given):
                    try:
                        server = await loop.create_server(
                            create_protocol, sock=sock, ssl=config.ssl, backlog=config.backlog
                        )
                    except BaseException:
                        for unserved in owned[index:]:
                            unserved.close()
                        raise
                    self.servers.append(server)
                    listeners.extend(server.sockets)
        except OSError as exc:
            logger.error(exc)
            await self.lifespan.shutdown()
            sys.exit(1)
        if sockets is None:
            scheme = "https" if config.is_ssl else "http"
            for sock in listeners:
                log_listening(sock, scheme)
        self._start_metrics()
        self.started = True
        if self.channel is not None:
            self.channel.ready()

    def _start_metrics(self) -> None:
        """Hand the metrics their live view; serve them here unless a supervisor does."""
        state = self.config.metrics_state
        if state is None:
            return
        server_state = self.server_state

        def live() -> tuple[list[tuple[str, str]], int, int, int]:
            connections = list(server_state.connections)
            requests = []
            websockets = 0
            for connection in connections:
                if isinstance(connection, WebSocketConnection):
                    websockets += 1
                    continue
                cycle = getattr(connection, "cycle", None)
                if cycle is not None:
                    requests.append((cycle.scope["method"], cycle.scope["scheme"]))
            return requests, len(connections), websockets, server_state.total_connections

        state.live = live
        config = self.config
        if config.metrics_dir is None and config.metrics_port is not None:
            from uvicorn.observability.metrics import StateCollector, serve_metrics

            try:
                self._stop_metrics = serve_metrics(
                    config.metrics_host,
                    config.metrics_port,
                    StateCollector(state),
                    lambda: self.started and not self.should_exit,
                )
            except OSError as exc:
                logger.error(
                    "Cannot serve metrics on %s:%d: %s",
                    config.metrics_host,
                    config.metrics_port,
                    exc,
                )
                sys.exit(1)
            logger.info("Metrics on http://%s:%d/metrics", config.metrics_host, config.metrics_port)

    def _write_metrics(self) -> None:
        state = self.config.metrics_state
        directory = self.config.metrics_dir
        if state is not None and directory is not None:
            try:
                state.write(directory)
            except OSError as exc:  # the supervisor removed it while shutting down
                logger.debug("Cannot write metrics to %s: %s", directory, exc)

    # serving -----------------------------------------------------------------------------

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            await asyncio.sleep(0.1)
            should_exit = await self.on_tick(counter)

    async def on_tick(self, counter: int) -> bool:
        now = time.time()
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self.server_state.refresh_date()
            self._write_metrics()
        config = self.config
        channel = self.channel
        if channel is not None:
            channel.poll()
        if config.callback_notify is not None and now - self.last_notified > config.timeout_notify:
            self.last_notified = now
            await config.callback_notify()
        if self.should_exit:
            return True
        limit = self.limit_max_requests
        if limit is not None and self.server_state.total_requests >= limit:
            if channel is not None:
                # Supervised: keep serving until the replacement is ready and the
                # supervisor says to drain, so the socket is never without a worker.
                if not channel.retired:
                    logger.info(
                        "Maximum request limit of %d reached; asking for a replacement.", limit
                    )
                    channel.retire()
                return False
            logger.warning("Maximum request limit of %d exceeded. Terminating process.", limit)
            return True
        return False

    # shutdown ---------------------------------------------------------------------------

    async def shutdown(self, sockets: Sequence[socket.socket] | None = None) -> None:
        logger.info("Shutting down")
        for server in self.servers:
            server.close()
        for sock in sockets or ():
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        try:
            await asyncio.wait_for(
                self._wait_tasks_to_complete(), timeout=self.config.timeout_graceful_shutdown
            )
        except asyncio.TimeoutError:
            tasks = self.server_state.running_tasks()
            logger.error(
                "Cancel %d running task(s), timeout graceful shutdown exceeded", len(tasks)
            )
            for task in tasks:
                task.cancel()
            for connection in list(self.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.close()
        if not self.force_exit:
            await self.lifespan.shutdown()
        self._write_metrics()
        if self._stop_metrics is not None:
            self._stop_metrics()
            self._stop_metrics = None

    async def _wait_tasks_to_complete(self) -> None:
        state = self.server_state
        if state.connections and not self.force_exit:
            logger.info("Waiting for connections to close. (CTRL+C to force quit)")
            while state.connections and not self.force_exit:
                await asyncio.sleep(0.1)
        if state.running_tasks() and not self.force_exit:
            logger.info("Waiting for background tasks to complete. (CTRL+C to force quit)")
            while state.running_tasks() and not self.force_exit:
                await asyncio.sleep(0.1)
        for server in self.servers:
            if not self.force_exit:
                await server.wait_closed()

    # signals -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Install exit handlers while serving (main thread only), then restore them.

        A captured signal is re-raised afterwards only when someone else had a
        handler for it, so an embedding program still hears it; the default
        handlers (KeyboardInterrupt, termination) are not re-run: the server has
        already shut down gracefully.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
            for sig in reversed(self._captured_signals):
                if original.get(sig) not in _DEFAULT_HANDLERS:
                    signal.raise_signal(sig)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._captured_signals.append(sig)
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True
