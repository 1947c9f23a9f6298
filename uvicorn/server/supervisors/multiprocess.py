"""``--workers N``: N processes serving one shared listening socket.

The supervisor binds the socket, spawns the workers and then only watches, as
gunicorn's arbiter does: signal handlers enqueue the signal and one loop, waking
every 50 ms, handles them in order, reads the workers' messages and reaps
exits. It owns processes and signals and never sees a request.

Each worker has a pipe to the supervisor. The worker says ``ready`` once it
listens, answers ``ping`` with ``pong`` from its event loop (a worker whose loop
stops answering for ``--timeout-worker-healthcheck`` seconds is killed and
replaced), and says ``retire`` when it reached ``--limit-max-requests``: its
replacement is started first and the old worker is told to drain only once the
replacement is ready, so the listening socket always has a live worker.

Signals:

* SIGINT / SIGTERM: every worker drains in parallel (within
  ``--timeout-graceful-shutdown``), then the supervisor exits 0; a second SIGINT
  kills them.
* SIGHUP: a rolling restart, one worker at a time: start the replacement, wait
  until it is ready, then drain the old one. A replacement that is not ready
  within ``--timeout-worker-healthcheck`` (or fails to import the app) is
  killed and the roll stops, leaving the old workers serving.
* SIGTTIN / SIGTTOU: one worker more / one fewer (never fewer than one).
* A worker that dies is replaced at once, with a log line giving its exit status.
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
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from uvicorn.server.loading import STARTUP_FAILURE

if TYPE_CHECKING:
    from uvicorn.server.config import Config
    from uvicorn.server.supervisors.watchers import StatWatcher, WatchFilesWatcher

__all__ = ["Multiprocess", "WorkerChannel"]

logger = logging.getLogger("uvicorn.error")

_spawn = multiprocessing.get_context("spawn")

_SIGNALS: dict[int, str] = {
    signal.SIGINT: "INT",
    signal.SIGTERM: "TERM",
    signal.SIGHUP: "HUP",
    signal.SIGTTIN: "TTIN",
    signal.SIGTTOU: "TTOU",
}
TICK = 0.05  # the supervisor's loop period
RELOAD = -1  # queued by the file watcher, handled like SIGHUP
PING_EVERY = 1.0


class WorkerChannel:
    """The worker's end of its pipe; the Server calls it from its event loop."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.retired = False

    def _send(self, message: str) -> None:
        try:
            self.connection.send(message)
        except OSError:
            pass  # the supervisor is gone; the worker's own signals still stop it

    def ready(self) -> None:
        self._send("ready")

    def poll(self) -> None:
        """Answer the supervisor's heartbeat (called every server tick)."""
        try:
            while self.connection.poll():
                if self.connection.recv() == "ping":
                    self._send("pong")
        except (OSError, EOFError):
            pass  # the supervisor is gone; SIGTERM/SIGINT still stop this worker

    def retire(self) -> None:
        """Ask to be replaced (max requests reached); keep serving until told to drain."""
        if not self.retired:
            self.retired = True
            self._send("retire")


