"""Prometheus metrics: cheap aggregates per process, summed over workers at scrape time.

Updating prometheus-client metric objects per request (label lookup, a lock, in
multiprocess mode an mmap write, for each of four metrics) costs more than
serving a small response. Instead each process keeps plain aggregates,
:class:`MetricsState`, updated by the request observer on the event loop thread
(bucket counts, sums, counters; no locks), and a prometheus-client *collector*
turns them into metric families when Prometheus scrapes.

With ``--workers N`` each worker writes its state to ``<dir>/<pid>.json`` once a
second and when it stops; the supervisor serves ``/metrics`` and sums the files.
Counters and histograms of workers that have exited stay in the sum, so a restart
loses nothing; gauges count live workers only. The directory is removed on exit.

Names follow the OpenTelemetry HTTP semantic conventions (SPEC §5). No label
takes the request path; methods outside the standard set are ``_OTHER``.
"""

from __future__ import annotations

import json
import os
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from uvicorn._types import RequestRecord

__all__ = [
    "DURATION_BUCKETS",
    "METHODS",
    "SIZE_BUCKETS",
    "MetricsState",
    "StateCollector",
    "serve_metrics",
]

METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
# OpenTelemetry's advice for http.server.request.duration
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
SIZE_BUCKETS = (0, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
REJECT_REASONS = ("concurrency_limit", "bad_request", "limits", "timeout")

_REQUEST_LABELS = (
    "http_request_method",
    "http_response_status_code",
    "url_scheme",
    "network_protocol_version",
)
_ACTIVE_LABELS = ("http_request_method", "url_scheme")


# One row of counters per (method, status, scheme, version), in one flat list so a
# request updates it with a few index operations: the count of quick bodiless
# requests (under the first duration bound, no request body: most GETs), whose
# duration and request-size buckets are implied and added in at snapshot time;
# the three sums; then the bucket counts (non-cumulative, one per bound plus
# +Inf) of the duration, request size and response size histograms.
_QUICK, _DURATION_SUM, _REQUEST_SUM, _RESPONSE_SUM = range(4)
_DURATION_AT = 4
_REQUEST_AT = _DURATION_AT + len(DURATION_BUCKETS) + 1
_RESPONSE_AT = _REQUEST_AT + len(SIZE_BUCKETS) + 1
_ROW = _RESPONSE_AT + len(SIZE_BUCKETS) + 1


LiveView = Callable[[], tuple[list[tuple[str, str]], int, int, int]]


class MetricsState:
    """Everything one process counts.

    The request observer (middleware/metrics.py) folds each loop iteration's
    finished requests into ``rows`` under a lock that a snapshot, taken from the
    metrics thread, holds while it copies them.

    Gauges are not counted up and down per request (an aborted request would
    leak); ``live`` reads them off the server when a snapshot is taken: the
    (method, scheme) of each request in progress, open connections, open
    WebSockets, and connections accepted so far.
    """

    def __init__(self, live: LiveView | None = None) -> None:
        # (method, status, scheme, version) -> a row; methods outside METHODS
        # count under "_OTHER" (see _new_row)
        self.rows: dict[tuple[str, int, str, str], list[Any]] = {}
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.live = live
        self._fold_lock = threading.Lock()

    # hot path -----------------------------------------------------------------------

    def fold(self, records: list[RequestRecord]) -> None:
        """Add a loop iteration's finished requests to the rows.

        One batch folded in one tight loop costs far less than each request folded
        between the rest of its work. Most requests are quick and bodiless (see
        _QUICK): one counter stands for their duration and request-size buckets;
        a small response body (at most 100 bytes) is found with one comparison.
        """
        first_duration = DURATION_BUCKETS[0]
        response_at = _RESPONSE_AT
        rows = self.rows
        last_key: tuple[str, int, str, str] | None = None
        row: list[Any] = []
        with self._fold_lock:
            for record in records:
                scope = record.scope
                key = (scope["method"], record.status, scope["scheme"], scope["http_version"])
                if key != last_key:  # a batch is mostly one label set: compared, not hashed
                    row = rows.get(key) or self._new_row(key)
                    last_key = key
                duration = record.finished_at - record.started_at
                request_size = record.request_body_size
                response_size = record.response_body_size
                row[1] += duration  # _DURATION_SUM
                if request_size:
                    row[2] += request_size  # _REQUEST_SUM
                    row[_DURATION_AT + bisect_left(DURATION_BUCKETS, duration)] += 1
                    row[_REQUEST_AT + bisect_left(SIZE_BUCKETS, request_size)] += 1
                elif duration <= first_duration:
                    row[0] += 1  # _QUICK
                else:
                    row[_DURATION_AT + bisect_left(DURATION_BUCKETS, duration)] += 1
                    row[_REQUEST_AT] += 1  # no body: the 0 bucket
                if response_size <= 100:
                    row[3] += response_size  # _RESPONSE_SUM
                    row[response_at + (response_size > 0)] += 1
                else:
                    row[3] += response_size
                    row[response_at + bisect_left(SIZE_BUCKETS, response_size)] += 1

    def _new_row(self, key: tuple[str, int, str, str]) -> list[Any]:
        """The row for a label set not seen yet. h11 takes any token as a method, so
        an unknown one shares the ``_OTHER`` row and is never a key of its own:
        clients cannot grow this table."""
        if key[0] not in METHODS:
            key = ("_OTHER", *key[1:])
            row = self.rows.get(key)
            if row is not None:
                return row
        row = self.rows[key] = [0, 0.0, 0, 0] + [0] * (_ROW - 4)
        return row

    def rejected_request(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    # persistence ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        durations: dict[tuple[str, ...], list[Any]] = {}
        request_sizes: dict[tuple[str, ...], list[Any]] = {}
        response_sizes: dict[tuple[str, ...], list[Any]] = {}
        with self._fold_lock:
            rows = [(key, list(row)) for key, row in self.rows.items()]
        for (method, status, scheme, version), row in rows:
            quick = row[_QUICK]
            row[_DURATION_AT] += quick  # under the first bound
            row[_REQUEST_AT] += quick  # no body: the 0 bucket
            count = sum(row[_DURATION_AT:_REQUEST_AT])
            key = (method, str(status), scheme, version)  # methods: see _new_row
            for table, start, end, total in (
                (durations, _DURATION_AT, _REQUEST_AT, _DURATION_SUM),
                (request_sizes, _REQUEST_AT, _RESPONSE_AT, _REQUEST_SUM),
                (response_sizes, _RESPONSE_AT, _ROW, _RESPONSE_SUM),
            ):
                entry = table.setdefault(key, [list(key), [0] * (end - start), 0, 0])
                entry[1] = [a + b for a, b in zip(entry[1], row[start:end], strict=True)]
                entry[2] += count
                entry[3] += row[total]

        active: dict[tuple[str, str], int] = {}
        requests, connections, websockets, accepted = self.live() if self.live else ([], 0, 0, 0)
        for method, scheme in requests:
            pair = (method if method in METHODS else "_OTHER", scheme)
            active[pair] = active.get(pair, 0) + 1
        return {
            "durations": list(durations.values()),
            "request_sizes": list(request_sizes.values()),
            "response_sizes": list(response_sizes.values()),
            "active": [[list(k), v] for k, v in active.items()],
            "connections_active": connections,
            "connections_total": accepted,
            "websockets_active": websockets,
            "rejected": dict(self.rejected),
        }

    def write(self, directory: str) -> None:
        """Replace ``<directory>/<pid>.json`` atomically (a scrape never sees half a file)."""
        path = os.path.join(directory, f"{os.getpid()}.json")
        temporary = path + ".tmp"
        with open(temporary, "w") as file:
            json.dump(self.to_json(), file)
        os.replace(temporary, path)


class _Sum:
    """The sum of several states, in the shape the collector reads."""

    def __init__(self) -> None:
        self.durations: dict[tuple[str, ...], list[Any]] = {}
        self.request_sizes: dict[tuple[str, ...], list[Any]] = {}
        self.response_sizes: dict[tuple[str, ...], list[Any]] = {}
        self.active: dict[tuple[str, ...], int] = {}
        self.connections_active = 0
        self.connections_total = 0
        self.websockets_active = 0
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)

    def add(self, data: dict[str, Any], live: bool) -> None:
        for name in ("durations", "request_sizes", "response_sizes"):
            table = getattr(self, name)
            for key, buckets, count, total in data[name]:
                entry = table.setdefault(tuple(key), [[0] * len(buckets), 0, 0.0])
                entry[0] = [a + b for a, b in zip(entry[0], buckets, strict=True)]
                entry[1] += count
                entry[2] += total
        self.connections_total += data["connections_total"]
        for reason, count in data["rejected"].items():
            self.rejected[reason] = self.rejected.get(reason, 0) + count
        if live:
            for key, value in data["active"]:
                self.active[tuple(key)] = self.active.get(tuple(key), 0) + value
            self.connections_active += data["connections_active"]
            self.websockets_active += data["websockets_active"]


def _histogram(
    name: str,
    documentation: str,
    bounds: tuple[float, ...],
    table: Iterable[tuple[tuple[str, ...], list[int], int, float]],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=_REQUEST_LABELS)
    for key, buckets, _count, total in table:
        cumulative = []
        running = 0
        for bound, value in zip((*bounds, float("inf")), buckets, strict=True):
            running += value
            cumulative.append((_bound(bound), running))
        family.add_metric(list(key), cumulative, total)
    return family


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


class StateCollector:
    """A prometheus-client collector over one live state or a directory of worker files."""

    def __init__(
        self,
        state: MetricsState | None = None,
        directory: str | None = None,
        live_pids: Callable[[], set[int]] | None = None,
        supervisor: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self.state = state
        self.directory = directory
        self.live_pids = live_pids
        self.supervisor = supervisor

    def _total(self) -> _Sum:
        total = _Sum()
        if self.state is not None:
            total.add(self.state.to_json(), live=True)
        if self.directory is not None:
            live = self.live_pids() if self.live_pids else set()
            for entry in os.listdir(self.directory):
                if not entry.endswith(".json"):
                    continue
                try:
                    with open(os.path.join(self.directory, entry)) as file:
                        data = json.load(file)
                except (OSError, ValueError):
                    continue  # a worker replacing its file right now: next scrape has it
                total.add(data, live=int(entry[:-5]) in live)
        return total

    def collect(self) -> Iterator[Metric]:
        total = self._total()
        yield _histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            DURATION_BUCKETS,
            ((k, v[0], v[1], v[2]) for k, v in total.durations.items()),
        )
        yield _histogram(
            "http_server_request_body_size_bytes",
            "Size of HTTP server request bodies.",
            SIZE_BUCKETS,
            ((k, v[0], v[1], v[2]) for k, v in total.request_sizes.items()),
        )
        yield _histogram(
            "http_server_response_body_size_bytes",
            "Size of HTTP server response bodies.",
            SIZE_BUCKETS,
            ((k, v[0], v[1], v[2]) for k, v in total.response_sizes.items()),
        )
        active = GaugeMetricFamily(
            "http_server_active_requests", "Active HTTP server requests.", labels=_ACTIVE_LABELS
        )
        for key, value in total.active.items():
            active.add_metric(list(key), value)
        yield active
        yield GaugeMetricFamily(
            "uvicorn_connections_active", "Open client connections.", value=total.connections_active
        )
        yield CounterMetricFamily(
            "uvicorn_connections", "Client connections accepted.", value=total.connections_total
        )
        rejected = CounterMetricFamily(
            "uvicorn_requests_rejected", "Requests refused by the server.", labels=("reason",)
        )
        for reason, count in total.rejected.items():
            rejected.add_metric([reason], count)
        yield rejected
        yield GaugeMetricFamily(
            "uvicorn_websocket_connections_active",
            "Open WebSocket connections.",
            value=total.websockets_active,
        )
        if self.supervisor is not None:
            workers, restarts = self.supervisor()
            yield GaugeMetricFamily("uvicorn_workers", "Live worker processes.", value=workers)
            yield CounterMetricFamily(
                "uvicorn_worker_restarts", "Workers replaced after they died.", value=restarts
            )


def serve_metrics(
    host: str,
    port: int,
    collector: StateCollector,
    ready: Callable[[], bool] | None = None,
) -> Callable[[], None]:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` from a background thread.

    ``/healthz`` is 200 while the process is up; ``/readyz`` is 200 once the
    server (or every worker) is ready and 503 while starting or draining, so
    orchestrators' probes never go through the app. Returns the stop function.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    registry.register(ProcessCollector(registry=None))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                accept = self.headers.get("Accept", "")
                encoder, content_type = choose_encoder(accept)
                self._reply(200, content_type, encoder(registry))
            elif path == "/healthz":
                self._reply(200, "text/plain; charset=utf-8", b"ok\n")
            elif path == "/readyz":
                if ready is None or ready():
                    self._reply(200, "text/plain; charset=utf-8", b"ready\n")
                else:
                    self._reply(503, "text/plain; charset=utf-8", b"not ready\n")
            else:
                self._reply(404, "text/plain; charset=utf-8", b"not found\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # scrapes and probes are not access-log material

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="uvicorn-metrics", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
