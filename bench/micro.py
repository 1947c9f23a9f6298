"""Per-request CPU cost of the HTTP core alone, in memory (no sockets, no load generator).

Feeds N keep-alive requests to ``HTTPConnection`` objects over null transports and
reports the process's CPU time per request in microseconds (CPU time, not wall time:
on a shared VM time stolen by the host then does not count). Steadier than wrk for
comparing two versions of the request path; ``bench/run`` remains the judge of speed.

    .venv/bin/python bench/micro.py [--http httptools|h11] [--loop uvloop|asyncio] [-n N] [-c C]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from typing import Any

from uvicorn import Config
from uvicorn.observability.logging import LOGGING_CONFIG
from uvicorn.server.protocols.context import ServerState
from uvicorn.server.protocols.http.connection import HTTPConnection

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: micro\r\nAccept: */*\r\n\r\n"


class NullTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.responses = 0
        self._extra = {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def write(self, data: Any) -> None:
        self.responses += 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        self.responses = -(10**9)  # a close here would mean the keep-alive clock fired

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def drive(config: Config, count: int, connections: int) -> float:
    """``count`` requests over ``connections`` keep-alive connections, one request on
    each per round, so one loop iteration finishes as many requests as a loaded server
    with that many clients does (and batches its access-log lines alike)."""
    state = ServerState()
    pairs = []
    for number in range(connections):
        conn = HTTPConnection(config.context, state, {})
        transport = NullTransport()
        transport._extra["peername"] = ("127.0.0.1", 50000 + number)
        conn.connection_made(transport)
        pairs.append((conn, transport))
    rounds = max(1, count // connections)
    started = time.process_time()
    for _ in range(rounds):
        for conn, _transport in pairs:
            conn.data_received(REQUEST)
        for _conn, transport in pairs:
            while transport.responses < 1:
                await asyncio.sleep(0)
            transport.responses = 0
    return (time.process_time() - started) / (rounds * connections) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", default="httptools")
    parser.add_argument("--loop", default="uvloop")
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    parser.add_argument(
        "--metrics", action="store_true", help="compose the metrics observer (nothing served)"
    )
    parser.add_argument("-n", type=int, default=200_000)
    parser.add_argument(
        "-c", type=int, default=1, help="connections, each sent one request per round"
    )
    options = parser.parse_args()
    config = Config(
        "bench.apps:plaintext",
        http=options.http,
        loop=options.loop,
        lifespan="off",
        access_log=options.access_log,
        log_format=options.log_format,
        log_config=LOGGING_CONFIG if options.access_log else None,
        metrics_port=0 if options.metrics else None,
        timeout_keep_alive=3600,
    )
    if options.access_log:
        # the access lines go to /dev/null: the cost measured is rendering and writing them
        logging.getLogger("uvicorn.access").handlers[0].stream = open(os.devnull, "w")  # type: ignore[attr-defined]
    config.load()
    factory = config.get_loop_factory()
    loop = factory() if factory else asyncio.new_event_loop()
    try:
        loop.run_until_complete(drive(config, 5000, options.c))  # warm-up
        results = [loop.run_until_complete(drive(config, options.n, options.c)) for _ in range(3)]
    finally:
        loop.close()
    print(f"{options.http}+{options.loop}: {min(results):.2f} us/request (best of 3)")


if __name__ == "__main__":
    main()
