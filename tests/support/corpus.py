"""A corpus of raw requests that must be refused, and of probes both backends must agree on.

Shared by the socket tests (``tests/server/protocols/http/test_framing_errors.py``,
``test_hostile.py``) and the in-memory core tests, so the same bytes are checked both ways.
``ERRORS`` are the framing errors of SPEC §4; ``HOSTILE`` the hardening corpus of
``docs/security.md`` (smuggling, strict RFC 9112 grammar, versions, methods);
``ACCEPTED`` the unusual but valid requests that strictness must not refuse.
"""

from __future__ import annotations

from http import HTTPStatus

__all__ = ["ACCEPTED", "ERRORS", "HOSTILE", "PROBES", "SMUGGLED_PATH", "STATUS_LINES"]

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

# The status lines the server writes: their reason phrases are Python's http.HTTPStatus
# phrases, as uvicorn's are, and those changed to RFC 9110's in Python 3.13 (413 "Content
# Too Large", 414 "URI Too Long"), so they are taken from the interpreter running the tests.
STATUS_LINES = {
    status: b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode("ascii"))
    for status in (400, 408, 413, 414, 431, 501, 505)
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

# The hardening corpus (issue 10, docs/security.md "What is refused"), in the shape of
# ERRORS: name -> (request bytes, status, whether the head itself is bad). Cases named
# "smuggle-*" hide a second request for SMUGGLED_PATH that must never be executed.

SMUGGLED_PATH = "/smuggled"

G = b"GET / HTTP/1.1\r\nHost: example.org\r\n"
C = H + b"Transfer-Encoding: chunked\r\n\r\n"  # a chunked body follows
HIDDEN = b"GET " + SMUGGLED_PATH.encode() + b" HTTP/1.1\r\nHost: example.org\r\n\r\n"

