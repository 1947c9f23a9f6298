"""--reload: edits restart the worker without refusing a connection; broken edits keep serving."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.server.supervisors.test_multiprocess import Load, _read_until, _wait_line
from tests.support.server import run_cli, spawn_cli
from uvicorn.server.supervisors.watchers import ChangeFilter, StatWatcher

pytestmark = pytest.mark.timeout(120)

APP = """
import os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})

VERSION = "%s"
"""


def test_edits_reload_without_dropping_requests(tmp_path: Path) -> None:
    module = tmp_path / "reloadapp.py"
    module.write_text(APP % "one")
    with spawn_cli(
        "reloadapp:app",
        "--reload",
        "--reload-delay",
        "0.1",
        "--port",
        "0",
        "--no-access-log",
        cwd=tmp_path,
    ) as cli:
        assert cli.port is not None
        _wait_line(cli, r"Started reloader process \[\d+\] using (WatchFiles|StatReload)")
        _wait_line(cli, r"Application startup complete")
        with Load(cli.port) as load:
            time.sleep(0.3)
            module.write_text(APP % "two")
            _wait_line(cli, r"detected changes in 'reloadapp.py'. Reloading")
            _wait_line(cli, r"is ready; draining worker")
            first_generation = set(load.pids)
            time.sleep(0.2)
            # a broken edit: the old worker keeps serving, the traceback is shown
            module.write_text("raise ImportError('half-saved file')\n")
            _wait_line(cli, r"ImportError: half-saved file")
            _wait_line(cli, r"Replacement worker \[\d+\] failed")
            time.sleep(0.3)
            module.write_text(APP % "three")
            _read_until(cli, lambda output: output.count("is ready; draining worker") >= 2)
            time.sleep(0.3)
        assert cli.stop() == 0
    assert load.results["ok"] > 50
    assert load.failures == {}, load.results
    assert len(set(load.pids)) >= 3  # three generations answered
    assert first_generation


def test_reload_and_workers_is_a_usage_error() -> None:
    result = run_cli("examples.hello:app", "--reload", "--workers", "2")
    assert result.returncode == 2
    assert "--reload" in result.stderr and "--workers" in result.stderr


def test_change_filter_defaults_and_overrides(tmp_path: Path) -> None:
    default = ChangeFilter([tmp_path], [], [])
    assert default(tmp_path / "app.py")
    assert default(tmp_path / "pkg" / "mod.py")
    assert not default(tmp_path / "notes.txt")
    assert not default(tmp_path / ".venv" / "lib" / "x.py")  # '.*' excludes hidden directories
    assert not default(tmp_path / "app.pyc")
    assert not default(tmp_path / "~app.py")
    assert not default(Path("/elsewhere/app.py"))
    custom = ChangeFilter([tmp_path], ["*.html"], ["tests/*"])
    assert custom(tmp_path / "templates" / "index.html")
    assert not custom(tmp_path / "tests" / "test_x.py")
    reincluded = ChangeFilter([tmp_path], [".*"], [])  # including a default exclude lifts it
    assert reincluded(tmp_path / ".env")


def test_stat_watcher_sees_changes(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "ignored.txt").write_text("x")
    watcher = StatWatcher(ChangeFilter([tmp_path], [], []), delay=0.05)
    stop = threading.Event()
    found: list[list[Path]] = []

    def run() -> None:
        for changed in watcher.changes(stop):
            found.append(changed)
            stop.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(0.2)
    (tmp_path / "ignored.txt").write_text("changed")
    time.sleep(0.2)
    assert found == []
    (tmp_path / "b.py").write_text("y = 2\n")
    thread.join(5)
    assert found == [[tmp_path / "b.py"]]
