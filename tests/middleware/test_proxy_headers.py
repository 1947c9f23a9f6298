"""``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed only from trusted proxies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import serve
from uvicorn.middleware.proxy_headers import ProxyHeaders, TrustedHosts


async def whoami(scope: Any, receive: Any, send: Any) -> None:
    body = json.dumps({"client": scope["client"], "scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)


def ask(headers: dict[str, str], **config: Any) -> dict[str, Any]:
    with serve(whoami, **config) as running:
        response = httpx.get(running.url + "/", headers=headers, timeout=5)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def test_trusted_by_default_from_localhost(http_backend: str) -> None:
    data = ask(FORWARDED, http=http_backend)
    assert data["client"] == ["203.0.113.7", 0]
    assert data["scheme"] == "https"


@pytest.mark.parametrize(
    ("headers", "client", "scheme"),
    [
        ({"x-forwarded-proto": "https"}, "127.0.0.1", "https"),
        ({"X-FORWARDED-FOR": "198.51.100.9"}, "198.51.100.9", "http"),
        ({"X-Forwarded-Host": "example.org"}, "127.0.0.1", "http"),  # not one it reads
    ],
)
def test_either_header_alone_is_read_in_any_case(
    http_backend: str, headers: dict[str, str], client: str, scheme: str
) -> None:
    """The layer runs only for a head with one of its two fields; each alone counts."""
    data = ask(headers, http=http_backend)
    assert (data["client"][0], data["scheme"]) == (client, scheme)


def test_untrusted_peer_is_ignored() -> None:
    data = ask(FORWARDED, forwarded_allow_ips="10.0.0.1")
    assert data["client"][0] == "127.0.0.1"
    assert data["client"][1] > 0  # the real peer port
    assert data["scheme"] == "http"


def test_star_trusts_everyone_and_takes_the_left_most() -> None:
    data = ask(
        {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Forwarded-Proto": "https"},
        forwarded_allow_ips="*",
    )
    assert data["client"] == ["198.51.100.1", 0]
    assert data["scheme"] == "https"


def test_cidr_network_is_trusted() -> None:
    data = ask(FORWARDED, forwarded_allow_ips="10.0.0.0/8, 127.0.0.0/8")
    assert data["client"] == ["203.0.113.7", 0]


def test_right_most_untrusted_hop_is_the_client() -> None:
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.9, 10.1.2.3, 10.0.0.1"}
    data = ask(headers, forwarded_allow_ips="127.0.0.1, 10.0.0.0/8")
    # 10.x are our proxies; 6.6.6.6 was made up by the client itself
    assert data["client"] == ["198.51.100.9", 0]


def test_no_proxy_headers_disables() -> None:
    data = ask(FORWARDED, proxy_headers=False)
    assert data["client"][0] == "127.0.0.1"
    assert data["scheme"] == "http"


def test_unknown_proto_is_ignored() -> None:
    data = ask({"X-Forwarded-Proto": "javascript"})
    assert data["scheme"] == "http"


def test_trusted_unix_socket_literal(tmp_path: Path) -> None:
    path = str(tmp_path / "proxy.sock")
    with serve(whoami, uds=path, forwarded_allow_ips=path) as _:
        transport = httpx.HTTPTransport(uds=path)
        with httpx.Client(transport=transport, timeout=5) as client:
            data = client.get("http://localhost/", headers=FORWARDED).json()
    assert data["client"] == ["203.0.113.7", 0]
    assert data["scheme"] == "https"


# TrustedHosts and the scope layer, as plain functions -------------------------------------------


def test_trusted_hosts_addresses() -> None:
    trusted = TrustedHosts("127.0.0.1, ::1, 192.168.0.10")
    assert "127.0.0.1" in trusted
    assert "::1" in trusted
    assert "0:0:0:0:0:0:0:1" in trusted  # the same IPv6 address, spelled out
    assert "192.168.0.10" in trusted
    assert "192.168.0.11" not in trusted
    assert "127.0.0.2" not in trusted
    assert None not in trusted


def test_trusted_hosts_networks() -> None:
    trusted = TrustedHosts(["10.0.0.0/8", "2001:db8::/32"])
    assert "10.255.1.2" in trusted
    assert "11.0.0.1" not in trusted
    assert "2001:db8::42" in trusted
    assert "2001:db9::42" not in trusted


def test_trusted_hosts_literals() -> None:
    trusted = TrustedHosts("/run/proxy.sock, unix:backend, 127.0.0.1")
    assert "/run/proxy.sock" in trusted
    assert "unix:backend" in trusted
    assert "/run/other.sock" not in trusted
    assert "not-an-address" not in trusted


def test_trusted_hosts_star() -> None:
    trusted = TrustedHosts("*")
    assert "8.8.8.8" in trusted
    assert "/any/socket" in trusted
    assert "anything" in trusted


def test_trusted_hosts_client_of() -> None:
    trusted = TrustedHosts("10.0.0.0/8")
    assert trusted.client_of("1.1.1.1, 10.0.0.2") == "1.1.1.1"
    assert trusted.client_of("1.1.1.1, 2.2.2.2, 10.0.0.2") == "2.2.2.2"
    assert trusted.client_of("10.0.0.3, 10.0.0.2") == "10.0.0.3"  # all trusted: left-most
    assert trusted.client_of(" , ") is None


def _scope(client: tuple[str, int], headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "client": client,
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "headers": headers,
    }


def test_layer_joins_repeated_forwarded_for_headers() -> None:
    layer = ProxyHeaders(TrustedHosts("127.0.0.1, 10.0.0.0/8"))
    scope = _scope(
        ("127.0.0.1", 5000),
        [(b"x-forwarded-for", b"9.9.9.9"), (b"x-forwarded-for", b"10.0.0.4")],
    )
    layer(scope)
    assert scope["client"] == ("9.9.9.9", 0)


def test_layer_ipv6_client() -> None:
    layer = ProxyHeaders(TrustedHosts("127.0.0.1"))
    scope = _scope(("127.0.0.1", 5000), [(b"x-forwarded-for", b"2001:db8::7")])
    layer(scope)
    assert scope["client"] == ("2001:db8::7", 0)


def test_layer_websocket_scheme() -> None:
    layer = ProxyHeaders(TrustedHosts("127.0.0.1"))
    scope = _scope(("127.0.0.1", 5000), [(b"x-forwarded-proto", b"https")])
    scope["type"] = "websocket"
    scope["scheme"] = "ws"
    layer(scope)
    assert scope["scheme"] == "wss"
