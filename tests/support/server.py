"""Run a real server for a test: in a thread (``serve``) or as a CLI process (``spawn_cli``)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uvicorn import Config, Server

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningServer:
    server: Server
    host: str
    port: int

    @property
    def url(self) -> str:
        scheme = "https" if self.server.config.is_ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def connect(self, timeout: float = 5.0) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        return sock

    def running_tasks(self, within: float = 2.0) -> set[Any]:
        """The server's running request tasks, once they are gone or ``within``
        seconds have passed (a task ends an iteration or two after its response)."""
        state = self.server.server_state
        deadline = time.monotonic() + within
        tasks = state.running_tasks()
        while tasks and time.monotonic() < deadline:
            time.sleep(0.01)
            tasks = state.running_tasks()
        return tasks


@contextlib.contextmanager
def serve(app: Any, **kwargs: Any) -> Iterator[RunningServer]:
    """Serve ``app`` on a free port in a background thread until the block ends."""
    kwargs.setdefault("host", "127.0.0.1")
    kwargs.setdefault("port", 0)
    kwargs.setdefault("lifespan", "off")
    kwargs.setdefault("log_config", None)
    kwargs.setdefault("timeout_graceful_shutdown", 5)
    config = Config(app, **kwargs)
    server = Server(config)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run()
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if errors or not thread.is_alive():
            raise RuntimeError(f"server failed to start: {errors!r}")
        if time.monotonic() > deadline:
            raise TimeoutError("server did not start within 10 s")
        time.sleep(0.01)
    if config.uds:
        host, port = config.uds, 0
    else:
        sockname = server.servers[0].sockets[0].getsockname()
        host, port = sockname[0], sockname[1]
    try:
        yield RunningServer(server, host, port)
    finally:
        server.should_exit = True
        thread.join(15)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)


@dataclass
class CLIProcess:
    process: subprocess.Popen[str]
    port: int | None
    lines: list[str] = field(default_factory=list)

    def wait_for(self, pattern: str, timeout: float = 10.0) -> str:
        """Read merged output until a line matches ``pattern``; return that line."""
        regex = re.compile(pattern)
        for line in self.lines:
            if regex.search(line):
                return line
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                if self.process.poll() is not None:
                    break
                continue
            self.lines.append(line)
            if regex.search(line):
                return line
        raise AssertionError(f"no line matching {pattern!r} in output:\n{''.join(self.lines)}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(2)
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.lines.extend(out.splitlines(keepends=True))
        return self.process.returncode

    @property
    def output(self) -> str:
        return "".join(self.lines)


def run_cli(
    *args: str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m uvicorn ARGS`` to completion (for commands that exit by themselves)."""
    return subprocess.run(
        [sys.executable, "-m", "uvicorn", *args],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVICORN_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("WEB_CONCURRENCY", None)
    if extra:
        env.update(extra)
    return env


@contextlib.contextmanager
def spawn_cli(
    *args: str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    ready: str | None = r"Uvicorn running on",
) -> Iterator[CLIProcess]:
    """Start ``python -m uvicorn ARGS`` (add ``--port 0``), wait until it listens, stop it after."""
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *args],
        cwd=cwd,
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cli = CLIProcess(process, None)
    try:
        if ready is not None:
            line = cli.wait_for(ready)
            match = re.search(r":(\d+) \(Press CTRL\+C", line)
            cli.port = int(match.group(1)) if match else None
        yield cli
    finally:
        if process.poll() is None:
            cli.stop()
