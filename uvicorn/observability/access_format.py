"""Access-log fields, computed once per request from a RequestRecord.

Two renderings share these getters: ``--access-log-format`` (gunicorn's atoms,
compiled once into a template plus the getters it uses) and the JSON access
record of ``--log-format json``. Everything a client sent is made safe for a log
line here: the path and query are percent-encoded, and header values have
control characters escaped (``\\x1b`` becomes the four characters ``\\x1b``), so
no client can forge a log line or drive a terminal.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from uvicorn._types import RequestRecord

__all__ = [
    "DEFAULT_ACCESS_LOG_FORMAT",
    "FRACTIONS",
    "NUMBERS",
    "PLAIN_PATHS",
    "CompiledFormat",
    "compile_access_format",
    "duration_ms",
    "escape",
    "is_plain_path",
    "json_fields",
    "request_target",
]

DEFAULT_ACCESS_LOG_FORMAT = '%(h)s - "%(r)s" %(s)s'
_SAFE_PATH = "/:@!$&'()*+,;=-._~"
_SAFE_QUERY = _SAFE_PATH + "?%"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Strings quote() would return unchanged: the common path and query skip it.
_plain_path = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*").fullmatch
_plain_query = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~?%-]*").fullmatch
_ATOM = re.compile(r"%\((\{[^}]*\}[io]|[a-zA-Z]+)\)s")


def escape(text: str) -> str:
    """Control characters as ``\\xNN``: a client's bytes cannot end or colour a log line."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


# is_plain_path()'s answers for the paths seen (an app serves a few): a dict lookup
# costs a sixth of the regex. Cleared when full, so a scan of random paths costs
# no more than the regex did. The access log's batch renderers look here first
# (``PLAIN_PATHS.get(path)``: True, False or not yet known), saving two calls a line.
PLAIN_PATHS: dict[str, bool] = {}


def is_plain_path(path: str) -> bool:
    """True if quote() would return ``path`` unchanged (nothing to encode or escape)."""
    plain = PLAIN_PATHS.get(path)
    if plain is None:
        if len(PLAIN_PATHS) >= 4096:
            PLAIN_PATHS.clear()
        plain = PLAIN_PATHS[path] = _plain_path(path) is not None
    return plain


def request_target(path: str, query_string: bytes) -> str:
    """The path as it goes into a log line: percent-encoded, so no control character survives."""
    target = path if is_plain_path(path) else quote(path, safe=_SAFE_PATH)
    if query_string:
        query = query_string.decode("latin-1")
        return target + "?" + (query if _plain_query(query) else quote(query, safe=_SAFE_QUERY))
    return target


# ".0", ".001" ... ".999" without trailing zeros: the digits repr() gives a duration
# rounded to the microsecond, looked up instead of computed (repr(round(x, 3)) costs
# a microsecond on its own)
FRACTIONS = tuple(f".{n:03d}".rstrip("0") if n else ".0" for n in range(1000))
# "0" ... "999": status codes and whole milliseconds, looked up rather than formatted
NUMBERS = tuple(str(n) for n in range(1000))


def duration_ms(seconds: float) -> str:
    """Milliseconds with microsecond precision, as a JSON number: ``"0.399"``, ``"12.0"``."""
    microseconds = int(seconds * 1_000_000 + 0.5)  # never negative: a monotonic clock
    return str(microseconds // 1000) + FRACTIONS[microseconds % 1000]


def _header(headers: Any, name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return escape(value.decode("latin-1"))
    return "-"


def _client(record: RequestRecord) -> str:
    client = record.scope.get("client")
    return client[0] if client else "-"


def _request_line(record: RequestRecord) -> str:
    scope = record.scope
    target = request_target(scope["path"], scope["query_string"])
    return f"{scope['method']} {target} HTTP/{scope['http_version']}"


def _clf_time(record: RequestRecord) -> str:
    return time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime())


_GETTERS: dict[str, Callable[[RequestRecord], str]] = {
    "h": _client,
    "l": lambda record: "-",
    "u": lambda record: "-",
    "t": _clf_time,
    "r": _request_line,
    "m": lambda record: record.scope["method"],
    "U": lambda record: quote(record.scope["path"], safe=_SAFE_PATH),
    "q": lambda record: quote(record.scope["query_string"].decode("latin-1"), safe=_SAFE_QUERY),
    "H": lambda record: f"HTTP/{record.scope['http_version']}",
    "s": lambda record: str(record.status),
    "B": lambda record: str(record.response_body_size),
    "b": lambda record: str(record.response_body_size) if record.response_body_size else "-",
    "f": lambda record: _header(record.scope["headers"], b"referer"),
    "a": lambda record: _header(record.scope["headers"], b"user-agent"),
    "T": lambda record: str(int(record.finished_at - record.started_at)),
    "M": lambda record: str(int((record.finished_at - record.started_at) * 1000)),
    "D": lambda record: str(int((record.finished_at - record.started_at) * 1_000_000)),
    "L": lambda record: f"{record.finished_at - record.started_at:.6f}",
    "p": lambda record: f"<{os.getpid()}>",
}


def _header_getter(name: bytes, request: bool) -> Callable[[RequestRecord], str]:
    if request:
        return lambda record: _header(record.scope["headers"], name)
    return lambda record: _header(record.response_headers, name)


class CompiledFormat:
    """A gunicorn-style access format: the template and only the getters it names."""

    def __init__(self, template: str, getters: list[tuple[str, Callable[[RequestRecord], str]]]):
        self.template = template
        self.getters = getters

    def render(self, record: RequestRecord) -> str:
        return self.template % {name: getter(record) for name, getter in self.getters}


def compile_access_format(fmt: str) -> CompiledFormat:
    """Compile once at start-up; an unknown atom is a usage error naming it."""
    getters: list[tuple[str, Callable[[RequestRecord], str]]] = []
    seen: set[str] = set()
    for match in _ATOM.finditer(fmt):
        name = match.group(1)
        if name in seen:
            continue
        seen.add(name)
        if name.startswith("{"):
            header = name[1:-2].lower().encode("latin-1")
            getters.append((name, _header_getter(header, request=name.endswith("i"))))
        elif name in _GETTERS:
            getters.append((name, _GETTERS[name]))
        else:
            raise ValueError(f"unknown access log atom %({name})s")
    try:
        fmt % {name: "" for name, _ in getters}
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid access log format {fmt!r}: {exc}") from None
    return CompiledFormat(fmt, getters)


def json_fields(record: RequestRecord) -> dict[str, Any]:
    """The access fields of a JSON log record (SPEC §6)."""
    scope = record.scope
    client = scope.get("client")
    return {
        "client.address": client[0] if client else None,
        "client.port": client[1] if client else None,
        "http.request.method": scope["method"],
        "url.path": scope["path"],
        "url.query": scope["query_string"].decode("latin-1"),
        "url.scheme": scope["scheme"],
        "network.protocol.version": scope["http_version"],
        "http.response.status_code": record.status,
        "http.response.body.size": record.response_body_size,
        "user_agent.original": _user_agent(scope["headers"]),
        "duration_ms": float(duration_ms(record.finished_at - record.started_at)),
        "worker.pid": os.getpid(),
    }


def _user_agent(headers: Any) -> str | None:
    for key, value in headers:
        if key == b"user-agent":
            return str(value.decode("latin-1"))
    return None
