"""What a transport says about its two ends, in the shapes ASGI scopes use."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

__all__ = ["client_addr", "is_tls", "server_addr", "tls_extension"]


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, (list, tuple)) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None


def client_addr(transport: asyncio.BaseTransport) -> tuple[str, int] | None:
    """The peer as ``(host, port)``; None for a UNIX socket, whose peers have no address."""
    sock: socket.socket | None = transport.get_extra_info("socket")
    if sock is not None:
        try:
            return _address(sock.getpeername())
        except OSError:
            return None
    return _address(transport.get_extra_info("peername"))


def server_addr(transport: asyncio.BaseTransport) -> tuple[str, int | None] | None:
    """The local end; a UNIX socket is ``(path, None)``, as uvicorn reports it."""
    sock: socket.socket | None = transport.get_extra_info("socket")
    info: Any
    if sock is not None:
        try:
            info = sock.getsockname()
        except OSError:
            return None
    else:
        info = transport.get_extra_info("sockname")
    if isinstance(info, str):
        return (info, None)
    return _address(info)


def is_tls(transport: asyncio.BaseTransport) -> bool:
    return transport.get_extra_info("sslcontext") is not None


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any]:
    """The ASGI ``tls`` extension: the client's certificate chain and the session's cipher."""
    ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    chain: list[str] = []
    version = None
    if ssl_object is not None:
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            chain.append(ssl.DER_cert_to_PEM_cert(der))
        version = _TLS_VERSIONS.get(ssl_object.version() or "")
    # cipher_suite wants the IANA number, which the ssl module does not expose;
    # the spec allows None.
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": _subject(ssl_object),
        "client_cert_error": None,
        "tls_version": version,
        "cipher_suite": None,
    }


_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def _subject(ssl_object: ssl.SSLObject | None) -> str | None:
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    parts = []
    for rdn in cert.get("subject", ()):
        for pair in rdn:
            parts.append(f"{pair[0]}={pair[1]}")
    return ",".join(parts) or None
