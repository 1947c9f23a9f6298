"""Listening sockets: TCP (IPv4/IPv6), UNIX domain and inherited file descriptors."""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uvicorn.server.config import Config

__all__ = ["bind_config_socket", "bind_tcp", "describe_listener", "socket_from_fd"]

logger = logging.getLogger("uvicorn.error")


def socket_from_fd(fd: int) -> socket.socket:
    """Wrap an inherited listening socket; its family is read from the fd itself."""
    return socket.socket(fileno=os.dup(fd))


def bind_tcp(host: str | None, port: int) -> list[socket.socket]:
    """The sockets ``loop.create_server(host=host, port=port, reuse_address=True)``
    would listen on, bound here and handed to it with ``sock=``.

    The loop would resolve ``host`` with ``loop.getaddrinfo``, which runs on a thread
    pool (libuv's four threads on uvloop, an executor's on asyncio), and the threads
    outlive the lookup. A process with threads pays for them on every request: glibc
    takes a lock in malloc and around each ``read`` and ``write`` turns thread
    cancellation on and off, 1.2% of the server's CPU under wrk. Resolved here (a
    literal address, the usual ``--host``, resolves at once), the process stays one
    thread. Like the loop: one socket per address (``""`` or None: every interface,
    IPv4 and IPv6), IPv6 sockets IPv6-only, and an error that names the address.
    """
    infos = socket.getaddrinfo(
        host or None,
        port,
        family=socket.AF_UNSPEC,
        type=socket.SOCK_STREAM,
        flags=socket.AI_PASSIVE,
    )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                raise OSError(
                    exc.errno, f"error while attempting to bind on address {address!r}: {reason}"
                ) from None
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def describe_listener(sock: socket.socket, scheme: str) -> tuple[str, str]:
    """The 'Uvicorn running on ...' line for one socket (plain, coloured)."""
    if sock.family == socket.AF_UNIX:
        text = f"unix socket {sock.getsockname()}"
        return text, text
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    url = f"{scheme}://{host}:{port}"
    return url, f"\x1b[1m{url}\x1b[0m"


def log_listening(sock: socket.socket, scheme: str) -> None:
    text, _ = describe_listener(sock, scheme)
    # color_message is a template for the same args (as uvicorn's formatters expect)
    shown = "%s" if sock.family == socket.AF_UNIX else "\x1b[1m%s\x1b[0m"
    logger.info(
        "Uvicorn running on %s (Press CTRL+C to quit)",
        text,
        extra={"color_message": f"Uvicorn running on {shown} (Press CTRL+C to quit)"},
    )


def bind_config_socket(config: Config) -> socket.socket:
    """Bind the socket a supervisor shares with its workers, and say where it listens."""
    if config.uds:
        path = config.uds
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
            os.chmod(path, 0o666)
        except OSError as exc:
            logger.error(exc)
            raise SystemExit(1) from None
    elif config.fd is not None:
        sock = socket_from_fd(config.fd)
    else:
        family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((config.host, config.port))
        except OSError as exc:
            logger.error(exc)
            raise SystemExit(1) from None
    if config.fd is None:
        sock.listen(config.backlog)  # accept into the backlog before any worker is up
    sock.set_inheritable(True)
    log_listening(sock, "https" if config.is_ssl else "http")
    return sock
