"""End to end: a real Prometheus scrapes ``--metrics-port`` and answers PromQL about our requests.

Needs the ``prometheus`` binary (Debian package ``prometheus``; ``.ci/run`` installs it when it
runs as root). Without it the test is skipped, never failed.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ROOT, spawn_cli

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
REQUESTS = 10
METRIC = "http_server_request_duration_seconds_count"
DEADLINE = 30.0

pytestmark = pytest.mark.skipif(
    not Path(PROMETHEUS).is_file(),
    reason="the prometheus binary is not installed (apt-get install prometheus; .ci/run does it)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


@contextlib.contextmanager
def run_prometheus(tmp_path: Path, target: str) -> Iterator[str]:
    """Start Prometheus scraping ``target`` every second; yield its base URL; always stop it."""
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: uvicorn\n"
        "    scrape_interval: 1s\n"
        "    scrape_timeout: 1s\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    data = tmp_path / "tsdb"
    data.mkdir()
    log_path = tmp_path / "prometheus.log"
    address = f"127.0.0.1:{free_port()}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address={address}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://{address}"
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited with {process.returncode}:\n{log_path.read_text()}"
                )
            with contextlib.suppress(OSError):
                if http_get(f"{base}/-/ready").strip():
                    break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"prometheus not ready in {DEADLINE} s:\n{log_path.read_text()}"
                )
            time.sleep(0.1)
        yield base
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def instant_query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    reply = json.loads(http_get(url))
    assert reply["status"] == "success", reply
    assert reply["data"]["resultType"] == "vector", reply
    return list(reply["data"]["result"])


@pytest.mark.parametrize("workers", [1, 2], ids=["single-process", "two-workers"])
def test_prometheus_scrapes_request_counts(tmp_path: Path, workers: int) -> None:
    """Ten requests, then Prometheus scrapes: the stored count and ``sum(...)`` are both 10.

    With ``--workers 2`` the supervisor's ``/metrics`` sums the workers, so Prometheus still
    sees one series with the total, however the kernel spread the connections.
    """
    metrics_port = free_port()
    args = ["--host", "127.0.0.1", "--port", "0", "--metrics-port", str(metrics_port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    with spawn_cli("examples.hello:app", *args, cwd=ROOT) as server:
        assert server.port is not None, server.output
        for _ in range(REQUESTS):
            assert http_get(f"http://127.0.0.1:{server.port}/") == b"Hello, world!"

        with run_prometheus(tmp_path, f"127.0.0.1:{metrics_port}") as prometheus:
            result: list[dict[str, Any]] = []
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                result = instant_query(prometheus, METRIC)
                if sum(float(series["value"][1]) for series in result) == REQUESTS:
                    break
                time.sleep(0.25)
            else:
                targets = http_get(f"{prometheus}/api/v1/targets").decode()
                log = (tmp_path / "prometheus.log").read_text()
                raise AssertionError(
                    f"{METRIC} never reached {REQUESTS} in {DEADLINE} s; last result {result}\n"
                    f"targets: {targets}\nprometheus log:\n{log}"
                )

            # All ten requests were the same GET answered 200: exactly one series carries them.
            assert len(result) == 1, result
            labels = result[0]["metric"]
            assert labels["__name__"] == METRIC
            assert labels["job"] == "uvicorn"
            assert labels["instance"] == f"127.0.0.1:{metrics_port}"
            assert labels["http_request_method"] == "GET"
            assert labels["http_response_status_code"] == "200"
            assert labels["url_scheme"] == "http"
            assert "url_path" not in labels and "http_route" not in labels

            summed = instant_query(prometheus, f"sum({METRIC})")
            assert len(summed) == 1, summed
            assert float(summed[0]["value"][1]) == REQUESTS

            up = instant_query(prometheus, 'up{job="uvicorn"}')
            assert [float(series["value"][1]) for series in up] == [1.0]

            if workers > 1:
                live = instant_query(prometheus, "uvicorn_workers")
                assert [float(series["value"][1]) for series in live] == [workers]
