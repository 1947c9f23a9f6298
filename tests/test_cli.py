"""The ``uvicorn`` command line, driven as a real process (``python -m uvicorn``).

Every test here starts the command in a subprocess, talks to it over a real
socket where it serves, and reads its merged output. Option parsing and the
precedence of command line, environment and ``--config`` file also get a quick
in-process check through click's runner (``uvicorn.cli.run`` replaced by a
recorder), since those are pure functions of the arguments.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import uvicorn
import uvicorn.cli
from tests.support.server import CLIProcess, _env, run_cli, spawn_cli

APP_SOURCE = """
import asyncio
import json
import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                print("app: lifespan shutdown", flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"].endswith("/slow"):
        print("app: slow request started", flush=True)
        await asyncio.sleep(60)
    tls = scope.get("extensions", {}).get("tls")
    info = {
        "scheme": scope["scheme"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "root_path": scope["root_path"],
        "pid": os.getpid(),
        "env": os.environ.get("CLI_TEST_VALUE"),
        "tls": tls is not None,
        "client_cert_name": tls.get("client_cert_name") if tls else None,
    }
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(info).encode()})


def create_app():
    return app


not_callable = 42


async def startup_fails(scope, receive, send):
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "the database is unreachable"})


async def lifespan_raises(scope, receive, send):
    if scope["type"] == "lifespan":
        raise RuntimeError("lifespan exploded here")
    await app(scope, receive, send)


