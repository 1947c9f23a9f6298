"""``--workers N``: N processes serving one shared listening socket.

The supervisor binds the socket, spawns the workers and then only watches:
signal handlers enqueue the signal and one loop handles them in order (as
gunicorn's arbiter does). A worker that dies is replaced at once; SIGINT or
SIGTERM asks every worker to shut down gracefully, in parallel; a second SIGINT
kills them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import TYPE_CHECKING

from uvicorn.server.loading import STARTUP_FAILURE

if TYPE_CHECKING:
    from uvicorn.server.config import Config

__all__ = ["Multiprocess"]

logger = logging.getLogger("uvicorn.error")

_spawn = multiprocessing.get_context("spawn")

_SIGNALS: dict[int, str] = {signal.SIGINT: "INT", signal.SIGTERM: "TERM"}


def _worker_main(config: Config, sockets: list[socket.socket], stdin_fileno: int | None) -> None:
    """Entry point of a worker process (runs after spawn, in a fresh interpreter)."""
    if stdin_fileno is not None:
        sys.stdin = os.fdopen(stdin_fileno)  # pragma: no cover
    from uvicorn.server.server import Server

    config.configure_logging()
    try:
        Server(config).run(sockets=sockets)
    except KeyboardInterrupt:
        pass


class Worker:
    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.process: SpawnProcess | None = None

    def start(self) -> None:
        try:
            stdin_fileno: int | None = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            stdin_fileno = None
        self.process = _spawn.Process(
            target=_worker_main, args=(self.config, self.sockets, stdin_fileno)
        )
        self.process.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def is_alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.pid and self.process.is_alive():
            try:
                os.kill(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def join(self, timeout: float | None = None) -> None:
        if self.process is not None:
            self.process.join(timeout)

    def describe_exit(self) -> str:
        code = self.process.exitcode if self.process else None
        if code is None:
            return "unknown status"
        if code < 0:
            try:
                return f"signal {signal.Signals(-code).name}"
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"


class Multiprocess:
    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.workers: list[Worker] = []
        self.signals: queue.Queue[int] = queue.Queue()
        self.should_exit = threading.Event()
        self.force_exit = False
        self.exit_code = 0
        self.restarts = 0

    def _enqueue(self, sig: int, frame: FrameType | None) -> None:
        self.signals.put(sig)

    def run(self) -> None:
        pid = os.getpid()
        logger.info(
            "Started parent process [%d]",
            pid,
            extra={"color_message": "Started parent process [\x1b[36m%d\x1b[0m]"},
        )
        previous = {sig: signal.signal(sig, self._enqueue) for sig in _SIGNALS}
        stop_metrics = self._start_metrics()
        try:
            for _ in range(self.config.workers):
                self._spawn_worker()
            while not self.should_exit.is_set():
                self._handle_signals(timeout=0.1)
                self._replace_dead_workers()
            self._stop_workers()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if stop_metrics is not None:
                stop_metrics()
        logger.info(
            "Stopping parent process [%d]",
            pid,
            extra={"color_message": "Stopping parent process [\x1b[36m%d\x1b[0m]"},
        )

    def _start_metrics(self) -> Callable[[], None] | None:
        """One /metrics for all workers: they write their counts to a shared directory."""
        config = self.config
        if config.metrics_port is None:
            return None
        from uvicorn.observability.metrics import StateCollector, serve_metrics

        directory = config.metrics_dir = tempfile.mkdtemp(prefix="uvicorn-metrics-")

        def live_pids() -> set[int]:
            return {w.pid for w in self.workers if w.pid is not None and w.is_alive()}

        def supervisor() -> tuple[int, int]:
            return len(live_pids()), self.restarts

        collector = StateCollector(directory=directory, live_pids=live_pids, supervisor=supervisor)
        try:
            stop = serve_metrics(config.metrics_host, config.metrics_port, collector)
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            logger.error(
                "Cannot serve metrics on %s:%d: %s", config.metrics_host, config.metrics_port, exc
            )
            raise SystemExit(1) from None
        logger.info("Metrics on http://%s:%d/metrics", config.metrics_host, config.metrics_port)

        def stop_and_clean() -> None:
            stop()
            shutil.rmtree(directory, ignore_errors=True)

        return stop_and_clean

    def _spawn_worker(self) -> Worker:
        worker = Worker(self.config, self.sockets)
        worker.start()
        self.workers.append(worker)
        return worker

    def _handle_signals(self, timeout: float) -> None:
        try:
            sig = self.signals.get(timeout=timeout)
        except queue.Empty:
            return
        name = _SIGNALS.get(sig, str(sig))
        if self.should_exit.is_set():
            if sig == signal.SIGINT:
                self.force_exit = True
            return
        logger.info("Received SIG%s, shutting down workers.", name)
        self.should_exit.set()

    def _replace_dead_workers(self) -> None:
        if self.should_exit.is_set():
            return
        for index, worker in enumerate(self.workers):
            if worker.is_alive():
                continue
            worker.join()
            if worker.process is not None and worker.process.exitcode == STARTUP_FAILURE:
                logger.error(
                    "Child process [%s] failed to start the application; stopping.", worker.pid
                )
                self.exit_code = STARTUP_FAILURE
                self.should_exit.set()
                return
            logger.warning(
                "Child process [%s] died (%s); starting a replacement.",
                worker.pid,
                worker.describe_exit(),
            )
            replacement = Worker(self.config, self.sockets)
            replacement.start()
            self.workers[index] = replacement
            self.restarts += 1

    def _stop_workers(self) -> None:
        for worker in self.workers:
            worker.signal(signal.SIGTERM)
        for worker in self.workers:
            while worker.is_alive():
                worker.join(timeout=0.1)
                self._handle_signals(timeout=0)
                if self.force_exit:
                    break
            if self.force_exit:
                break
        if self.force_exit:
            for worker in self.workers:
                worker.signal(signal.SIGKILL)
            for worker in self.workers:
                worker.join()
        for worker in self.workers:
            logger.info("Child process [%s] stopped (%s)", worker.pid, worker.describe_exit())
