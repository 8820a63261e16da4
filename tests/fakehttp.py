"""Local HTTP stand-ins for the tests: a JSON-answering handler and a server run on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar


class JsonHandler(BaseHTTPRequestHandler):
    def reply(self, status: int, payload, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


def release_server(tarball: str, data: bytes, seen: list[str] | None = None) -> ThreadingHTTPServer:
    """Pulumi's release server on 127.0.0.1 (a free port): ``/releases/sdk/<tarball>`` answers
    ``data``, anything else 404; each path asked is added to ``seen``. Run it with serving()."""

    class Releases(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if seen is not None:
                seen.append(self.path)
            found = self.path == f"/releases/sdk/{tarball}"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(data) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Releases)


Server = TypeVar("Server", bound=ThreadingHTTPServer)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Serve in a thread until the block ends, then stop and close (the port is freed)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def without_proxies(monkeypatch) -> None:
    """urllib would send 127.0.0.1 requests to a configured proxy: make sure they stay local."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