def _worker_main(
    config: Config,
    sockets: list[socket.socket],
    connection: Connection,
    stdin_fileno: int | None,
) -> None:
    """Entry point of a worker process (runs after spawn, in a fresh interpreter)."""
    if stdin_fileno is not None:
        sys.stdin = os.fdopen(stdin_fileno)  # pragma: no cover
    from uvicorn.server.server import Server

    config.configure_logging()
    server = Server(config)
    server.channel = WorkerChannel(connection)
    try:
        server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass  # the terminal's Ctrl+C reaches workers too; the server already drained
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Worker:
    """The supervisor's view of one worker process."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.process: SpawnProcess | None = None
        self.connection: Connection | None = None
        self.ready = False
        self.retiring = False  # told to drain: its exit is expected
        self.replaces: Worker | None = None  # the worker this one will take over from
        self.replaced_by: Worker | None = None
        self.started_at = 0.0
        self.last_pong = 0.0
        self.ping_sent = 0.0

    def start(self) -> None:
        try:
            stdin_fileno: int | None = sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            stdin_fileno = None
        parent, child = _spawn.Pipe()
        self.connection = parent
        self.process = _spawn.Process(
            target=_worker_main, args=(self.config, self.sockets, child, stdin_fileno)
        )
        self.process.start()
        child.close()
        self.started_at = self.last_pong = time.monotonic()

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
                pass  # it exited between the check and the kill: the reaper sees it

    def drain(self) -> None:
        self.retiring = True
        self.signal(signal.SIGTERM)

    def messages(self) -> list[str]:
        received: list[str] = []
        connection = self.connection
        if connection is None:
            return received
        try:
            while connection.poll():
                received.append(connection.recv())
        except (OSError, EOFError):
            pass  # the worker died mid-message: the reaper replaces it
        return received

    def ping(self) -> None:
        if self.connection is not None:
            try:
                self.connection.send("ping")
            except OSError:
                pass  # a dead worker's pipe: the reaper replaces it

    def join(self, timeout: float | None = None) -> None:
        if self.process is not None:
            self.process.join(timeout)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

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
    def __init__(
        self,
        config: Config,
        sockets: list[socket.socket],
        watcher: WatchFilesWatcher | StatWatcher | None = None,
    ) -> None:
        self.config = config
        self.watcher = watcher  # --reload: changes restart the worker like SIGHUP
        self.reload_pending = False
        self.sockets = sockets
        self.workers: list[Worker] = []
        self.signals: queue.SimpleQueue[int] = queue.SimpleQueue()
        self.should_exit = False
        self.force_exit = False
        self.exit_code = 0
        self.restarts = 0
        self.roll: list[Worker] = []  # old workers still to be replaced by a SIGHUP roll
        self.healthcheck = float(config.timeout_worker_healthcheck)

    def _enqueue(self, sig: int, frame: FrameType | None) -> None:
        self.signals.put(sig)

    # the loop ------------------------------------------------------------------------

    def run(self) -> None:
        pid = os.getpid()
        logger.info(
            "Started parent process [%d]",
            pid,
            extra={"color_message": "Started parent process [\x1b[36m%d\x1b[0m]"},
        )
        previous = {sig: signal.signal(sig, self._enqueue) for sig in _SIGNALS}
        stop_metrics = self._start_metrics()
        stop_watching = self._start_watching()
        try:
            for _ in range(self.config.workers):
                self._spawn()
            last_ping = time.monotonic()
            while not self.should_exit:
                self._handle_signals(timeout=TICK)
                self._read_messages()
                now = time.monotonic()
                if now - last_ping >= PING_EVERY:
                    last_ping = now
                    self._heartbeat(now)
                self._reap()
                self._advance_roll(now)
            self._stop_workers()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if stop_metrics is not None:
                stop_metrics()
            if stop_watching is not None:
                stop_watching()
        logger.info(
            "Stopping parent process [%d]",
            pid,
            extra={"color_message": "Stopping parent process [\x1b[36m%d\x1b[0m]"},
        )

    def _spawn(self, replaces: Worker | None = None) -> Worker:
        worker = Worker(self.config, self.sockets)
        worker.replaces = replaces
        if replaces is not None:
            replaces.replaced_by = worker
        worker.start()
        self.workers.append(worker)
        return worker

    def _handle_signals(self, timeout: float) -> None:
        try:
            sig = self.signals.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            self._handle(sig)
            try:
                sig = self.signals.get_nowait()
            except queue.Empty:
                return

    def _handle(self, sig: int) -> None:
        if sig == RELOAD:
            if self.should_exit:
                return
            if self.roll or any(w.replaces is not None for w in self.workers):
                self.reload_pending = True  # after the restart in progress
            else:
                self.roll = [w for w in self.workers if not w.retiring]
            return
        name = "SIG" + _SIGNALS.get(sig, str(sig))
        if self.should_exit:
            if sig == signal.SIGINT:
                self.force_exit = True
            else:
                logger.info("Received %s while shutting down; ignored.", name)
            return
        if sig in (signal.SIGINT, signal.SIGTERM):
            logger.info("Received %s, shutting down workers.", name)
            self.should_exit = True
        elif sig == signal.SIGHUP:
            if self.roll or any(w.replaces is not None for w in self.workers):
                logger.warning("Received SIGHUP during a restart; the restart in progress goes on.")
                return
            self.roll = [w for w in self.workers if not w.retiring]
            logger.info("Received SIGHUP, restarting %d worker(s) one by one.", len(self.roll))
        elif sig == signal.SIGTTIN:
            worker = self._spawn()
            logger.info("Received SIGTTIN, adding a worker [%s].", worker.pid)
        elif sig == signal.SIGTTOU:
            serving = [w for w in self.workers if not w.retiring and w.replaces is None]
            if len(serving) <= 1:
                logger.warning("Received SIGTTOU with one worker left; keeping it.")
                return
            worker = serving[-1]
            if worker in self.roll:
                self.roll.remove(worker)
            logger.info("Received SIGTTOU, stopping worker [%s].", worker.pid)
            worker.drain()

    def _read_messages(self) -> None:
        now = time.monotonic()
        for worker in list(self.workers):
            for message in worker.messages():
                if message == "pong":
                    worker.last_pong = now
                elif message == "ready":
                    worker.ready = True
                    worker.last_pong = now
                    old = worker.replaces
                    worker.replaces = None
                    if old is not None:
                        logger.info(
                            "Worker [%s] is ready; draining worker [%s].", worker.pid, old.pid
                        )
                        old.drain()
                elif message == "retire" and not worker.retiring and worker.replaced_by is None:
                    logger.info(
                        "Worker [%s] reached its request limit; starting its replacement.",
                        worker.pid,
                    )
                    self._spawn(replaces=worker)

    def _heartbeat(self, now: float) -> None:
        for worker in self.workers:
            if not worker.ready or worker.retiring or not worker.is_alive():
                continue
            if now - worker.last_pong > self.healthcheck:
                logger.error(
                    "Worker [%s] has not answered for %.0fs; killing it.",
                    worker.pid,
                    now - worker.last_pong,
                )
                worker.signal(signal.SIGKILL)
                continue
            worker.ping()

    def _reap(self) -> None:
        for worker in list(self.workers):
            if worker.is_alive():
                continue
            worker.join()
            self.workers.remove(worker)
            worker.close()
            if worker in self.roll:
                self.roll.remove(worker)
            if worker.retiring:
                logger.info("Worker [%s] stopped (%s).", worker.pid, worker.describe_exit())
                continue
            failed_start = worker.process is not None and worker.process.exitcode == STARTUP_FAILURE
            if worker.replaces is not None:
                # A replacement that could not start: keep the old worker, stop the roll.
                old = worker.replaces
                old.replaced_by = None
                self.roll.clear()
                logger.error(
                    "Replacement worker [%s] failed (%s); keeping worker [%s] and stopping "
                    "the restart.",
                    worker.pid,
                    worker.describe_exit(),
                    old.pid,
                )
                continue
            if failed_start and not any(w.ready for w in self.workers):
                logger.error("Worker [%s] failed to start the application; stopping.", worker.pid)
                self.exit_code = STARTUP_FAILURE
                self.should_exit = True
                return
            logger.warning(
                "Worker [%s] died (%s); starting a replacement.",
                worker.pid,
                worker.describe_exit(),
            )
            self.restarts += 1
            self._spawn()

    def _advance_roll(self, now: float) -> None:
        for worker in self.workers:
            if worker.replaces is not None and not worker.ready:
                if now - worker.started_at > self.healthcheck:
                    old = worker.replaces
                    logger.error(
                        "Replacement worker [%s] was not ready within %gs; killing it, keeping "
                        "worker [%s] and stopping the restart.",
                        worker.pid,
                        self.healthcheck,
                        old.pid,
                    )
                    old.replaced_by = None
                    worker.replaces = None
                    worker.retiring = True
                    worker.signal(signal.SIGKILL)
                    self.roll.clear()
                return  # one replacement at a time
        while self.roll:
            old = self.roll.pop(0)
            if old in self.workers and not old.retiring and old.is_alive():
                self._spawn(replaces=old)
                return
        if self.reload_pending:
            self.reload_pending = False
            self.roll = [w for w in self.workers if not w.retiring]

    def _stop_workers(self) -> None:
        for worker in self.workers:
            worker.drain()
        # The listening socket is closed once no process holds it. While the supervisor
        # kept its copy, connections arriving after the workers had stopped accepting
        # were queued by the kernel with no one to accept them, then reset at exit;
        # without it, they are refused (a client or balancer retries those safely).
        for sock in self.sockets:
            sock.close()
        for worker in self.workers:
            while worker.is_alive():
                worker.join(timeout=TICK)
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
            logger.info("Worker [%s] stopped (%s).", worker.pid, worker.describe_exit())
            worker.close()

    # reload -------------------------------------------------------------------------

    def _start_watching(self) -> Callable[[], None] | None:
        watcher = self.watcher
        if watcher is None:
            return None
        from uvicorn.server.supervisors.watchers import watch_in_thread

        directories = [str(d) for d in watcher.filter.directories]
        logger.info("Will watch for changes in these directories: %s", directories)
        logger.info("Started reloader process [%d] using %s", os.getpid(), watcher.name)

        def changed(paths: list[Path]) -> None:
            names = ", ".join(f"'{_relative(path)}'" for path in paths[:5])
            logger.warning("%s detected changes in %s. Reloading...", watcher.name, names)
            self.signals.put(RELOAD)

        return watch_in_thread(watcher, changed)

    # readiness and metrics -------------------------------------------------------

    def ready(self) -> bool:
        """All serving workers ready and not shutting down (``/readyz``)."""
        serving = [w for w in self.workers if not w.retiring]
        return (
            not self.should_exit
            and bool(serving)
            and all(w.ready for w in serving if w.replaces is None)
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
            stop = serve_metrics(config.metrics_host, config.metrics_port, collector, self.ready)
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


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
