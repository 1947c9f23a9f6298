"""The Python API as code written for uvicorn uses it: ``run``, ``Server``, the import shims.

Servers run in this process over real sockets: in a thread (``Server.run()``),
inside an already running event loop (``await server.serve()``), subclassed and
restarted the way httpx's test suite does, and behind a socket a custom process
manager bound itself.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import click
import httpx
import pytest

import uvicorn
import uvicorn.config
import uvicorn.main
import uvicorn.server
from tests.support.server import serve

pytestmark = pytest.mark.usefixtures("pristine_logging")


async def hello(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"  # no lifespan: "auto" notices and carries on
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello " + scope["path"].encode()})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_of(server: uvicorn.Server) -> int:
    return int(server.servers[0].sockets[0].getsockname()[1])


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@pytest.fixture
def thread_server() -> Iterator[list[tuple[uvicorn.Server, threading.Thread]]]:
    """Servers a test runs with ``Server.run()`` in a thread; all stopped afterwards."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []
    yield running
    for server, thread in running:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "server thread did not stop"


# the import surface ---------------------------------------------------------------------------


def test_public_names() -> None:
    assert isinstance(uvicorn.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+", uvicorn.__version__)
    assert uvicorn.server.Server is uvicorn.Server
    assert uvicorn.config.Config is uvicorn.Config
    assert hasattr(uvicorn.server, "ServerState")
    from uvicorn.config import LOGGING_CONFIG, Config

    assert Config is uvicorn.Config
    assert LOGGING_CONFIG["loggers"]["uvicorn.access"]["level"] == "INFO"


def test_main_module_shims() -> None:
    assert isinstance(uvicorn.main.main, click.Command)
    assert uvicorn.main.run is uvicorn.run
    assert uvicorn.main.STARTUP_FAILURE == 3


def test_logging_formatters_importable_under_uvicorn_names() -> None:
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    assert AccessFormatter and DefaultFormatter


def test_gunicorn_workers_importable() -> None:
    import uvicorn.workers as workers  # SPEC §1

    assert workers.UvicornWorker.CONFIG_KWARGS is not None
    assert workers.UvicornH11Worker.CONFIG_KWARGS["http"] == "h11"


# uvicorn.run ------------------------------------------------------------------------------------


def test_run_with_workers_needs_an_import_string() -> None:
    with pytest.raises(SystemExit) as info:
        uvicorn.run(hello, workers=2, log_config=None)
    assert info.value.code == 1


def test_run_exits_3_when_the_app_cannot_be_imported() -> None:
    with pytest.raises(SystemExit) as info:
        uvicorn.run("no_such_module_qq:app", port=0, log_config=None)
    assert info.value.code == 3


def test_run_serves_until_max_requests() -> None:
    """``uvicorn.run`` blocks while serving; ``limit_max_requests`` lets it return by itself."""
    port = free_port()
    done = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            uvicorn.run(hello, port=port, limit_max_requests=1, log_config=None, lifespan="off")
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/via-run", timeout=5)
            break
        except httpx.ConnectError:
            assert time.monotonic() < deadline, "uvicorn.run never listened"
            time.sleep(0.05)
    assert response.text == "hello /via-run"
    assert done.wait(10), "uvicorn.run did not return after its last request"
    assert errors == []


# Server in a thread and in a running loop -------------------------------------------------------


def test_run_in_a_thread_installs_no_signal_handlers(
    thread_server: list[tuple[uvicorn.Server, threading.Thread]],
) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = uvicorn.Server(uvicorn.Config(hello, port=0, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    thread_server.append((server, thread))
    wait_until(lambda: server.started)
    assert {sig: signal.getsignal(sig) for sig in before} == before
    response = httpx.get(f"http://127.0.0.1:{port_of(server)}/thread", timeout=5)
    assert response.text == "hello /thread"
    server.should_exit = True
    thread.join(10)
    assert not thread.is_alive()


def test_serve_inside_a_running_event_loop() -> None:
    original = signal.getsignal(signal.SIGINT)
    seen_during: list[Any] = []

    async def main() -> None:
        config = uvicorn.Config(hello, port=0, log_config=None)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        seen_during.append(signal.getsignal(signal.SIGINT))
        async with httpx.AsyncClient(timeout=5) as client:
            first = await client.get(f"http://127.0.0.1:{port_of(server)}/one")
            second = await client.get(f"http://127.0.0.1:{port_of(server)}/two")
        assert (first.text, second.text) == ("hello /one", "hello /two")
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        assert all(not listener.is_serving() for listener in server.servers)

    asyncio.run(main())
    # main thread: handlers were captured while serving and restored afterwards
    assert seen_during and seen_during[0] != original
    assert signal.getsignal(signal.SIGINT) == original


def test_captured_signal_is_handed_back_to_the_embedding_program() -> None:
    heard: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: heard.append(sig))
    try:

        async def main() -> uvicorn.Server:
            server = uvicorn.Server(uvicorn.Config(hello, port=0, log_config=None))
            task = asyncio.create_task(server.serve())
            for _ in range(500):
                if server.started:
                    break
                await asyncio.sleep(0.01)
            signal.raise_signal(signal.SIGTERM)
            assert heard == []  # the server's handler has it while serving
            await asyncio.wait_for(task, 10)
            return server

        server = asyncio.run(main())
        assert server.should_exit
        assert heard == [signal.SIGTERM]  # re-raised once the server had shut down
        assert signal.getsignal(signal.SIGTERM) != server.handle_exit
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_handle_exit_asks_for_exit_then_force() -> None:
    server = uvicorn.Server(uvicorn.Config(hello, log_config=None))
    server.handle_exit(signal.SIGINT, None)
    assert server.should_exit and not server.force_exit
    server.handle_exit(signal.SIGINT, None)
    assert server.force_exit


def test_on_tick_reports_exit() -> None:
    async def ticks() -> tuple[bool, bool]:
        server = uvicorn.Server(uvicorn.Config(hello, log_config=None))
        before = await server.on_tick(0)
        server.should_exit = True
        return before, await server.on_tick(1)

    assert asyncio.run(ticks()) == (False, True)


def test_callback_notify_is_called_while_serving() -> None:
    calls: list[float] = []

    async def notify() -> None:
        calls.append(time.monotonic())

    with serve(hello, callback_notify=notify, timeout_notify=0):
        wait_until(lambda: len(calls) >= 2, timeout=5)


# custom process managers and test suites ------------------------------------------------------


def test_serving_a_socket_bound_by_the_caller(
    thread_server: list[tuple[uvicorn.Server, threading.Thread]],
) -> None:
    config = uvicorn.Config(hello, port=0, log_config=None, lifespan="off")
    config.configure_logging()
    config.load()
    assert config.loaded
    sock = config.bind_socket()
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    thread_server.append((server, thread))
    wait_until(lambda: server.started)
    port = sock.getsockname()[1]
    assert httpx.get(f"http://127.0.0.1:{port}/bound", timeout=5).text == "hello /bound"


class RestartableServer(uvicorn.server.Server):
    """A subclass in the style of httpx's test server: restarts on request, in place."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.restart_requested = threading.Event()
        self.restarts = 0
        self.startups = 0

    async def startup(self, sockets: Any = None) -> None:
        self.startups += 1
        await super().startup(sockets=sockets)

    async def serve(self, sockets: Any = None) -> None:
        watcher = asyncio.create_task(self.watch_restarts())
        try:
            await super().serve(sockets=sockets)
        finally:
            watcher.cancel()

    async def watch_restarts(self) -> None:
        while not self.should_exit:
            if self.restart_requested.is_set():
                self.restart_requested.clear()
                await self.shutdown()
                await self.startup()
                self.restarts += 1
            await asyncio.sleep(0.02)


def test_subclass_restarts_with_shutdown_then_startup(
    thread_server: list[tuple[uvicorn.Server, threading.Thread]],
) -> None:
    port = free_port()
    server = RestartableServer(uvicorn.Config(hello, port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    thread_server.append((server, thread))
    wait_until(lambda: server.started)
    assert server.config.host == "127.0.0.1"
    assert server.config.port == port
    assert server.config.is_ssl is False
    assert server.server_state is not None
    url = f"http://127.0.0.1:{port}/"
    assert httpx.get(url + "before", timeout=5).text == "hello /before"

    server.restart_requested.set()
    wait_until(lambda: server.restarts == 1)
    assert server.startups == 2
    assert httpx.get(url + "after", timeout=5).text == "hello /after"


def test_startup_failure_leaves_server_not_started() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "nope"})

    server = uvicorn.Server(uvicorn.Config(failing, port=0, lifespan="on", log_config=None))
    finished = threading.Event()

    def target() -> None:
        server.run()
        finished.set()

    threading.Thread(target=target, daemon=True).start()
    assert finished.wait(10)
    assert server.started is False
    assert server.servers == []


def test_ssl_context_factory_builds_the_context(
    thread_server: list[tuple[uvicorn.Server, threading.Thread]],
    tmp_path: Any,
) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    calls: list[Any] = []

    def factory(config: uvicorn.Config, default: Any) -> Any:
        context = default()
        calls.append((config, context))
        return context

    config = uvicorn.Config(
        hello,
        port=0,
        log_config=None,
        ssl_certfile=str(certfile),
        ssl_keyfile=str(keyfile),
        ssl_context_factory=factory,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    thread_server.append((server, thread))
    wait_until(lambda: server.started)
    assert calls and calls[0][0] is config
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    response = httpx.get(f"https://127.0.0.1:{port_of(server)}/tls", verify=client_context)
    assert response.text == "hello /tls"