def wsgi_app(environ, start_response):
    body = ("wsgi saw " + environ["PATH_INFO"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

BROKEN_SOURCE = """
import definitely_missing_dependency_xyz  # the user's bug, not a bad import string

app = None
"""

BROKEN_NAME_SOURCE = """
from os import definitely_missing_name_xyz  # an ImportError that is not ModuleNotFoundError

app = None
"""

ACCESS_LINE = re.compile(r'127\.0\.0\.1:\d+ - "GET / HTTP/1\.1" 200')


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the test apps (``cliapps``) and a module that fails to import."""
    directory = tmp_path_factory.mktemp("apps")
    (directory / "cliapps.py").write_text(APP_SOURCE)
    (directory / "broken_user_module.py").write_text(BROKEN_SOURCE)
    (directory / "broken_name_module.py").write_text(BROKEN_NAME_SOURCE)
    return directory


def get(url: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("timeout", 5)
    return httpx.get(url, **kwargs)


def info_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def finish(cli: CLIProcess, timeout: float = 10.0) -> int:
    """Wait for a process that should exit by itself (no signal); collect its output."""
    try:
        out, _ = cli.process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        cli.process.kill()
        out, _ = cli.process.communicate()
        cli.lines.extend(out.splitlines(keepends=True))
        raise AssertionError(f"process did not exit in {timeout} s:\n{cli.output}") from None
    cli.lines.extend(out.splitlines(keepends=True))
    return cli.process.returncode


def collect(
    cli: CLIProcess, pattern: str, count: int, timeout: float = 15.0
) -> list[re.Match[str]]:
    """Read output until ``pattern`` matched ``count`` lines; return the matches."""
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    assert cli.process.stdout is not None
    while True:
        found = [m for m in (regex.search(line) for line in cli.lines) if m]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            break
        line = cli.process.stdout.readline()
        if line:
            cli.lines.append(line)
        elif cli.process.poll() is not None:
            break
    raise AssertionError(f"wanted {count} lines matching {pattern!r}:\n{cli.output}")


def combined(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


# --help and --version ------------------------------------------------------------------

UVICORN_FLAGS = [
    "--host",
    "--port",
    "--uds",
    "--fd",
    "--reload",
    "--reload-dir",
    "--reload-include",
    "--reload-exclude",
    "--reload-delay",
    "--workers",
    "--loop",
    "--http",
    "--ws",
    "--ws-max-size",
    "--ws-max-queue",
    "--ws-ping-interval",
    "--ws-ping-timeout",
    "--ws-per-message-deflate",
    "--lifespan",
    "--interface",
    "--env-file",
    "--log-config",
    "--log-level",
    "--access-log / --no-access-log",
    "--use-colors / --no-use-colors",
    "--proxy-headers / --no-proxy-headers",
    "--server-header / --no-server-header",
    "--date-header / --no-date-header",
    "--forwarded-allow-ips",
    "--root-path",
    "--limit-concurrency",
    "--backlog",
    "--limit-max-requests",
    "--limit-max-requests-jitter",
    "--timeout-keep-alive",
    "--timeout-graceful-shutdown",
    "--timeout-worker-healthcheck",
    "--ssl-keyfile",
    "--ssl-certfile",
    "--ssl-keyfile-password",
    "--ssl-version",
    "--ssl-cert-reqs",
    "--ssl-ca-certs",
    "--ssl-ciphers",
    "--header",
    "--version",
    "--app-dir",
    "--h11-max-incomplete-event-size",
    "--reset-contextvars",
    "--factory",
    "--help",
]

EXTENSION_FLAGS = [
    "--http2 / --no-http2",
    "--metrics-port",
    "--metrics-host",
    "--log-format",
    "--access-log-format",
    "--limit-request-line",
    "--limit-request-fields",
    "--limit-request-field-size",
    "--limit-request-body",
    "--timeout-request-header",
    "--timeout-request-body",
    "--min-request-body-rate",
    "--config",
]


def _listed_flags(help_text: str) -> set[str]:
    """The option declarations at the start of each --help entry (``--a / --no-a`` kept whole)."""
    flags = set()
    for line in help_text.splitlines():
        match = re.match(r"^  (--[a-z0-9-]+(?: / --[a-z0-9-]+)?)", line)
        if match:
            flags.add(match.group(1))
    return flags


@pytest.fixture(scope="module")
def help_text() -> str:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_help_shows_usage_and_core_defaults(help_text: str) -> None:
    assert "[OPTIONS] APP" in help_text
    flat = " ".join(help_text.split())
    assert "--host TEXT Bind socket to this host. [default: 127.0.0.1]" in flat
    assert "[default: 8000]" in flat
    assert "--lifespan [auto|on|off]" in flat
    assert "--interface [auto|asgi3|asgi2|wsgi]" in flat
    assert "--log-level [critical|error|warning|info|debug|trace]" in flat


def test_help_lists_every_uvicorn_option(help_text: str) -> None:
    missing = [flag for flag in UVICORN_FLAGS if flag not in _listed_flags(help_text)]
    assert not missing, f"--help lacks uvicorn 0.54 options: {missing}"


@pytest.mark.xfail(
    strict=True,
    reason="HTTP/2 (--http2) is not built yet",
)
def test_help_lists_options_beyond_uvicorn(help_text: str) -> None:
    missing = [flag for flag in EXTENSION_FLAGS if flag not in _listed_flags(help_text)]
    assert not missing, f"--help lacks SPEC §2 options: {missing}"


def test_version_line() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    # on the CI machine: "Running uvicorn 0.55.0 with CPython 3.11.7 on Linux"
    match = re.fullmatch(
        r"Running uvicorn (\S+) with (\S+) (\d+\.\d+\.\d+) on (\S+)\n", result.stdout
    )
    assert match, result.stdout
    assert match.group(1) == uvicorn.__version__
    assert match.group(2) == platform.python_implementation()
    assert match.group(3) == platform.python_version()
    assert match.group(4) == platform.system()


def test_console_script_runs() -> None:
    script = Path(sys.executable).parent / "uvicorn"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=30, env=_env(None)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Running uvicorn {uvicorn.__version__} ")


# bad values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "option"),
    [
        (["--port", "abc"], {}, "--port"),
        (["--http", "nope"], {}, "--http"),
        (["--workers", "0"], {}, "--workers"),
        (["--log-level", "loud"], {}, "--log-level"),
        ([], {"UVICORN_PORT": "abc"}, "--port"),
        ([], {"UVICORN_ACCESS_LOG": "maybe"}, "--access-log"),
        ([], {"UVICORN_LIFESPAN": "sometimes"}, "--lifespan"),
    ],
    ids=["port", "http", "workers", "log-level", "env-port", "env-access-log", "env-lifespan"],
)
def test_bad_value_is_a_usage_error_naming_the_option(
    apps: Path, args: list[str], env: dict[str, str], option: str
) -> None:
    result = run_cli(*args, "cliapps:app", cwd=apps, env=env)
    assert result.returncode == 2, combined(result)
    assert "Usage:" in result.stderr
    assert f"Invalid value for '{option}'" in result.stderr
    assert "Traceback" not in combined(result)


def test_out_of_range_message_states_the_range(apps: Path) -> None:
    result = run_cli("--workers", "0", "cliapps:app", cwd=apps)
    assert result.returncode == 2
    assert "0 is not in the range x>=1" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.toml", 'port = "abc"\n'), ("bad.yaml", "port: abc\n")],
)
def test_bad_value_in_config_file_names_the_option(
    apps: Path, tmp_path: Path, name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    result = run_cli("--config", str(path), "cliapps:app", cwd=apps)
    assert result.returncode == 2, combined(result)
    assert "Invalid value for '--port'" in result.stderr


def test_unknown_config_key_names_it(apps: Path, tmp_path: Path) -> None:
    path = tmp_path / "uvicorn.toml"
    path.write_text("port = 0\nportt = 8001\n")
    result = run_cli("--config", str(path), "cliapps:app", cwd=apps)
    assert result.returncode == 2, combined(result)
    assert "portt" in result.stderr
    assert "Usage:" in result.stderr


def test_config_file_of_unknown_format_is_a_usage_error(apps: Path, tmp_path: Path) -> None:
    path = tmp_path / "uvicorn.ini"
    path.write_text("[uvicorn]\nport = 0\n")
    result = run_cli("--config", str(path), "cliapps:app", cwd=apps)
    assert result.returncode == 2, combined(result)
    assert "'--config'" in result.stderr


def test_missing_app_argument_is_a_usage_error() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert "Missing argument 'APP'" in result.stderr


# option sources: precedence (in-process, click runner) -------------------------------------


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn.cli, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    for name in list(os.environ):
        if name.startswith("UVICORN_"):
            monkeypatch.delenv(name)
    return calls


def test_command_line_beats_environment_beats_file(
    recorded: list[tuple[Any, dict[str, Any]]], tmp_path: Path
) -> None:
    path = tmp_path / "uvicorn.toml"
    path.write_text('port = 1111\nroot-path = "/file"\nhost = "0.0.0.0"\nbacklog = 7\n')
    result = CliRunner().invoke(
        uvicorn.cli.main,
        ["--config", str(path), "--port", "3333", "pkg.mod:app"],
        env={"UVICORN_PORT": "2222", "UVICORN_ROOT_PATH": "/env", "UVICORN_BACKLOG": "9"},
    )
    assert result.exit_code == 0, result.output
    [(app, kwargs)] = recorded
    assert app == "pkg.mod:app"
    assert kwargs["port"] == 3333  # command line over environment and file
    assert kwargs["root_path"] == "/env"  # environment over file
    assert kwargs["backlog"] == 9
    assert kwargs["host"] == "0.0.0.0"  # file over default
    assert kwargs["timeout_keep_alive"] == 5  # default


def test_environment_and_repeatable_header(recorded: list[tuple[Any, dict[str, Any]]]) -> None:
    result = CliRunner().invoke(
        uvicorn.cli.main,
        ["--header", "X-A:1", "--header", "X-B: two words", "m:app"],
        env={"UVICORN_ACCESS_LOG": "false", "UVICORN_LIMIT_MAX_REQUESTS": "12"},
    )
    assert result.exit_code == 0, result.output
    [(_, kwargs)] = recorded
    assert kwargs["access_log"] is False
    assert kwargs["limit_max_requests"] == 12
    assert kwargs["headers"] == [("X-A", "1"), ("X-B", "two words")]


def test_header_without_colon_is_a_usage_error(
    recorded: list[tuple[Any, dict[str, Any]]],
) -> None:
    result = CliRunner().invoke(uvicorn.cli.main, ["--header", "nocolon", "m:app"])
    assert result.exit_code == 2
    assert "--header" in result.output
    assert not recorded


def test_main_is_extensible_click_command() -> None:
    """Some CLIs reuse ``uvicorn.main.main``'s params; its defaults are uvicorn's."""
    import click

    from uvicorn.main import main

    assert isinstance(main, click.Command)
    defaults = {param.name: param.default for param in main.params}
    assert defaults["port"] == 8000
    assert defaults["host"] == "127.0.0.1"
    assert defaults["lifespan"] == "auto"


# serving ------------------------------------------------------------------------------------


def test_python_m_uvicorn_serves_on_port_zero(apps: Path) -> None:
    with spawn_cli("cliapps:app", "--port", "0", cwd=apps) as cli:
        assert cli.port and cli.port != 0
        assert f"Uvicorn running on http://127.0.0.1:{cli.port} (Press CTRL+C to quit)" in (
            cli.output
        )
        data = info_of(get(f"http://127.0.0.1:{cli.port}/hello"))
        assert data["path"] == "/hello"
        assert data["scheme"] == "http"
        assert data["pid"] == cli.process.pid
        cli.wait_for(r'"GET /hello HTTP/1\.1" 200')


def test_console_script_finds_app_in_working_directory(apps: Path) -> None:
    script = Path(sys.executable).parent / "uvicorn"
    process = subprocess.Popen(
        [str(script), "cliapps:app", "--port", "0"],
        cwd=apps,
        env=_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cli = CLIProcess(process, None)
    try:
        line = cli.wait_for(r"Uvicorn running on")
        match = re.search(r":(\d+) \(Press CTRL\+C", line)
        assert match, line
        info_of(get(f"http://127.0.0.1:{match.group(1)}/"))
    finally:
        assert cli.stop() == 0, cli.output


def test_busy_port_exits_1(apps: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("cliapps:app", "--port", str(port), cwd=apps)
    assert result.returncode == 1, combined(result)
    assert "address already in use" in result.stderr
    assert "Uvicorn running on" not in combined(result)


def test_ipv6_host(apps: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    with spawn_cli("cliapps:app", "--host", "::1", "--port", "0", cwd=apps) as cli:
        assert f"Uvicorn running on http://[::1]:{cli.port} (Press CTRL+C" in cli.output
        info_of(get(f"http://[::1]:{cli.port}/"))


def test_environment_sets_port_and_disables_access_log(apps: Path) -> None:
    port = free_port()
    env = {"UVICORN_PORT": str(port), "UVICORN_ACCESS_LOG": "false"}
    with spawn_cli("cliapps:app", cwd=apps, env=env) as cli:
        assert cli.port == port
        info_of(get(f"http://127.0.0.1:{port}/"))
        assert cli.stop() == 0
    assert "GET / HTTP/1.1" not in cli.output


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("uvicorn.toml", 'port = 0\nroot-path = "/from-file"\naccess-log = false\n'),
        ("uvicorn.yaml", "port: 0\nroot_path: /from-file\naccess_log: false\n"),
    ],
)
def test_config_file_sets_options(apps: Path, tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with spawn_cli("--config", str(path), "cliapps:app", cwd=apps) as cli:
        assert cli.port
        data = info_of(get(f"http://127.0.0.1:{cli.port}/x"))
        assert data["root_path"] == "/from-file"
        assert cli.stop() == 0
    assert "GET /" not in cli.output


@pytest.mark.parametrize(
    ("cli_args", "env", "expected"),
    [
        (["--root-path", "/cli"], {"UVICORN_ROOT_PATH": "/env"}, "/cli"),
        ([], {"UVICORN_ROOT_PATH": "/env"}, "/env"),
        ([], {}, "/file"),
    ],
    ids=["cli-wins", "env-beats-file", "file-beats-default"],
)
def test_precedence_in_a_real_process(
    apps: Path, tmp_path: Path, cli_args: list[str], env: dict[str, str], expected: str
) -> None:
    path = tmp_path / "uvicorn.toml"
    path.write_text('root_path = "/file"\nport = 0\n')
    with spawn_cli("--config", str(path), *cli_args, "cliapps:app", cwd=apps, env=env) as cli:
        data = info_of(get(f"http://127.0.0.1:{cli.port}/"))
    assert data["root_path"] == expected


def test_header_option_adds_response_headers(apps: Path) -> None:
    with spawn_cli("cliapps:app", "--port", "0", "--header", "X-A:1", cwd=apps) as cli:
        response = get(f"http://127.0.0.1:{cli.port}/")
    assert response.headers["x-a"] == "1"
    assert response.headers["server"] == "uvicorn"


def test_app_dir_finds_app_elsewhere(apps: Path, tmp_path: Path) -> None:
    with spawn_cli("--app-dir", str(apps), "cliapps:app", "--port", "0", cwd=tmp_path) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))


def test_app_elsewhere_without_app_dir_is_not_found(apps: Path, tmp_path: Path) -> None:
    result = run_cli("cliapps:app", "--port", "0", cwd=tmp_path)
    assert result.returncode == 3
    assert 'Could not import module "cliapps"' in result.stderr


def test_factory_flag(apps: Path) -> None:
    with spawn_cli("cliapps:create_app", "--factory", "--port", "0", cwd=apps) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
    assert "factory detected" not in cli.output


def test_factory_without_flag_is_used_with_a_warning(apps: Path) -> None:
    with spawn_cli("cliapps:create_app", "--port", "0", cwd=apps) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
    assert "ASGI app factory detected" in cli.output


# app loading errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("no_such_module_abc:app", 'Could not import module "no_such_module_abc"'),
        ("cliapps:no_such_attribute", 'Attribute "no_such_attribute" not found in module'),
        ("cliapps:not_callable", "not callable"),
        ("cliapps", 'Import string "cliapps" must be in format "<module>:<attribute>"'),
        ("cliapps.sub:app", 'Could not import module "cliapps.sub"'),
        ("cliapps:app.missing", 'Attribute "app.missing" not found in module "cliapps"'),
        ("cliapps:app", "Error loading ASGI app factory"),
    ],
    ids=[
        "missing-module",
        "missing-attribute",
        "not-callable",
        "bad-string",
        "missing-submodule",
        "missing-dotted-attribute",
        "factory-of-app",
    ],
)
def test_unloadable_app_exits_3_with_one_line(apps: Path, target: str, expected: str) -> None:
    extra = ["--factory"] if target == "cliapps:app" else []
    result = run_cli(target, *extra, "--port", "0", cwd=apps)
    output = combined(result)
    assert result.returncode == 3, output
    assert expected in output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, output
    assert "Uvicorn running on" not in output


@pytest.mark.parametrize(
    ("module", "inner"),
    [
        ("broken_user_module", "definitely_missing_dependency_xyz"),
        ("broken_name_module", "definitely_missing_name_xyz"),
    ],
)
def test_import_error_inside_user_module_shows_user_traceback(
    apps: Path, module: str, inner: str
) -> None:
    result = run_cli(f"{module}:app", "--port", "0", cwd=apps)
    output = combined(result)
    assert result.returncode != 0
    assert "Traceback" in output
    assert f"{module}.py" in output
    assert inner in output
    assert "Could not import module" not in output
    assert "Uvicorn running on" not in output


@pytest.mark.parametrize("option", [("--ws", "wsproto"), ("--http", "httptools")])
def test_a_backend_whose_package_is_missing_exits_3_with_one_line(
    apps: Path, tmp_path: Path, option: tuple[str, str]
) -> None:
    """A package that is not installed, shadowed here by one that cannot be imported."""
    package = tmp_path / "shadow" / option[1]
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        f"raise ModuleNotFoundError('not installed', name={option[1]!r})\n"
    )
    result = run_cli(
        "cliapps:app",
        *option,
        "--port",
        "0",
        cwd=apps,
        env={"PYTHONPATH": str(package.parent)},
    )
    output = combined(result)
    assert result.returncode == 3, output
    assert f"the '{option[1]}' package is not installed" in output
    assert "Traceback" not in output
    assert "Uvicorn running on" not in output


def test_unloadable_app_under_workers_exits_3(apps: Path) -> None:
    result = run_cli("no_such_module_abc:app", "--workers", "2", "--port", "0", cwd=apps)
    assert result.returncode == 3, combined(result)
    assert 'Could not import module "no_such_module_abc"' in combined(result)


# interfaces, sockets, paths ----------------------------------------------------------------


def test_interface_wsgi(apps: Path) -> None:
    with spawn_cli("cliapps:wsgi_app", "--interface", "wsgi", "--port", "0", cwd=apps) as cli:
        response = get(f"http://127.0.0.1:{cli.port}/some/where")
    assert response.status_code == 200
    assert response.text == "wsgi saw /some/where"


def test_uds_serves_and_removes_socket_file(apps: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "uv.sock")
    with spawn_cli("cliapps:app", "--uds", path, cwd=apps) as cli:
        assert f"Uvicorn running on unix socket {path}" in cli.output
        assert os.path.exists(path)
        with httpx.Client(transport=httpx.HTTPTransport(uds=path), timeout=5) as client:
            data = info_of(client.get("http://localhost/over-uds"))
        assert data["path"] == "/over-uds"
        assert cli.stop() == 0
    assert not os.path.exists(path)


def test_fd_serves_an_inherited_socket(apps: Path) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    fd = sock.fileno()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cliapps:app", "--fd", str(fd)],
        cwd=apps,
        env=_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        pass_fds=(fd,),
    )
    sock.close()  # the child holds its own copy now
    cli = CLIProcess(process, None)
    try:
        line = cli.wait_for(r"Uvicorn running on")
        assert f"127.0.0.1:{port}" in line
        data = info_of(get(f"http://127.0.0.1:{port}/fd"))
        assert data["path"] == "/fd"
    finally:
        returncode = cli.stop()
    assert returncode == 0, cli.output


def test_root_path(apps: Path) -> None:
    with spawn_cli("cliapps:app", "--root-path", "/api", "--port", "0", cwd=apps) as cli:
        data = info_of(get(f"http://127.0.0.1:{cli.port}/items"))
    assert data["root_path"] == "/api"
    assert data["path"] == "/api/items"
    assert data["raw_path"] == "/api/items"


# logging -----------------------------------------------------------------------------------


def test_access_log_on_by_default(apps: Path) -> None:
    with spawn_cli("cliapps:app", "--port", "0", cwd=apps) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        line = cli.wait_for(r'"GET / HTTP/1\.1" 200')
    assert ACCESS_LINE.search(line)
    assert line.startswith("INFO:")


def test_access_log_line_cannot_be_forged(apps: Path) -> None:
    """With the default log configuration, as deployed: a newline in the path stays escaped."""
    with spawn_cli("cliapps:app", "--port", "0", cwd=apps) as cli:
        assert cli.port
        for target in (b"/a%0aINFO:%20forged%20line", b"/b%0d%0aINFO:%20forged%20crlf"):
            with socket.create_connection(("127.0.0.1", cli.port), timeout=5) as sock:
                sock.sendall(
                    b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        cli.wait_for(r"GET /b")
        assert cli.stop() == 0
    assert not [line for line in cli.lines if line.startswith("INFO:     forged")], cli.output
    access = [line for line in cli.lines if 'HTTP/1.1" 200' in line]
    assert len(access) == 2, cli.output
    assert '"GET /a%0AINFO:%20forged%20line HTTP/1.1" 200' in access[0]


def test_no_access_log(apps: Path) -> None:
    with spawn_cli("cliapps:app", "--port", "0", "--no-access-log", cwd=apps) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        assert cli.stop() == 0
    assert "GET / HTTP/1.1" not in cli.output
    assert "Finished server process" in cli.output


def _wait_listening(port: int, cli: CLIProcess, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cli.process.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    cli.stop()
    raise AssertionError(f"nothing listens on {port}:\n{cli.output}")


def test_log_level_warning_hides_info(apps: Path) -> None:
    port = free_port()
    # a factory without --factory logs a WARNING: warnings still show, INFO lines do not
    with spawn_cli(
        "cliapps:create_app", "--port", str(port), "--log-level", "warning", cwd=apps, ready=None
    ) as cli:
        _wait_listening(port, cli)
        info_of(get(f"http://127.0.0.1:{port}/"))
        assert cli.stop() == 0
    assert "ASGI app factory detected" in cli.output
    assert "INFO" not in cli.output
    assert "Uvicorn running on" not in cli.output
    assert "GET / HTTP/1.1" not in cli.output


def test_use_colors_forces_colour_codes(apps: Path) -> None:
    port = free_port()
    with spawn_cli("cliapps:app", "--port", str(port), "--use-colors", cwd=apps, ready=None) as cli:
        cli.wait_for(r"Uvicorn running on")
        info_of(get(f"http://127.0.0.1:{port}/"))
        cli.wait_for(r"GET / HTTP/1\.1")
        assert cli.stop() == 0
    output = cli.output
    pid = cli.process.pid
    assert "Logging error" not in output
    assert "\x1b[32mINFO\x1b[0m:" in output
    assert f"Started server process [\x1b[36m{pid}\x1b[0m]" in output
    assert f"Uvicorn running on \x1b[1mhttp://127.0.0.1:{port}\x1b[0m" in output
    assert f"Finished server process [\x1b[36m{pid}\x1b[0m]" in output
    assert "\x1b[32m200 OK\x1b[0m" in output


def test_no_colour_codes_when_not_a_terminal(apps: Path) -> None:
    with spawn_cli("cliapps:app", "--port", "0", cwd=apps) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        cli.wait_for(r"GET / HTTP/1\.1")
        assert cli.stop() == 0
    assert "\x1b[" not in cli.output


LOG_CONFIG_DICT = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "CUSTOMFMT %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "out": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {"uvicorn": {"handlers": ["out"], "level": "INFO", "propagate": False}},
}

LOG_CONFIG_INI = """
[loggers]
keys=root,uvicorn

[handlers]
keys=out

[formatters]
keys=plain

[logger_root]
level=WARNING
handlers=

[logger_uvicorn]
level=INFO
handlers=out
propagate=0
qualname=uvicorn

[handler_out]
class=StreamHandler
formatter=plain
args=(sys.stdout,)

[formatter_plain]
format=CUSTOMFMT %(levelname)s %(name)s %(message)s
"""


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".ini"])
def test_log_config_file(apps: Path, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"logging{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(LOG_CONFIG_DICT))
    elif suffix == ".yaml":
        import yaml

        path.write_text(yaml.safe_dump(LOG_CONFIG_DICT))
    else:
        path.write_text(LOG_CONFIG_INI)
    with spawn_cli("cliapps:app", "--port", "0", "--log-config", str(path), cwd=apps) as cli:
        assert cli.port
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        access = cli.wait_for(r"GET / HTTP/1\.1")
    assert "CUSTOMFMT INFO uvicorn.error Uvicorn running on" in cli.output
    assert access.startswith("CUSTOMFMT INFO uvicorn.access 127.0.0.1:")
    assert '"GET / HTTP/1.1" 200' in access


def test_env_file(apps: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "test.env"
    env_file.write_text("CLI_TEST_VALUE=from-the-env-file\n")
    with spawn_cli("cliapps:app", "--port", "0", "--env-file", str(env_file), cwd=apps) as cli:
        data = info_of(get(f"http://127.0.0.1:{cli.port}/"))
    assert data["env"] == "from-the-env-file"


# lifecycle -------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_gives_graceful_shutdown(apps: Path, sig: signal.Signals) -> None:
    with spawn_cli("cliapps:app", "--port", "0", cwd=apps) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        cli.process.send_signal(sig)
        returncode = finish(cli)
    assert returncode == 0, cli.output
    output = cli.output
    assert "Shutting down" in output
    assert "app: lifespan shutdown" in output
    assert "Application shutdown complete." in output
    assert f"Finished server process [{cli.process.pid}]" in output
    assert output.index("Shutting down") < output.index("Finished server process")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_single_server_process_runs_one_thread(apps: Path, loop: str) -> None:
    # A name, not an address: the loop would resolve it on a thread pool whose threads
    # outlive the lookup and cost every request after it (bind_tcp).
    args = ("cliapps:app", "--port", "0", "--host", "localhost", "--loop", loop)
    with spawn_cli(*args, cwd=apps) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        threads = os.listdir(f"/proc/{cli.process.pid}/task")
    assert len(threads) == 1, threads


def test_lifespan_startup_failure_exits_3(apps: Path) -> None:
    result = run_cli("cliapps:startup_fails", "--port", "0", cwd=apps)
    output = combined(result)
    assert result.returncode == 3, output
    assert "the database is unreachable" in output
    assert "Application startup failed" in output
    assert "Uvicorn running on" not in output


def test_lifespan_on_with_raising_app_exits_3(apps: Path) -> None:
    result = run_cli("cliapps:lifespan_raises", "--lifespan", "on", "--port", "0", cwd=apps)
    output = combined(result)
    assert result.returncode == 3, output
    assert "lifespan exploded here" in output
    assert "Uvicorn running on" not in output


def test_lifespan_auto_with_raising_app_serves(apps: Path) -> None:
    with spawn_cli("cliapps:lifespan_raises", "--port", "0", cwd=apps) as cli:
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        assert cli.stop() == 0
    assert "ASGI 'lifespan' protocol appears unsupported." in cli.output
    assert "lifespan exploded here" not in cli.output


def test_workers_serve_and_replace_a_killed_worker(apps: Path) -> None:
    started = r"Started server process \[(\d+)\]"
    with spawn_cli("cliapps:app", "--workers", "2", "--port", "0", cwd=apps) as cli:
        cli.wait_for(rf"Started parent process \[{cli.process.pid}\]")
        first = {int(m.group(1)) for m in collect(cli, started, 2)}
        assert len(first) == 2
        assert cli.process.pid not in first
        collect(cli, r"Application startup complete", 2)
        for _ in range(4):
            assert info_of(get(f"http://127.0.0.1:{cli.port}/"))["pid"] in first

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        pids = {int(m.group(1)) for m in collect(cli, started, 3)}
        [replacement] = pids - first
        collect(cli, r"Application startup complete", 3)
        seen = {info_of(get(f"http://127.0.0.1:{cli.port}/"))["pid"] for _ in range(6)}
        assert victim not in seen
        assert seen <= (first | {replacement})
        returncode = cli.stop()
    assert returncode == 0, cli.output
    assert "Stopping parent process" in cli.output
    assert cli.output.count("Finished server process") == 2


def test_limit_max_requests_exits_gracefully(apps: Path) -> None:
    with spawn_cli("cliapps:app", "--port", "0", "--limit-max-requests", "3", cwd=apps) as cli:
        for _ in range(3):
            info_of(get(f"http://127.0.0.1:{cli.port}/"))
        returncode = finish(cli)
    assert returncode == 0, cli.output
    assert "Maximum request limit of 3 exceeded" in cli.output
    assert "Finished server process" in cli.output


def test_timeout_graceful_shutdown_cuts_hanging_request(apps: Path) -> None:
    outcome: list[Any] = []

    def slow_request(port: int) -> None:
        try:
            outcome.append(get(f"http://127.0.0.1:{port}/slow", timeout=20))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    args = ("cliapps:app", "--port", "0", "--timeout-graceful-shutdown", "1")
    with spawn_cli(*args, cwd=apps) as cli:
        assert cli.port
        thread = threading.Thread(target=slow_request, args=(cli.port,), daemon=True)
        thread.start()
        cli.wait_for("app: slow request started")
        began = time.monotonic()
        returncode = cli.stop()
        elapsed = time.monotonic() - began
        thread.join(5)
    assert returncode == 0, cli.output
    assert 0.9 < elapsed < 5, elapsed
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in cli.output
    assert outcome, "the client is still waiting"
    assert not (isinstance(outcome[0], httpx.Response) and outcome[0].status_code == 200)


def test_second_sigint_forces_exit(apps: Path) -> None:
    outcome: list[Any] = []

    def slow_request(port: int) -> None:
        try:
            outcome.append(get(f"http://127.0.0.1:{port}/slow", timeout=20))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    with spawn_cli("cliapps:app", "--port", "0", cwd=apps) as cli:
        assert cli.port
        thread = threading.Thread(target=slow_request, args=(cli.port,), daemon=True)
        thread.start()
        cli.wait_for("app: slow request started")
        cli.process.send_signal(signal.SIGINT)
        cli.wait_for("Waiting for connections to close")
        began = time.monotonic()
        cli.process.send_signal(signal.SIGINT)
        returncode = finish(cli, timeout=10)
        elapsed = time.monotonic() - began
        thread.join(5)
    assert elapsed < 3, elapsed
    assert returncode == 0, cli.output
    assert "Finished server process" in cli.output
    assert outcome, "the client is still waiting"
    assert not (isinstance(outcome[0], httpx.Response) and outcome[0].status_code == 200)


def test_workers_restart_after_limit_max_requests(apps: Path) -> None:
    """The limit is checked on the server's tick, so "after ~N requests"; then a replacement."""
    args = ("cliapps:app", "--workers", "2", "--limit-max-requests", "2", "--port", "0")
    with spawn_cli(*args, cwd=apps) as cli:
        first = {int(m.group(1)) for m in collect(cli, r"Started server process \[(\d+)\]", 2)}
        collect(cli, r"Application startup complete", 2)
        for _ in range(6):
            info_of(get(f"http://127.0.0.1:{cli.port}/"))
            time.sleep(0.15)
        later = {int(m.group(1)) for m in collect(cli, r"Started server process \[(\d+)\]", 3)}
        assert later - first, "no worker was replaced"
        collect(cli, r"Application startup complete", 3)
        info_of(get(f"http://127.0.0.1:{cli.port}/"))
        assert cli.stop() == 0
    assert "Maximum request limit of 2 reached; asking for a replacement" in cli.output


# TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("client@example.org", common_name="test-client")
    directory = tmp_path_factory.mktemp("tls")
    files = {
        "ca": directory / "ca.pem",
        "cert": directory / "server.pem",
        "key": directory / "server.key",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server_cert.private_key_pem.write_to_path(str(files["key"]))
    for index, blob in enumerate(server_cert.cert_chain_pems):
        blob.write_to_path(str(files["cert"]), append=index > 0)
    yield {"ca_obj": ca, "client_cert": client_cert, **{k: str(v) for k, v in files.items()}}


def _client_context(tls: dict[str, Any], with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    tls["ca_obj"].configure_trust(context)
    if with_cert:
        tls["client_cert"].configure_cert(context)
    return context


def test_https(apps: Path, tls_files: dict[str, Any]) -> None:
    args = ["--ssl-certfile", tls_files["cert"], "--ssl-keyfile", tls_files["key"]]
    with spawn_cli("cliapps:app", "--port", "0", *args, cwd=apps) as cli:
        assert f"Uvicorn running on https://127.0.0.1:{cli.port}" in cli.output
        url = f"https://127.0.0.1:{cli.port}/secure"
        data = info_of(get(url, verify=_client_context(tls_files, with_cert=False)))
        with pytest.raises(httpx.ConnectError):
            get(url)  # the system trust store does not know the test CA
    assert data["scheme"] == "https"
    assert data["tls"] is True
    assert data["client_cert_name"] is None


def test_https_requires_client_certificate(apps: Path, tls_files: dict[str, Any]) -> None:
    args = [
        "--ssl-certfile",
        tls_files["cert"],
        "--ssl-keyfile",
        tls_files["key"],
        "--ssl-cert-reqs",
        "2",
        "--ssl-ca-certs",
        tls_files["ca"],
    ]
    with spawn_cli("cliapps:app", "--port", "0", *args, cwd=apps) as cli:
        url = f"https://127.0.0.1:{cli.port}/mtls"
        with pytest.raises(httpx.TransportError):
            get(url, verify=_client_context(tls_files, with_cert=False))
        data = info_of(get(url, verify=_client_context(tls_files, with_cert=True)))
        assert cli.stop() == 0
    assert data["scheme"] == "https"
    assert data["tls"] is True
    assert "test-client" in (data["client_cert_name"] or "")
