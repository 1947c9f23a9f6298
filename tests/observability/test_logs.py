"""JSON logs and --access-log-format, read from a real server process's output."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.support.server import run_cli, spawn_cli

APP = textwrap.dedent(
    """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/boom":
            raise ValueError("it broke")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"x-trace", b"abc")]})
        await send({"type": "http.response.body", "body": b"hello"})
    """
)


def _app_dir(tmp_path: Path) -> str:
    (tmp_path / "logapp.py").write_text(APP)
    return str(tmp_path)


def _raw_get(port: int, target: bytes, headers: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


# --workers: each worker process sets up logging from its own (unpickled) Config
WORKERS = pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["single", "workers"])


@WORKERS
def test_every_record_is_one_json_object(tmp_path: Path, workers: tuple[str, ...]) -> None:
    with spawn_cli(
        "logapp:app",
        "--app-dir",
        _app_dir(tmp_path),
        "--port",
        "0",
        "--log-format",
        "json",
        *workers,
    ) as cli:
        assert cli.port is not None
        url = f"http://127.0.0.1:{cli.port}"
        assert httpx.get(url + "/a?b=1", headers={"User-Agent": "probe/1"}).status_code == 200
        assert httpx.get(url + "/boom").status_code == 500
        # a client trying to end the line and forge another record
        _raw_get(cli.port, b"/x%0a%7b%22level%22:%22error%22%7d", b"User-Agent: a\xffb\r\n")
        cli.wait_for(r"/x")
        assert cli.stop() == 0
    lines = [line for line in cli.output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses: nothing else was written
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys()
        assert record["timestamp"].endswith("Z") and "T" in record["timestamp"]
        assert "\x1b" not in record["message"]
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    first = next(r for r in access if r["url.path"] == "/a")
    assert first["http.request.method"] == "GET"
    assert first["url.query"] == "b=1"
    assert first["url.scheme"] == "http"
    assert first["network.protocol.version"] == "1.1"
    assert first["http.response.status_code"] == 200
    assert first["http.response.body.size"] == 5
    assert first["user_agent.original"] == "probe/1"
    assert first["client.address"] == "127.0.0.1" and isinstance(first["client.port"], int)
    assert isinstance(first["duration_ms"], float) and isinstance(first["worker.pid"], int)
    forged = next(r for r in access if r["url.path"].startswith("/x"))
    assert forged["url.path"] == '/x\n{"level":"error"}'  # kept as data, inside one record
    assert not any(r.get("level") == "error" and r["logger"] == "uvicorn.access" for r in records)
    errors = [r for r in records if "error.type" in r]
    assert errors and errors[0]["error.type"] == "ValueError"
    assert errors[0]["error.message"] == "it broke"
    assert "Traceback" in errors[0]["error.stack_trace"]
    assert errors[0]["level"] == "error" and errors[0]["logger"] == "uvicorn.error"
    assert errors[0]["message"] == "Exception in ASGI application"


@WORKERS
def test_access_log_format_atoms(tmp_path: Path, workers: tuple[str, ...]) -> None:
    fmt = '%(h)s %(l)s "%(r)s" %(s)s %(b)s "%(a)s" %({x-trace}o)s %({host}i)s %(m)s %(U)s %(q)s'
    with spawn_cli(
        "logapp:app",
        "--app-dir",
        _app_dir(tmp_path),
        "--port",
        "0",
        "--access-log-format",
        fmt,
        *workers,
    ) as cli:
        assert cli.port is not None
        httpx.get(f"http://127.0.0.1:{cli.port}/p?q=2", headers={"User-Agent": "ua\tx"})
        line = cli.wait_for(r'"GET /p\?q=2 HTTP/1.1"')
        assert cli.stop() == 0
    assert line.startswith('INFO:     127.0.0.1 - "GET /p?q=2 HTTP/1.1" 200 5 ')
    assert '"ua\\x09x"' in line  # control characters escaped
    assert line.rstrip().endswith(f"abc 127.0.0.1:{cli.port} GET /p q=2")


def test_bad_access_log_format_is_a_usage_error() -> None:
    result = run_cli("examples.hello:app", "--access-log-format", "%(nope)s")
    assert result.returncode == 2
    assert "--access-log-format" in result.stderr
    assert "nope" in result.stderr


def test_user_log_config_wins_over_json(tmp_path: Path) -> None:
    config = tmp_path / "log.json"
    config.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"plain": {"format": "PLAIN %(name)s %(message)s"}},
                "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "plain"}},
                "loggers": {"uvicorn": {"handlers": ["out"], "level": "INFO", "propagate": False}},
            }
        )
    )
    with spawn_cli(
        "logapp:app",
        "--app-dir",
        _app_dir(tmp_path),
        "--port",
        "0",
        "--log-format",
        "json",
        "--log-config",
        str(config),
        ready=r"PLAIN uvicorn.error Uvicorn running on",
    ) as cli:
        assert cli.stop() == 0
    assert "PLAIN uvicorn.error Started server process" in cli.output
    assert '"timestamp"' not in cli.output


_SCOPE = {
    "type": "http",
    "method": "GET",
    "path": "/",
    "query_string": b"",
    "http_version": "1.1",
    "scheme": "http",
    "client": ("127.0.0.1", 50000),
    "headers": [(b"host", b"x"), (b"user-agent", b"curl/8.0")],
}

# (scope changes, status, request body, response body, duration in seconds)
_FAST_JSON_CASES = [
    ({}, 200, 0, 13, 0.0003123),
    (
        {
            "path": '/\u00e4\n"x\\',
            "query_string": b"q=\x01",
            "scheme": "https",
            "client": ("203.0.113.9", 5555),
            "headers": [(b"host", b"x"), (b"user-agent", b"w\xffrk")],
        },
        404,
        7,
        13,
        0.0012345,
    ),
    ({"path": "/a b/%41", "query_string": b"x=1&y=%20 z", "headers": []}, 201, 5, 0, 12.0),
    ({"client": None, "http_version": "1.0", "method": "POST"}, 500, 65536, 21, 0.0),
    ({"client": ('1.2.3.4"\x1b', 0), "scheme": "wss", "path": "/ws"}, 101, 3, 6, 1.5),
    ({"client": ("::1", 8080), "method": "DELETE", "path": "/items/7"}, 204, 0, 0, 0.0009995),
]


@pytest.mark.parametrize("case", range(len(_FAST_JSON_CASES)))
def test_fast_json_access_line_equals_the_structlog_rendering(
    pristine_logging: None, case: int
) -> None:
    """The direct JSON writer and the logging path give the same bytes for the same request."""
    import io
    import logging

    from uvicorn._types import RequestRecord
    from uvicorn.middleware.access_log import _UVICORN_LINE, AccessLog, _uvicorn_args
    from uvicorn.observability.logging import LOGGING_CONFIG, configure_logging

    configure_logging(LOGGING_CONFIG, None, True, False, "json", False)
    logging.getLogger("uvicorn.access").handlers[0].stream = io.StringIO()  # type: ignore[attr-defined]
    observer = AccessLog(None)
    assert observer.json is not None  # the fast path is active with the default config
    changes, status, request_size, response_size, duration = _FAST_JSON_CASES[case]
    scope = {**_SCOPE, **changes}
    record = RequestRecord(scope, status, request_size, response_size, 1.0, 1.0 + duration)
    (line,) = observer._json_lines([record])
    # what the logging path (JSONFormatter on the record uvicorn.access emits) writes
    log_record = logging.makeLogRecord(
        {
            "name": "uvicorn.access",
            "levelname": "INFO",
            "levelno": logging.INFO,
            "msg": _UVICORN_LINE,
            "args": _uvicorn_args(record),
            "request_record": record,
        }
    )
    event = observer.json.event(log_record)
    event["timestamp"] = json.loads(line)["timestamp"]  # the two were rendered moments apart
    assert line == observer.json.render(event) + "\n"
    parsed = json.loads(line)
    assert parsed["url.path"] == scope["path"]
    assert parsed["http.response.status_code"] == status
    assert parsed["duration_ms"] == pytest.approx(duration * 1000, abs=0.0006)
    assert line.count("\n") == 1
