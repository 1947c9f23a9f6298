"""The opening handshake checks, the responses the core renders, and the
permessage-deflate negotiation of each backend (RFC 6455 §4, RFC 7692 §7)."""

from __future__ import annotations

import pytest

from uvicorn.server.protocols.http.head import RequestHead, build_head
from uvicorn.server.protocols.websocket import backend_name, websocket_factory
from uvicorn.server.protocols.websocket.backends import websockets_backend, wsproto_backend
from uvicorn.server.protocols.websocket.handshake import (
    HandshakeError,
    accept_response,
    check_request,
    http_response,
    validate_headers,
)

UPGRADE = [
    (b"host", b"example.org"),
    (b"upgrade", b"websocket"),
    (b"connection", b"upgrade"),
]


def head(*headers: tuple[bytes, bytes], version: str = "1.1") -> RequestHead:
    return build_head("GET", b"/", version, [*UPGRADE, *headers])


def test_rfc_example_nonce() -> None:
    request = check_request(
        head((b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="), (b"sec-websocket-version", b"13"))
    )
    assert request.accept == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3
    assert request.subprotocols == []
    assert request.extensions is None


def test_subprotocols_and_extensions_from_every_header() -> None:
    request = check_request(
        head(
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            (b"sec-websocket-version", b"13"),
            (b"sec-websocket-protocol", b"a, b"),
            (b"sec-websocket-protocol", b" c ,"),
            (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits"),
            (b"sec-websocket-extensions", b"x-other"),
        )
    )
    assert request.subprotocols == ["a", "b", "c"]
    assert request.extensions == "permessage-deflate; client_max_window_bits, x-other"


@pytest.mark.parametrize(
    ("headers", "version"),
    [
        ([(b"sec-websocket-version", b"13")], "1.1"),
        ([(b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ==")], "1.1"),
        (
            [
                (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                (b"sec-websocket-version", b"13"),
            ],
            "1.1",
        ),
        (
            [
                (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                (b"sec-websocket-version", b"13"),
                (b"sec-websocket-version", b"8"),
            ],
            "1.1",
        ),
        (
            [(b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ"), (b"sec-websocket-version", b"13")],
            "1.1",
        ),
        (
            [
                (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
                (b"sec-websocket-version", b"13"),
            ],
            "1.0",
        ),
    ],
    ids=["no-key", "no-version", "two-keys", "two-versions", "unpadded-key", "http-1.0"],
)
def test_refused_requests(headers: list[tuple[bytes, bytes]], version: str) -> None:
    with pytest.raises(HandshakeError):
        check_request(head(*headers, version=version))


def test_accept_response_bytes() -> None:
    response = accept_response(
        b"ACCEPT", "chat", b"permessage-deflate", b"server: uvicorn\r\n", [(b"x-a", b"1")]
    )
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-accept: ACCEPT\r\nsec-websocket-protocol: chat\r\n"
        b"sec-websocket-extensions: permessage-deflate\r\nserver: uvicorn\r\nx-a: 1\r\n\r\n"
    )


def test_http_response_lengths() -> None:
    whole = http_response(418, [], b"teapot", b"")
    assert whole == (
        b"HTTP/1.1 418 I'm a Teapot\r\ncontent-length: 6\r\nconnection: close\r\n\r\nteapot"
    )
    streamed = http_response(599, [(b"x", b"y")], None, b"")
    assert streamed == b"HTTP/1.1 599 \r\nx: y\r\nconnection: close\r\n\r\n"
    given = http_response(200, [(b"Content-Length", b"3")], b"abc", b"")
    assert given.count(b"ength:") == 1


@pytest.mark.parametrize(
    "headers",
    [[(b"bad name", b"v")], [(b"x", b"a\r\nb")], [("x", b"v")], [(b"", b"v")], [(b"x", b"\x00")]],
)
def test_unsafe_app_headers_are_refused(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises((TypeError, ValueError)):
        validate_headers(headers)


# permessage-deflate ---------------------------------------------------------------------------

NEGOTIATE = {"websockets": websockets_backend.negotiate, "wsproto": wsproto_backend.negotiate}

DECLINED = [
    "x-webkit-deflate-frame",
    "permessage-deflate; server_max_window_bits=8",  # zlib cannot deflate with 256 bytes
    "permessage-deflate; unknown=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; client_max_window_bits=abc",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=010",
    "permessage-deflate; =",
    ",,,",
]


@pytest.mark.parametrize("offer", DECLINED)
@pytest.mark.parametrize("backend", list(NEGOTIATE))
def test_declined_offers(backend: str, offer: str) -> None:
    assert NEGOTIATE[backend](offer) == (None, None)


@pytest.mark.parametrize("backend", list(NEGOTIATE))
def test_first_acceptable_offer_wins(backend: str) -> None:
    header, extension = NEGOTIATE[backend](
        "permessage-deflate; server_max_window_bits=8, "
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10, "
        "permessage-deflate"
    )
    assert extension is not None
    assert header == b"permessage-deflate; server_no_context_takeover; server_max_window_bits=10"


@pytest.mark.parametrize("backend", list(NEGOTIATE))
def test_quoted_parameter_values(backend: str) -> None:
    header, _ = NEGOTIATE[backend]('permessage-deflate; server_max_window_bits="9"')
    assert header == b"permessage-deflate; server_max_window_bits=9"


# --ws names ---------------------------------------------------------------------------------


def test_backend_names() -> None:
    assert backend_name("websockets") == backend_name("websockets-sansio") == "websockets"
    assert backend_name("wsproto") == "wsproto"
    assert backend_name("auto") == "websockets"  # both installed: websockets first
    assert backend_name("none") is None
    assert websocket_factory("none") is None
    assert websocket_factory("wsproto") is not None
    with pytest.raises(ValueError, match="wsprotocol"):
        websocket_factory("wsprotocol")


def test_auto_falls_back_to_wsproto(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "websockets" else real(name)
    )
    assert backend_name("auto") == "wsproto"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert backend_name("auto") is None
