"""Trusting ``X-Forwarded-For`` / ``X-Forwarded-Proto`` from known proxies only.

A client can send any header it likes, so the forwarded headers are believed
only when the connection comes from an address in ``--forwarded-allow-ips``.
``X-Forwarded-For`` is a list that every proxy appends to; the client is the
right-most address that is not itself a trusted proxy (walking right to left
stops a client from spoofing its address by sending the header itself).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvicorn._types import Scope

__all__ = ["ProxyHeaders", "TrustedHosts"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedHosts:
    """Addresses, CIDR networks, ``*`` and literals (such as a UNIX socket path)."""

    def __init__(self, trusted: str | Iterable[str]) -> None:
        if isinstance(trusted, str):
            items = [item.strip() for item in trusted.split(",")]
        else:
            items = [item.strip() for item in trusted]
        items = [item for item in items if item]
        self.always = "*" in items
        self.addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self.networks: list[_Network] = []
        self.literals: set[str] = set()
        # peer address -> trusted: parsing costs more; ProxyHeaders reads it directly
        self.known: dict[str | None, bool] = {}
        for item in items:
            if item == "*":
                continue
            try:
                if "/" in item:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                else:
                    self.addresses.add(ipaddress.ip_address(item))
            except ValueError:
                self.literals.add(item)

    def __contains__(self, host: object) -> bool:
        if self.always:
            return True
        if not isinstance(host, str):
            return False
        cached = self.known.get(host)
        if cached is None:
            cached = self.known[host] = self._compute(host)
            if len(self.known) > 4096:  # a proxy fleet is small; a scan is not
                self.known.clear()
        return cached

    def _compute(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.literals
        if address in self.addresses:
            return True
        return any(address in network for network in self.networks)

    def client_of(self, forwarded_for: str) -> str | None:
        """The first untrusted host walking the list from the right, else the left-most."""
        hosts = [host.strip() for host in forwarded_for.split(",")]
        hosts = [host for host in hosts if host]
        if not hosts:
            return None
        if self.always:
            return hosts[0]
        for host in reversed(hosts):
            if split_host_port(host)[0] not in self:
                return host
        return hosts[0]


class ProxyHeaders:
    """Scope layer: rewrite ``client`` and ``scheme`` when a trusted proxy speaks."""

    __slots__ = ("trusted",)

    def __init__(self, trusted: TrustedHosts) -> None:
        self.trusted = trusted

    def __call__(self, scope: Scope) -> None:
        client = scope.get("client")
        if client is not None:
            peer = client[0]
        else:
            server = scope.get("server")
            peer = server[0] if server and server[1] is None else None  # UNIX socket path
        hosts = self.trusted
        # TrustedHosts' answers read without the call of ``peer in hosts`` per request
        trusted = hosts.always or hosts.known.get(peer)
        if trusted is None:
            trusted = peer in hosts
        if not trusted:
            return
        proto: bytes | None = None
        forwarded: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                proto = value
            elif name == b"x-forwarded-for":
                forwarded = value if forwarded is None else forwarded + b"," + value
        if proto is not None:
            scheme = proto.decode("latin-1").split(",")[-1].strip().lower()
            if scheme in ("http", "https", "ws", "wss"):
                if scope["type"] == "websocket":
                    scheme = "wss" if scheme in ("https", "wss") else "ws"
                else:
                    scheme = "https" if scheme in ("https", "wss") else "http"
                scope["scheme"] = scheme
        if forwarded is not None:
            host = self.trusted.client_of(forwarded.decode("latin-1"))
            if host:
                scope["client"] = split_host_port(host)


def split_host_port(value: str) -> tuple[str, int]:
    """``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80`` or ``::1`` as (host, port); port 0 if absent."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    else:
        host, port = value, ""
    return host, int(port) if port.isdigit() else 0
