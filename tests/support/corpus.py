"""A corpus of raw requests that must be refused, and of probes both backends must agree on.

Shared by the socket tests (``tests/server/protocols/http/test_framing_errors.py``)
and the in-memory core tests, so the same bytes are checked both ways.
"""

from __future__ import annotations

__all__ = ["ERRORS", "PROBES", "STATUS_LINES"]

H = b"POST / HTTP/1.1\r\nHost: example.org\r\n"

# name -> (request bytes, status, whether the head itself is bad). A bad head never
# reaches the app; a bad body is found after a good head, by which time the app may
# already be running if the bytes came in pieces.
ERRORS: dict[str, tuple[bytes, int, bool]] = {
    "content-length-and-transfer-encoding": (
        H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        True,
    ),
    "transfer-encoding-and-content-length": (
        H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
        True,
    ),
    "two-different-content-lengths": (
        H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
        True,
    ),
    "non-numeric-content-length": (H + b"Content-Length: abc\r\n\r\n", 400, True),
    "negative-content-length": (H + b"Content-Length: -1\r\n\r\n", 400, True),
    "signed-content-length": (H + b"Content-Length: +5\r\n\r\nhello", 400, True),
    "transfer-encoding-gzip": (H + b"Transfer-Encoding: gzip\r\n\r\n", 501, True),
    "transfer-encoding-gzip-chunked": (
        H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
        True,
    ),
    "transfer-encoding-in-http-1.0": (
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        True,
    ),
    "missing-host": (b"GET / HTTP/1.1\r\n\r\n", 400, True),
    "repeated-host": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, True),
    "http-9.9": (b"GET / HTTP/9.9\r\nHost: example.org\r\n\r\n", 505, True),
    "http-2.0": (b"GET / HTTP/2.0\r\nHost: example.org\r\n\r\n", 505, True),
    "garbage-request-line": (b"\x16\x03\x01 not http at all\r\n\r\n", 400, True),
    "space-in-target": (b"GET /a b HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "connect": (b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "bare-cr-in-header": (H + b"X-A: b\rc\r\nContent-Length: 0\r\n\r\n", 400, True),
    "nul-in-header": (H + b"X-A: b\x00c\r\nContent-Length: 0\r\n\r\n", 400, True),
    "space-before-colon": (H + b"X-A : b\r\nContent-Length: 0\r\n\r\n", 400, True),
    "obs-fold": (H + b"X-A: b\r\n c\r\nContent-Length: 0\r\n\r\n", 400, True),
    "bad-chunk-size": (
        H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
        False,
    ),
    "chunk-without-crlf": (
        H + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n",
        400,
        False,
    ),
}

STATUS_LINES = {
    400: b"HTTP/1.1 400 Bad Request\r\n",
    501: b"HTTP/1.1 501 Not Implemented\r\n",
    505: b"HTTP/1.1 505 HTTP Version Not Supported\r\n",
}

# Hostile or unusual inputs whose right answer is debatable (RFC 9110/9112 allow more than
# one), so the tests only demand that both backends agree (ARCHITECTURE: "If h11 and
# httptools behave differently on the same bytes, that is a bug").
PROBES: dict[str, bytes] = {
    "repeated-identical-content-length": H + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nab",
    "content-length-list": H + b"Content-Length: 2, 2\r\n\r\nab",
    "chunked-twice": H + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "chunked-not-last": H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "lf-only-line-endings": b"GET / HTTP/1.1\nHost: example.org\n\n",
    "lower-case-method": b"get / HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n",
    "unknown-method": b"FROB / HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n",
    "missing-version": b"GET /\r\nHost: example.org\r\n\r\n",
    "http-0.9": b"GET / HTTP/0.9\r\nHost: example.org\r\n\r\n",
    "http-1.2": b"GET / HTTP/1.2\r\nHost: example.org\r\n\r\n",
    "empty-host": b"GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
    "asterisk-options": b"OPTIONS * HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n",
}
