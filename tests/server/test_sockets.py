"""Listening sockets bound by the server itself (``bind_tcp``), as the loop would."""

from __future__ import annotations

import socket

import pytest

from uvicorn.server.sockets import bind_tcp


def _ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_an_address_gets_one_socket_ready_to_listen() -> None:
    [sock] = bind_tcp("127.0.0.1", 0)
    with sock:
        assert sock.family == socket.AF_INET
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        sock.listen()
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            conn, _ = sock.accept()
            conn.close()


@pytest.mark.skipif(not _ipv6_available(), reason="no IPv6 on this host")
def test_every_interface_is_ipv4_and_ipv6_apart() -> None:
    sockets = bind_tcp("", 0)
    try:
        assert {sock.family for sock in sockets} == {socket.AF_INET, socket.AF_INET6}
        [v6] = [sock for sock in sockets if sock.family == socket.AF_INET6]
        # IPv6-only, as the loop makes it: the IPv4 socket answers IPv4 clients
        assert v6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    finally:
        for sock in sockets:
            sock.close()


def test_a_busy_address_is_named_in_the_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(
            OSError, match=r"bind on address \('127\.0\.0\.1', \d+\): address already in use"
        ):
            bind_tcp("127.0.0.1", port)


def test_an_unknown_host_is_an_os_error() -> None:
    # the server logs it and exits 1, as for a busy port
    with pytest.raises(OSError):
        bind_tcp("no-such-host.invalid", 0)
