"""Prometheus metrics scraped over HTTP from real servers, one process and several."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time

import httpx
import pytest

from tests.support.server import ROOT, serve, spawn_cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in Prometheus text format (labels in any order)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


async def echo_app(scope, receive, send):  # type: ignore[no-untyped-def]
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_single_process_metrics(http_backend: str) -> None:
    port = _free_port()
    with serve(echo_app, http=http_backend, metrics_port=port) as running:
        for _ in range(3):
            assert httpx.post(running.url + "/items/42?x=1", content=b"a" * 500).status_code == 201
        httpx.request("FROB", running.url + "/")  # an unknown method: refused, not routed
        with running.connect() as sock:  # a malformed request
            sock.sendall(b"GET / HTTP/1.1\r\nContent-Length: x\r\nHost: a\r\n\r\n")
            sock.recv(1024)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    labels = {
        "http_request_method": "POST",
        "http_response_status_code": "201",
        "url_scheme": "http",
        "network_protocol_version": "1.1",
    }
    assert _value(text, "http_server_request_duration_seconds_count", **labels) == 3
    assert _value(text, "http_server_request_duration_seconds_bucket", le="+Inf", **labels) == 3
    assert _value(text, "http_server_request_body_size_bytes_sum", **labels) == 1500
    assert _value(text, "http_server_response_body_size_bytes_sum", **labels) == 1500
    assert _value(text, "uvicorn_requests_rejected_total", reason="bad_request") >= 2
    assert _value(text, "uvicorn_connections_total") >= 5
    assert "process_cpu_seconds_total" in text
    # no label ever carries the request path or query
    assert "/items" not in text and "x=1" not in text


def test_active_requests_gauge_and_unknown_methods_are_other() -> None:
    release = asyncio.Event()

    async def slow(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["path"] == "/wait":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    port = _free_port()
    with serve(slow, metrics_port=port, http="h11") as running, running.connect() as sock:
        sock.sendall(b"PURGE /wait HTTP/1.1\r\nHost: a\r\n\r\n")
        deadline = time.monotonic() + 5
        active = 0.0
        while active != 1 and time.monotonic() < deadline:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            if 'http_request_method="_OTHER"' in text:
                active = _value(text, "http_server_active_requests", http_request_method="_OTHER")
            time.sleep(0.05)
        assert active == 1
        assert _value(text, "uvicorn_connections_active") >= 1
        task = next(iter(running.server.server_state.running_tasks()))
        task.get_loop().call_soon_threadsafe(release.set)  # the event lives on the server's loop
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 OK")


@pytest.mark.timeout(90)
def test_workers_are_summed_and_restarts_keep_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    with spawn_cli(
        "examples.hello:app",
        "--port",
        "0",
        "--workers",
        "2",
        "--metrics-port",
        str(port),
        "--no-access-log",
        cwd=ROOT,
        # the metrics directory goes to this test's own temporary directory: what
        # another run left in /tmp (killed before its cleanup) is not looked at
        env={"TMPDIR": str(tmp_path)},
    ) as cli:
        pids: list[int] = []
        deadline = time.monotonic() + 20
        while len(pids) < 2 and time.monotonic() < deadline:
            line = cli.wait_for(r"Started server process \[(\d+)\]")
            pid = int(re.search(r"\[(\d+)\]", line).group(1))  # type: ignore[union-attr]
            if pid not in pids:
                pids.append(pid)
            cli.lines.remove(line)
        url = f"http://127.0.0.1:{cli.port}/"
        for _ in range(40):
            with httpx.Client() as client:  # a new connection each time: both workers serve
                assert client.get(url).status_code == 200
        time.sleep(1.5)  # workers report once a second
        metrics = f"http://127.0.0.1:{port}/metrics"
        before = _value(httpx.get(metrics).text, "http_server_request_duration_seconds_count")
        assert before == 40
        assert _value(httpx.get(metrics).text, "uvicorn_workers") == 2
        os.kill(pids[0], signal.SIGKILL)
        cli.wait_for(r"died")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = httpx.get(metrics).text
            if (
                _value(text, "uvicorn_worker_restarts_total") == 1
                and _value(text, "uvicorn_workers") == 2
            ):
                break
            time.sleep(0.2)
        assert _value(text, "uvicorn_worker_restarts_total") == 1
        assert _value(text, "http_server_request_duration_seconds_count") == 40
        directories = [d for d in os.listdir(tmp_path) if d.startswith("uvicorn-metrics-")]
        assert directories
        returncode = cli.stop()
    assert returncode == 0
    leftover = [d for d in os.listdir(tmp_path) if d.startswith("uvicorn-metrics-")]
    assert not (set(leftover) & set(directories)), "the metrics directory is removed on exit"


def test_open_websockets_are_counted() -> None:
    from websockets.sync.client import connect

    async def ws_app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    port = _free_port()
    with serve(ws_app, metrics_port=port, ws="websockets") as running:
        with connect(f"ws://127.0.0.1:{running.port}/"):
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            assert _value(text, "uvicorn_websocket_connections_active") == 1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            if _value(text, "uvicorn_websocket_connections_active") == 0:
                break
            time.sleep(0.05)
        assert _value(text, "uvicorn_websocket_connections_active") == 0


def test_batches_folded_while_scraping_are_counted_exactly_once() -> None:
    """The loop thread folds each iteration's records while the metrics thread takes
    snapshots: hammer both at once and every request is counted exactly once."""
    import threading

    from uvicorn._types import RequestRecord
    from uvicorn.observability.metrics import MetricsState

    state = MetricsState()
    scope = {"method": "GET", "scheme": "http", "http_version": "1.1"}
    total = 64 * 80 + 17
    records = [
        RequestRecord(scope, 200 + index % 2, index % 7, 10, 1.0, 1.003, [])
        for index in range(total)
    ]
    done = threading.Event()
    snapshots = 0

    def scrape() -> None:
        nonlocal snapshots
        while not done.is_set():
            state.to_json()
            snapshots += 1

    scraper = threading.Thread(target=scrape)
    scraper.start()
    for start in range(0, total, 64):
        state.fold(records[start : start + 64])
    done.set()
    scraper.join()
    durations = {
        tuple(key): (buckets, count) for key, buckets, count, _ in state.to_json()["durations"]
    }
    ok, created = durations[("GET", "200", "http", "1.1")], durations[("GET", "201", "http", "1.1")]
    assert ok[1] + created[1] == total
    assert ok[0][0] + created[0][0] == total  # 3 ms: all in the first (5 ms) bucket
    assert snapshots > 0
    sizes = state.to_json()["request_sizes"]
    assert sum(entry[3] for entry in sizes) == sum(index % 7 for index in range(total))


def test_buckets_match_bisect_at_every_boundary() -> None:
    """The fold's one-comparison shortcuts for the first buckets agree with the
    histogram definition (value <= bound) on and around every bound."""
    from bisect import bisect_left

    from uvicorn._types import RequestRecord
    from uvicorn.observability.metrics import DURATION_BUCKETS, SIZE_BUCKETS, MetricsState

    scope = {"method": "GET", "scheme": "http", "http_version": "1.1"}
    durations = [0.0, *DURATION_BUCKETS, *(b * 1.000001 for b in DURATION_BUCKETS), 11.0]
    sizes = [0, 1, *SIZE_BUCKETS, *(b + 1 for b in SIZE_BUCKETS)]
    state = MetricsState()
    records = []
    for duration in durations:
        records.append(RequestRecord(scope, 200, 0, 0, 1.0, 1.0 + duration, []))
    for size in sizes:
        records.append(RequestRecord(scope, 201, size, size, 1.0, 1.0, []))
    state.fold(records)
    data = {
        name: {tuple(key)[1]: buckets for key, buckets, _, _ in state.to_json()[name]}
        for name in ("durations", "request_sizes", "response_sizes")
    }
    expected = [0] * (len(DURATION_BUCKETS) + 1)
    for duration in durations:
        expected[bisect_left(DURATION_BUCKETS, (1.0 + duration) - 1.0)] += 1
    assert data["durations"]["200"] == expected
    expected = [0] * (len(SIZE_BUCKETS) + 1)
    for size in sizes:
        expected[bisect_left(SIZE_BUCKETS, size)] += 1
    assert data["request_sizes"]["201"] == expected
    assert data["response_sizes"]["201"] == expected


def test_unknown_methods_share_one_row() -> None:
    """h11 accepts any token as a method: a client sending thousands of made-up ones
    must not grow the table, and they are exported as _OTHER."""
    from uvicorn._types import RequestRecord
    from uvicorn.observability.metrics import MetricsState

    state = MetricsState()
    records = [
        RequestRecord(
            {"method": f"M{index}", "scheme": "http", "http_version": "1.1"}, 405, 0, 0, 1.0, 1.0
        )
        for index in range(1000)
    ]
    state.fold(records)
    state.fold(
        [
            RequestRecord(
                {"method": "GET", "scheme": "http", "http_version": "1.1"}, 200, 0, 0, 1.0, 1.0
            )
        ]
    )
    assert len(state.rows) == 2
    counts = {key[0]: count for key, _, count, _ in state.to_json()["durations"]}
    assert counts == {"_OTHER": 1000, "GET": 1}
