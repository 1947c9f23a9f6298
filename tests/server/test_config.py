"""``Config``: every option by its Python name, uvicorn's defaults, ``load()``, sockets."""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

import uvicorn
from uvicorn.config import LOGGING_CONFIG

pytestmark = pytest.mark.usefixtures("pristine_logging")


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)


def make(app: Any = asgi_app, **kwargs: Any) -> uvicorn.Config:
    kwargs.setdefault("log_config", None)
    return uvicorn.Config(app, **kwargs)


# every option -------------------------------------------------------------------------------

# one plausible, non-default value per option of uvicorn 0.54, under its Python name
UVICORN_OPTIONS: dict[str, Any] = {
    "host": "0.0.0.0",
    "port": 8123,
    "uds": "/tmp/uvicorn-test.sock",
    "fd": 3,
    "loop": "asyncio",
    "http": "h11",
    "ws": "none",
    "ws_max_size": 1024,
    "ws_max_queue": 4,
    "ws_ping_interval": 5.0,
    "ws_ping_timeout": 6.0,
    "ws_per_message_deflate": False,
    "lifespan": "on",
    "env_file": None,
    "log_config": None,
    "log_level": "warning",
    "access_log": False,
    "use_colors": False,
    "interface": "asgi3",
    "reload": False,
    "reload_dirs": None,
    "reload_delay": 0.5,
    "reload_includes": None,
    "reload_excludes": None,
    "workers": 3,
    "proxy_headers": False,
    "server_header": False,
    "date_header": False,
    "forwarded_allow_ips": "10.0.0.1",
    "root_path": "/api",
    "limit_concurrency": 10,
    "limit_max_requests": 100,
    "limit_max_requests_jitter": 5,
    "backlog": 16,
    "timeout_keep_alive": 7,
    "timeout_notify": 9,
    "timeout_graceful_shutdown": 3,
    "timeout_worker_healthcheck": 8,
    "callback_notify": None,
    "ssl_keyfile": None,
    "ssl_certfile": None,
    "ssl_keyfile_password": "secret",
    "ssl_version": int(ssl.PROTOCOL_TLS_SERVER),
    "ssl_cert_reqs": int(ssl.CERT_OPTIONAL),
    "ssl_ca_certs": None,
    "ssl_ciphers": "ECDHE+AESGCM",
    "ssl_context_factory": None,
    "headers": [("X-A", "1")],
    "factory": False,
    "h11_max_incomplete_event_size": 4096,
    "reset_contextvars": True,
}

# the SPEC §2 options that go beyond uvicorn, under their Python names
EXTENSION_OPTIONS: dict[str, Any] = {
    "http2": True,
    "metrics_port": 9100,
    "metrics_host": "0.0.0.0",
    "log_format": "json",
    "access_log_format": '%(h)s "%(r)s" %(s)s',
    "limit_request_line": 4096,
    "limit_request_fields": 50,
    "limit_request_field_size": 4096,
    "limit_request_body": 1024,
    "timeout_request_header": 10.0,
    "timeout_request_body": 15.0,
    "min_request_body_rate": 100,
}


def _unaccepted(options: dict[str, Any]) -> dict[str, str]:
    problems = {}
    for name, value in options.items():
        try:
            config = uvicorn.Config(asgi_app, **{name: value, "log_config": None})
        except TypeError as exc:
            problems[name] = f"TypeError: {exc}"
            continue
        if not hasattr(config, name):
            problems[name] = "no attribute of that name"
        elif value is not None and name not in ("reload_dirs",) and getattr(config, name) != value:
            problems[name] = f"attribute is {getattr(config, name)!r}, not {value!r}"
    return problems


def test_accepts_every_uvicorn_option_by_python_name() -> None:
    assert _unaccepted(UVICORN_OPTIONS) == {}


@pytest.mark.xfail(strict=True, reason="HTTP/2 (--http2) is not built yet")
def test_accepts_every_extension_option_by_python_name() -> None:
    assert _unaccepted(EXTENSION_OPTIONS) == {}


def test_implemented_options_round_trip() -> None:
    """The options the option table has today keep the value they were given."""
    from uvicorn.server.options import OPTIONS

    for option in OPTIONS:
        if option.name in UVICORN_OPTIONS and option.name != "app_dir":
            value = UVICORN_OPTIONS[option.name]
            config = make(**{option.name: value})
            # repeatable options keep a list: None (not given) reads back as []
            expected = [] if value is None and option.multiple else value
            assert getattr(config, option.name) == expected, option.name


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="limit_max_request"):
        uvicorn.Config(asgi_app, limit_max_request=3)
    with pytest.raises(TypeError):
        uvicorn.run(asgi_app, portt=1)


# defaults --------------------------------------------------------------------------------------

CORE_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 8000,
    "uds": None,
    "fd": None,
    "workers": 1,
    "loop": "auto",
    "http": "auto",
    "lifespan": "auto",
    "interface": "auto",
    "env_file": None,
    "log_level": None,
    "access_log": True,
    "use_colors": None,
    "proxy_headers": True,
    "server_header": True,
    "date_header": True,
    "forwarded_allow_ips": "127.0.0.1,::1",
    "root_path": "",
    "limit_concurrency": None,
    "backlog": 2048,
    "limit_max_requests": None,
    "limit_max_requests_jitter": 0,
    "timeout_keep_alive": 5,
    "timeout_notify": 30,
    "timeout_graceful_shutdown": None,
    "callback_notify": None,
    "ssl_keyfile": None,
    "ssl_certfile": None,
    "ssl_keyfile_password": None,
    "ssl_version": 17,
    "ssl_cert_reqs": 0,
    "ssl_ca_certs": None,
    "ssl_ciphers": None,
    "ssl_context_factory": None,
    "headers": [],
    "factory": False,
    "h11_max_incomplete_event_size": None,
    "reset_contextvars": False,
}