HOSTILE: dict[str, tuple[bytes, int, bool]] = {
    # Content-Length: repeated, listed, malformed (RFC 9112 §6.3)
    "repeated-identical-content-length": (
        PROBES["repeated-identical-content-length"],
        400,
        True,
    ),
    "content-length-list-same": (PROBES["content-length-list"], 400, True),
    "content-length-list-different": (H + b"Content-Length: 5, 6\r\n\r\nhello!", 400, True),
    "hex-content-length": (H + b"Content-Length: 0x5\r\n\r\nhello", 400, True),
    "space-inside-content-length": (
        H + b"Content-Length: 1 0\r\n\r\n0123456789",
        400,
        True,
    ),
    "decimal-content-length": (H + b"Content-Length: 5.0\r\n\r\nhello", 400, True),
    "empty-content-length": (H + b"Content-Length: \r\n\r\n", 400, True),
    "overflowing-content-length": (
        H + b"Content-Length: 99999999999999999999\r\n\r\n",
        400,
        True,
    ),
    # Transfer-Encoding: only a single, final chunked is served (RFC 9112 §6.1, §6.3)
    "chunked-twice": (PROBES["chunked-twice"], 400, True),
    "chunked-not-last": (PROBES["chunked-not-last"], 400, True),
    "chunked-in-two-fields": (
        H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        True,
    ),
    "empty-transfer-encoding": (H + b"Transfer-Encoding: \r\n\r\n", 400, True),
    "transfer-encoding-identity": (H + b"Transfer-Encoding: identity\r\n\r\n", 501, True),
    "transfer-encoding-identity-chunked": (
        H + b"Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n",
        501,
        True,
    ),
    "transfer-encoding-unknown-token": (
        H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        501,
        True,
    ),
    "transfer-encoding-gzip-in-http-1.0": (
        b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
        True,
    ),
    # an unsupported coding is answered 501 only when nothing else in the head is wrong
    "unknown-coding-and-missing-host": (
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
        True,
    ),
    "unknown-coding-and-bad-request-line": (
        b"POST /p HTT/1.1\r\nHost: example.org\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
        True,
    ),
    "unknown-coding-and-bad-target": (
        b"POST p HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
        True,
    ),
    "unknown-coding-and-field-without-colon": (
        H + b"Transfer-Encoding: gzip\r\nX-A b\r\n\r\n",
        400,
        True,
    ),
    "content-length-and-transfer-encoding-gzip": (
        H + b"Content-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\nhello",
        400,
        True,
    ),
    # chunk sizes that are not plain hex or overflow; broken chunk lines and trailers
    "chunk-size-0x": (C + b"0x5\r\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-size-plus": (C + b"+5\r\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-size-minus": (C + b"-5\r\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-size-leading-space": (C + b" 5\r\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-size-trailing-space": (C + b"5 \r\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-size-empty": (C + b"\r\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-size-overflow": (C + b"10000000000000000\r\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-data-longer-than-its-size": (C + b"2\r\nabc\r\n0\r\n\r\n", 400, False),
    "chunk-extension-without-name": (C + b"5;\r\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-extension-oversized": (
        C + b"5;ext=" + b"x" * 65536 + b"\r\nhello\r\n0\r\n\r\n",
        400,
        False,
    ),
    "chunk-size-bare-lf": (C + b"5\nhello\r\n0\r\n\r\n", 400, False),
    "chunk-data-bare-lf": (C + b"5\r\nhello\n0\r\n\r\n", 400, False),
    "last-chunk-bare-lf": (C + b"0\n\n", 400, False),
    "trailer-obs-fold": (C + b"0\r\nX-A: b\r\n c\r\n\r\n", 400, False),
    "trailer-control-character": (C + b"0\r\nX-A: b\x01c\r\n\r\n", 400, False),
    "trailer-bare-lf": (C + b"0\r\nX-A: b\n\r\n", 400, False),
    "trailer-without-colon": (C + b"0\r\nX-A b\r\n\r\n", 400, False),
    "content-length-in-trailers": (C + b"0\r\nContent-Length: 5\r\n\r\n", 400, False),
    # trailer fields count against the same limits as header fields (100, 8190)
    "too-many-trailer-fields": (
        C + b"0\r\n" + b"".join(b"X-T%d: v\r\n" % index for index in range(101)) + b"\r\n",
        431,
        False,
    ),
    "oversized-trailer-field": (C + b"0\r\nX-T: " + b"v" * 9000 + b"\r\n\r\n", 431, False),
    # line endings other than CRLF
    "lf-only-line-endings": (PROBES["lf-only-line-endings"], 400, True),
    "bare-lf-after-request-line": (b"GET / HTTP/1.1\nHost: example.org\r\n\r\n", 400, True),
    "bare-lf-between-fields": (G + b"X-A: b\nX-B: c\r\n\r\n", 400, True),
    "bare-lf-ending-the-head": (G + b"X-A: b\r\n\n", 400, True),
    "bare-lf-before-request-line": (b"\n" + G + b"\r\n", 400, True),
    "bare-cr-before-request-line": (b"\r" + G + b"\r\n", 400, True),
    "bare-cr-after-request-line": (b"GET / HTTP/1.1\rHost: example.org\r\n\r\n", 400, True),
    "bare-cr-between-fields": (G + b"X-A: b\rX-B: c\r\n\r\n", 400, True),
    # obs-fold, whitespace before the colon, malformed field lines
    "obs-fold-with-tab": (G + b"X-A: b\r\n\tc\r\n\r\n", 400, True),
    "obs-fold-of-the-request-line": (
        b"GET / HTTP/1.1\r\n Host: example.org\r\nHost: example.org\r\n\r\n",
        400,
        True,
    ),
    "tab-before-colon": (G + b"X-A\t: b\r\n\r\n", 400, True),
    "space-in-field-name": (G + b"X A: b\r\n\r\n", 400, True),
    "empty-field-name": (G + b": b\r\n\r\n", 400, True),
    "field-without-colon": (G + b"X-A b\r\n\r\n", 400, True),
    # control characters in names and values (SP and HTAB are the only ones allowed)
    "control-character-in-value": (G + b"X-A: b\x01c\r\n\r\n", 400, True),
    "escape-in-value": (G + b"X-A: b\x1b[0mc\r\n\r\n", 400, True),
    "del-in-value": (G + b"X-A: b\x7fc\r\n\r\n", 400, True),
    "control-character-in-host": (b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400, True),
    "nul-in-field-name": (G + b"X-\x00A: b\r\n\r\n", 400, True),
    "control-character-in-field-name": (G + b"X-\x01A: b\r\n\r\n", 400, True),
    "del-in-field-name": (G + b"X-\x7fA: b\r\n\r\n", 400, True),
    "non-ascii-field-name": (G + b"X-\xc3\xa9: b\r\n\r\n", 400, True),
    # the request line: method tokens, separators, targets
    "lower-case-method": (PROBES["lower-case-method"], 400, True),
    "unknown-method": (PROBES["unknown-method"], 400, True),
    "method-with-parenthesis": (b"GE(T / HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "method-with-nul": (b"GE\x00T / HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "method-with-slash": (b"GET/ / HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "empty-method": (b" / HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "two-spaces-after-method": (b"GET  / HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "two-spaces-after-target": (b"GET /  HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "tabs-as-separators": (b"GET\t/\tHTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "control-character-in-target": (
        b"GET /a\x01b HTTP/1.1\r\nHost: example.org\r\n\r\n",
        400,
        True,
    ),
    "del-in-target": (b"GET /a\x7fb HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "nul-in-target": (b"GET /\x00 HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "target-without-leading-slash": (b"GET a HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "query-only-target": (b"GET ?a=1 HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "authority-form-outside-connect": (
        b"GET example.org:80 HTTP/1.1\r\nHost: example.org\r\n\r\n",
        400,
        True,
    ),
    "scheme-without-slashes": (b"GET http:x HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "absolute-form-with-non-alpha-scheme": (
        b"GET a+b://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n",
        400,
        True,
    ),
    "non-ascii-target": (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    # HTTP versions other than 1.0 and 1.1; HTTP/0.9
    "http-0.9-simple-request": (b"GET /\r\n\r\n", 400, True),
    "missing-version": (PROBES["missing-version"], 400, True),
    "http-0.9": (PROBES["http-0.9"], 400, True),
    "http-1.2": (PROBES["http-1.2"], 505, True),
    "http-3.0": (b"GET / HTTP/3.0\r\nHost: example.org\r\n\r\n", 505, True),
    "http-1.10": (b"GET / HTTP/1.10\r\nHost: example.org\r\n\r\n", 400, True),
    "http-version-without-minor": (b"GET / HTTP/1\r\nHost: example.org\r\n\r\n", 400, True),
    "lower-case-http-version": (b"GET / http/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    "not-an-http-version": (b"GET / FOO/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    # llhttp reads RTSP/1.0 as a version 1.0 (and ICE/1.0 with SOURCE)
    "rtsp-version": (b"GET / RTSP/1.0\r\nHost: example.org\r\n\r\n", 400, True),
    "space-after-version": (b"GET / HTTP/1.1 \r\nHost: example.org\r\n\r\n", 400, True),
    # Host (RFC 9112 §3.2)
    "repeated-identical-host": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, True),
    "repeated-host-in-http-1.0": (b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400, True),
    # no proxy here; no HTTP/2 on an HTTP/1 port
    "connect-http-1.0": (b"CONNECT example.org:443 HTTP/1.0\r\n\r\n", 400, True),
    "http2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, True),
    "pri-method": (b"PRI / HTTP/1.1\r\nHost: example.org\r\n\r\n", 400, True),
    # request smuggling: a second request hidden where one parser or another ends the body
    "smuggle-content-length-then-chunked": (
        H + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + HIDDEN,
        400,
        True,
    ),
    "smuggle-chunked-then-content-length": (
        H + b"Transfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\n" + HIDDEN,
        400,
        True,
    ),
    "smuggle-space-before-colon-transfer-encoding": (
        H + b"Content-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + HIDDEN,
        400,
        True,
    ),
    "smuggle-obs-folded-transfer-encoding": (
        H + b"Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + HIDDEN,
        400,
        True,
    ),
    "smuggle-unknown-coding-and-content-length": (
        H + b"Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + HIDDEN,
        400,
        True,
    ),
    "smuggle-identity-chunked-and-content-length": (
        H + b"Transfer-Encoding: identity, chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + HIDDEN,
        400,
        True,
    ),
    "smuggle-chunked-in-http-1.0": (
        b"POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n" + HIDDEN,
        400,
        True,
    ),
    "smuggle-two-content-lengths": (
        H + b"Content-Length: 0\r\nContent-Length: 44\r\n\r\n" + HIDDEN,
        400,
        True,
    ),
    "smuggle-content-length-list": (H + b"Content-Length: 0, 44\r\n\r\n" + HIDDEN, 400, True),
    "smuggle-bare-lf-last-chunk": (C + b"0\n\r\n" + HIDDEN, 400, False),
    "smuggle-wrapping-chunk-size": (
        # 2**64 + 5: a parser that wraps at 64 bits reads a 5-byte chunk
        C + b"10000000000000005\r\nhello\r\n0\r\n\r\n" + HIDDEN,
        400,
        False,
    ),
}

# Unusual requests that are valid and must be served, alike on both backends:
# name -> (request bytes, the paths the app must be called with, in order).
ACCEPTED: dict[str, tuple[bytes, list[str]]] = {
    "absolute-form": (
        b"GET http://example.org/a?b=1 HTTP/1.1\r\nHost: example.org\r\n\r\n",
        ["/a"],
    ),
    "absolute-form-https-with-port": (
        b"GET https://example.org:8443/p/q HTTP/1.1\r\nHost: example.org:8443\r\n\r\n",
        ["/p/q"],
    ),
    "absolute-form-without-path": (
        b"GET http://example.org HTTP/1.1\r\nHost: example.org\r\n\r\n",
        ["/"],
    ),
    "asterisk-form-options": (b"OPTIONS * HTTP/1.1\r\nHost: example.org\r\n\r\n", ["*"]),
    "empty-lines-before-the-request-line": (b"\r\n\r\n" + G + b"\r\n", ["/"]),
    "empty-line-after-a-body": (
        H + b"Content-Length: 2\r\n\r\nab\r\nGET /next HTTP/1.1\r\nHost: example.org\r\n\r\n",
        ["/", "/next"],
    ),
    "http-1.0-without-host": (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", ["/"]),
    "tab-and-obs-text-in-values": (G + b"X-A: a\tb\r\nX-B: caf\xc3\xa9 \t\r\n\r\n", ["/"]),
    "content-length-with-whitespace": (H + b"Content-Length:\t5 \r\n\r\nhello", ["/"]),
    "upper-case-chunked": (H + b"Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", ["/"]),
    "chunk-extensions": (
        C + b'5;a=b;c\r\nhello\r\n3;q="x y"\r\nabc\r\n0;last\r\n\r\n',
        ["/"],
    ),
    "zero-padded-upper-case-chunk-size": (
        C + b"000000000000000A\r\n0123456789\r\n0\r\n\r\n",
        ["/"],
    ),
    "trailers": (C + b"5\r\nhello\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n", ["/"]),
    "patch-and-query-methods": (
        b"PATCH /p HTTP/1.1\r\nHost: example.org\r\nContent-Length: 0\r\n\r\n"
        b"QUERY /q HTTP/1.1\r\nHost: example.org\r\nContent-Length: 0\r\n\r\n",
        ["/p", "/q"],
    ),
}
