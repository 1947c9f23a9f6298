"""Per-request CPU cost of the HTTP core alone, in memory (no sockets, no load generator).

Feeds N keep-alive requests to one ``HTTPConnection`` over a null transport and
reports microseconds per request. Deterministic enough to compare two versions of
the request path on a noisy machine; ``bench/run`` remains the judge of speed.

    .venv/bin/python bench/micro.py [--http httptools|h11] [--loop uvloop|asyncio] [-n N]
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


async def drive(config: Config, count: int) -> float:
    state = ServerState()
    conn = HTTPConnection(config.context, state, {})
    transport = NullTransport()
    conn.connection_made(transport)
    started = time.perf_counter()
    for _ in range(count):
        target = transport.responses + 1
        conn.data_received(REQUEST)
        while transport.responses < target:
            await asyncio.sleep(0)
    return (time.perf_counter() - started) / count * 1e6


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
        loop.run_until_complete(drive(config, 5000))  # warm-up
        results = [loop.run_until_complete(drive(config, options.n)) for _ in range(3)]
    finally:
        loop.close()
    print(f"{options.http}+{options.loop}: {min(results):.2f} us/request (best of 3)")


if __name__ == "__main__":
    main()
