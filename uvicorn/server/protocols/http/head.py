"""The request head both HTTP backends build, and the checks one parser skips.

Both backends hand the connection core a :class:`RequestHead` built by
:func:`build_head` from the same raw pieces (method, target, version, lower-cased
header pairs), so the framing decisions (keep-alive, 100-continue, upgrade, body
framing) are made here once, never in a backend.

The checks follow RFC 9112. A head that fails one is answered with the status in
the :class:`HeadError` and the connection is closed before the app sees anything:

* "A sender MUST NOT send a Content-Length header field in any message that
  contains a Transfer-Encoding header field" (§6.2), and a server that receives
  both "ought to handle the message as an error", because that is how requests
  are smuggled past a proxy.
* "If a message is received without Transfer-Encoding and with an invalid
  Content-Length header field, then the message framing is invalid and the
  recipient MUST treat it as an unrecoverable error" (§6.3).
* "A server that receives a request message with a transfer coding it does not
  understand SHOULD respond with 501 (Not Implemented)" (§6.1); the only coding
  served here is a single, final ``chunked``.
* "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
  request message that lacks a Host header field and to any request message that
  contains more than one Host header field" (RFC 9112 §3.2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

if TYPE_CHECKING:
    from uvicorn.server.protocols.http.limits import Limits

__all__ = [
    "HEAD_SLOTS",
    "KNOWN_METHODS",
    "HeadError",
    "HeadType",
    "ParsedHead",
    "RequestHead",
    "build_head",
    "check_raw_head",
]

_MAX_CONTENT_LENGTH_DIGITS = 19  # fits in a signed 64-bit integer

# RFC 9110 §5.5: a field value is visible characters, obs-text, SP and HTAB; CR and LF
# are line endings, checked on their own.
_control_byte = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]").search
_absolute_form = re.compile(rb"[A-Za-z]+://").match  # the schemes llhttp reads
_token = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+").fullmatch
_request_line = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^ ]+) HTTP/(\d\.\d)").fullmatch

# The methods llhttp parses; the h11 backend refuses the rest too, so both backends
# answer the same bytes alike (an unknown method cannot be routed by either).
KNOWN_METHODS = frozenset(
    "DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    "SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY "
    "SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)


class HeadError(Exception):
    """A request head that must be refused: answer ``status`` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RequestHead(Protocol):
    """One parsed request line and header block, framing already decided.

    The fields only, as a protocol: the HTTP core's per-request object
    (``RequestCycle``) is the head as well, so that a request makes one object, not
    two. :class:`ParsedHead` is a head on its own.
    """

    method: str
    raw_path: bytes
    query_string: bytes
    path: str  # the percent-decoded path of an ASGI scope: set by build_head
    http_version: str
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    expect_continue: bool
    upgrade: bytes | None
    content_length: int | None
    chunked: bool
    # a body follows (chunked or a non-zero Content-Length); else the head is the
    # whole request, and no on_end follows it (see RequestSink)
    has_body: bool
    forwarded: bool  # an X-Forwarded-For or X-Forwarded-Proto field is here


# The head's fields, as slots: for ParsedHead, and for any other class that is a head.
HEAD_SLOTS = (
    "chunked",
    "content_length",
    "expect_continue",
    "forwarded",
    "has_body",
    "headers",
    "http_version",
    "keep_alive",
    "method",
    "path",
    "query_string",
    "raw_path",
    "upgrade",
)


class ParsedHead:
    """A request head and nothing else: what :func:`build_head` makes unless it is
    given another head type: :class:`RequestHead`'s fields, as slots. build_head sets
    every field (there is no ``__init__``: calling one costs 400 instructions a
    request on 3.11)."""

    __slots__ = HEAD_SLOTS


# What build_head makes a head as: a class with the head's fields as slots
# (HEAD_SLOTS), made without calling it; build_head sets every field.
HeadType = type[RequestHead]