WEBSOCKET_AND_RELOAD_DEFAULTS: dict[str, Any] = {
    "ws": "auto",
    "ws_max_size": 16 * 1024 * 1024,
    "ws_max_queue": 32,
    "ws_ping_interval": 20.0,
    "ws_ping_timeout": 20.0,
    "ws_per_message_deflate": True,
    "reload": False,
    "reload_delay": 0.25,
    "timeout_worker_healthcheck": 5,
}

EXTENSION_DEFAULTS: dict[str, Any] = {
    "http2": False,
    "metrics_port": None,
    "metrics_host": "127.0.0.1",
    "log_format": "text",
    "limit_request_line": 8190,
    "limit_request_fields": 100,
    "limit_request_field_size": 8190,
    "limit_request_body": 0,
    "timeout_request_header": 20,
    "timeout_request_body": 20,
    "min_request_body_rate": 500,
}

_MISSING = object()


def _differences(config: uvicorn.Config, expected: dict[str, Any]) -> dict[str, Any]:
    return {
        name: getattr(config, name, "<missing>")
        for name, value in expected.items()
        if getattr(config, name, _MISSING) != value
    }


def test_core_defaults_are_uvicorns() -> None:
    config = uvicorn.Config(asgi_app)
    assert _differences(config, CORE_DEFAULTS) == {}
    assert config.log_config == LOGGING_CONFIG
    assert config.is_ssl is False
    assert config.loaded is False


def test_websocket_and_reload_defaults_are_uvicorns() -> None:
    assert _differences(make(), WEBSOCKET_AND_RELOAD_DEFAULTS) == {}


@pytest.mark.xfail(strict=True, reason="HTTP/2 (--http2) is not built yet")
def test_extension_defaults_match_spec() -> None:
    assert _differences(make(), EXTENSION_DEFAULTS) == {}


def test_workers_default_from_web_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert make().workers == 3
    assert make(workers=2).workers == 2


def test_forwarded_allow_ips_default_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.1.1.1")
    assert make().forwarded_allow_ips == "10.1.1.1"
    assert make(forwarded_allow_ips="*").forwarded_allow_ips == "*"


def test_env_file_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFIG_TEST_FROM_ENV_FILE", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("CONFIG_TEST_FROM_ENV_FILE=yes\n")
    try:
        make(env_file=str(env_file))
        assert os.environ["CONFIG_TEST_FROM_ENV_FILE"] == "yes"
    finally:
        os.environ.pop("CONFIG_TEST_FROM_ENV_FILE", None)


def test_is_ssl_with_a_certificate() -> None:
    assert make(ssl_certfile="cert.pem", ssl_keyfile="key.pem").is_ssl is True


# load ------------------------------------------------------------------------------------------


def test_load_resolves_the_app_once() -> None:
    config = make()
    assert not config.loaded
    config.load()
    assert config.loaded
    assert config.loaded_app is asgi_app
    with pytest.raises(AssertionError):
        config.load()


def test_load_imports_a_string() -> None:
    config = make("tests.server.test_config:asgi_app")
    config.load()
    assert config.loaded_app is asgi_app


def test_load_wraps_a_wsgi_app_into_asgi() -> None:
    config = make(wsgi_app)
    config.load()
    assert config.loaded_app is not wsgi_app
    assert config.interface == "wsgi"


def test_load_calls_a_factory() -> None:
    def factory() -> Any:
        return asgi_app

    config = make(factory, factory=True)
    config.load()
    assert config.loaded_app is asgi_app


@pytest.mark.parametrize(
    "app", ["tests.server.test_config:nowhere", "no_such_module_xyz:app", "nocolon"]
)
def test_load_exits_3_when_the_app_is_not_found(app: str) -> None:
    config = make(app)
    with pytest.raises(SystemExit) as info:
        config.load()
    assert info.value.code == 3
    assert not config.loaded


# bind_socket ------------------------------------------------------------------------------------


def test_bind_socket_returns_a_listening_tcp_socket() -> None:
    config = make(port=0)
    sock = config.bind_socket()
    try:
        assert sock.family == socket.AF_INET
        host, port = sock.getsockname()
        assert host == "127.0.0.1"
        assert port != 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        with socket.create_connection((host, port), timeout=2):
            pass  # accepted into the backlog although nobody serves yet
    finally:
        sock.close()


def test_bind_socket_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    config = make(host="::1", port=0)
    try:
        sock = config.bind_socket()
    except SystemExit:
        pytest.skip("IPv6 loopback unavailable")
    try:
        assert sock.family == socket.AF_INET6
    finally:
        sock.close()


def test_bind_socket_unix(tmp_path: Path) -> None:
    path = str(tmp_path / "bound.sock")
    config = make(uds=path)
    sock = config.bind_socket()
    try:
        assert sock.family == socket.AF_UNIX
        assert os.path.exists(path)
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
    finally:
        sock.close()
        os.unlink(path)


def test_bind_socket_on_a_busy_port_exits() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = make(port=busy.getsockname()[1])
        with pytest.raises(SystemExit) as info:
            config.bind_socket()
    assert info.value.code == 1
