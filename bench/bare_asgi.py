"""The least an ASGI server can do per request: a ceiling to read the benchmark against.

httptools + uvloop, a scope dict, a task running the app, one write per response; no
limits, timeouts, validation, keep-alive clock, pipelining, proxy headers or default
headers, and the app's headers written unchecked. Not a server: a measure of what the
interpreter, the event loop and the kernel cost before any of a real server's work.

    .venv/bin/python -m bench.bare_asgi PORT      # serves bench.apps:plaintext
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httptools
import uvloop

from bench.apps import plaintext as app


class BareProtocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.url = b""
        self.client = transport.get_extra_info("peername")
        self.server = transport.get_extra_info("sockname")

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        url = httptools.parse_url(self.url)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": "http",
            "method": self.parser.get_method().decode(),
            "root_path": "",
            "path": url.path.decode(),
            "raw_path": url.path,
            "query_string": url.query or b"",
            "headers": self.headers,
            "state": {},
        }
        self.headers = []
        transport = self.transport
        parts: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                parts.append(b"HTTP/1.1 %d OK\r\n" % message["status"])
                for name, value in message.get("headers", ()):
                    parts.append(b"%s: %s\r\n" % (name, value))
            else:
                body = message.get("body", b"")
                parts.append(b"content-length: %d\r\n\r\n" % len(body))
                parts.append(body)
                transport.write(b"".join(parts))

        asyncio.get_running_loop().create_task(app(scope, receive, send))


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BareProtocol, "127.0.0.1", port, backlog=2048)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