# (typed to return Any: ParsedHead declares its fields as slots, not annotations)
_new_object: Callable[[type], Any] = object.__new__


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Split a request target into (raw_path, query_string).

    Origin-form (``/a?b``) is the common case. Absolute-form
    (``http://host/a?b``) must be accepted by a server (RFC 9112 §3.2.2); its
    path is what the app sees. Asterisk-form (``*``, for OPTIONS) stays as is.
    Anything else (``a``, ``?q``, ``host:80`` outside CONNECT) is refused, as
    llhttp refuses it; h11 would pass it on.
    """
    first = target[:1]
    if first != b"/" and first != b"*":
        scheme = _absolute_form(target)
        if scheme is None:
            raise HeadError(400, "Invalid request target.")
        rest = target[scheme.end() :]
        slash = rest.find(b"/")
        question = rest.find(b"?")
        if slash == -1 or (question != -1 and question < slash):
            target = b"/" + (rest[question:] if question != -1 else b"")
        else:
            target = rest[slash:]
    path, _, query = target.partition(b"?")
    fragment = path.find(b"#")
    if fragment != -1:
        path = path[:fragment]
    else:
        fragment = query.find(b"#")
        if fragment != -1:
            query = query[:fragment]
    return path, query


def _parse_content_length(value: bytes) -> int:
    value = value.strip(b" \t")
    if not value.isdigit() or len(value) > _MAX_CONTENT_LENGTH_DIGITS:
        raise HeadError(400, "Invalid Content-Length header.")
    return int(value)


_HTTP_11 = "1.1"
_HTTP_10 = "1.0"
_HOST, _CONTENT_LENGTH, _CONNECTION, _TRANSFER_ENCODING, _EXPECT, _UPGRADE, _FORWARDED = range(7)
_SPECIAL = {
    b"host": _HOST,
    b"content-length": _CONTENT_LENGTH,
    b"connection": _CONNECTION,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"expect": _EXPECT,
    b"upgrade": _UPGRADE,
    # what the proxy-headers layer reads: it runs only for a head that has one
    b"x-forwarded-for": _FORWARDED,
    b"x-forwarded-proto": _FORWARDED,
}


def build_head(
    method: str,
    target: bytes,
    http_version: str,
    headers: list[tuple[bytes, bytes]],
    head_type: HeadType | None = None,
) -> RequestHead:
    """Decide framing and connection handling for one request head.

    ``headers`` hold lower-cased names. The head is a ``head_type`` (the HTTP
    core's RequestCycle: see RequestSink), made without ``__init__``: only the
    head's fields are set here, the rest are its owner's to set.
    Raises :class:`HeadError` for heads that RFC 9112 says must not be served.
    """
    # The module's constants from here on, not the parser's fresh strings: their
    # hashes are computed once (metrics rows are keyed by the version).
    if http_version == "1.1":
        http_version = _HTTP_11
    elif http_version == "1.0":
        http_version = _HTTP_10
    elif http_version == "0.9":  # "GET /" with no version: not an HTTP/1 request line
        raise HeadError(400, "Missing HTTP version.")
    else:
        raise HeadError(505, "Unsupported HTTP version.")
    if method == "CONNECT":
        raise HeadError(400, "CONNECT is not served here.")
    hosts = 0
    # Whether a field other than Host bears on framing or the connection. Most heads
    # have none: the locals those fields set are made at the first one, and a head
    # without skips what they decide (40 bytecodes fewer).
    framing = False
    special = _SPECIAL
    for name, value in headers:
        if name not in special:  # most fields (a test, not a call: 4 bytecodes fewer)
            continue
        kind = special[name]
        if kind == _HOST:
            hosts += 1
            continue
        if not framing:
            framing = True
            content_length: int | None = None
            transfer_encoding: bytes | None = None
            connection: bytes | None = None
            expect: bytes | None = None
            upgrade: bytes | None = None
            forwarded = False
        if kind == _CONTENT_LENGTH:
            if content_length is not None:
                raise HeadError(400, "Repeated Content-Length header.")
            content_length = _parse_content_length(value)
        elif kind == _CONNECTION:
            connection = value if connection is None else connection + b"," + value
        elif kind == _TRANSFER_ENCODING:
            if transfer_encoding is not None:
                transfer_encoding += b"," + value
            else:
                transfer_encoding = value
        elif kind == _EXPECT:
            expect = value
        elif kind == _UPGRADE:
            upgrade = value
        else:
            forwarded = True

    if hosts != 1 and (http_version == "1.1" or hosts):
        raise HeadError(400, "Missing Host header." if hosts == 0 else "Repeated Host header.")

    head: RequestHead = _new_object(head_type or ParsedHead)
    head.method = method
    head.http_version = http_version
    head.headers = headers
    if not framing:
        head.keep_alive = http_version == "1.1"
        head.expect_continue = False
        head.upgrade = None
        head.content_length = None
        head.chunked = False
        head.has_body = False
        head.forwarded = False
    else:
        chunked = False
        if transfer_encoding is not None:
            if content_length is not None:
                raise HeadError(400, "Both Content-Length and Transfer-Encoding headers.")
            if http_version == "1.0":
                raise HeadError(400, "Transfer-Encoding in an HTTP/1.0 request.")
            status = transfer_coding_status(transfer_encoding)
            if status:
                raise HeadError(status, "Unsupported Transfer-Encoding.")
            chunked = True
        if connection is None:
            keep_alive = http_version == "1.1"
            has_upgrade_token = False
        else:
            tokens = {token.strip(b" \t") for token in connection.lower().split(b",")}
            if http_version == "1.1":
                keep_alive = b"close" not in tokens
            else:
                keep_alive = b"keep-alive" in tokens and b"close" not in tokens
            has_upgrade_token = b"upgrade" in tokens
        head.keep_alive = keep_alive
        head.expect_continue = (
            expect is not None
            and http_version == "1.1"
            and expect.strip(b" \t").lower() == b"100-continue"
        )
        head.upgrade = upgrade.lower() if upgrade is not None and has_upgrade_token else None
        head.content_length = content_length
        head.chunked = chunked
        head.has_body = chunked or bool(content_length)
        head.forwarded = forwarded
    # A bare origin-form path, the common case, is its own raw_path (the int tests
    # for b"/", b"?" and b"#" cost a tenth of slicing and comparing bytes).
    if not target or target[0] != 47 or 63 in target or 35 in target:
        raw_path, head.query_string = split_target(target)
    else:
        raw_path = target
        head.query_string = b""
    head.raw_path = raw_path
    # the percent-decoded path of an ASGI scope (raw_path keeps the bytes); the int
    # test for b"%" skips the buffer protocol
    path = raw_path.decode("latin-1")
    head.path = unquote(path) if 37 in raw_path else path
    return head


def transfer_coding_status(value: bytes) -> int:
    """0 for a lone ``chunked``; 400 when chunked is not applied exactly once, last
    (RFC 9112 §6.3: the framing is then unknowable); 501 for codings not served."""
    codings = [coding.strip(b" \t").lower() for coding in value.split(b",")]
    if codings == [b"chunked"]:
        return 0
    if codings.count(b"chunked") > 1 or (b"chunked" in codings and codings[-1] != b"chunked"):
        return 400
    if b"chunked" not in codings:
        return 400 if all(coding == b"" for coding in codings) else 501
    return 501


def check_raw_head(raw: bytes, limits: Limits) -> None:
    """Checks that need the head's bytes as they came, before a lenient parser
    normalises them away (used by the h11 backend; llhttp makes the same checks).

    ``raw`` is the head up to, not including, its final empty line. Refused:
    line endings other than CRLF, control characters other than HTAB, obs-fold
    (RFC 9112 §5.2: "A server that receives an obs-fold in a request message ...
    MUST either reject the message by sending a 400"), Content-Length repeated
    or given as a list, methods neither backend can parse, and Transfer-Encoding
    values that are not a single final ``chunked`` (after the checks of
    :func:`build_head` that come first there). Also enforces the size limits, counted as the
    httptools backend counts them: the request line, the number of fields, and
    each field's name plus value.
    """
    lines = raw.split(b"\r\n")
    request_line = lines[0]
    if limits.request_line and len(request_line) > limits.request_line:
        raise HeadError(414, "Request line too long.")
    if limits.fields and len(lines) - 1 > limits.fields:
        raise HeadError(431, "Too many header fields.")
    if b"\n" in raw.replace(b"\r\n", b"") or b"\r" in raw.replace(b"\r\n", b""):
        raise HeadError(400, "Invalid line ending in request head.")
    if _control_byte(raw):  # h11 lets these through in field values; llhttp does not
        raise HeadError(400, "Control character in request head.")
    method = request_line.split(b" ", 1)[0]
    if method.decode("latin-1") not in KNOWN_METHODS:
        raise HeadError(400, "Unknown request method.")
    content_lengths = 0
    transfer_encodings: list[bytes] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise HeadError(400, "Obsolete line folding in request head.")
        name, _, value = line.partition(b":")
        if limits.field_size and len(name) + len(value.strip(b" \t")) > limits.field_size:
            raise HeadError(431, "Header field too large.")
        name = name.lower()
        if name == b"content-length":
            content_lengths += 1
            if content_lengths > 1 or b"," in value:
                raise HeadError(400, "Repeated Content-Length header.")
        elif name == b"transfer-encoding":
            transfer_encodings.append(value)
    if transfer_encodings:
        status = transfer_coding_status(b",".join(transfer_encodings))
        if status:
            # h11 would answer 501 before looking at anything else. Answer what the
            # httptools backend answers: a bad request line first, then build_head's
            # refusals in its order (version, Host, Content-Length with it, ...).
            match = _request_line(request_line)
            if match is None:
                raise HeadError(400, "Invalid request line.")
            method, target, version = match.groups()
            split_target(target)
            fields = []
            for line in lines[1:]:
                name, colon, value = line.partition(b":")
                if not colon or _token(name) is None:
                    raise HeadError(400, "Invalid header line.")
                fields.append((name.lower(), value.strip(b" \t")))
            build_head(method.decode("latin-1"), target, version.decode("latin-1"), fields)
            raise HeadError(status, "Unsupported Transfer-Encoding.")
