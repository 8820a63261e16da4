"""What the stand-in plugins (tests/engine/standin_provider.py, tests/pipeline/standin_language.py)
share: a gRPC server on 127.0.0.1 whose port is the first line printed, as the Pulumi CLI expects
of a plugin, running until the CLI stops it."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent import futures

import grpc


def serve(add_servicer: Callable[[grpc.Server], None], workers: int = 4) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    add_servicer(server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop(0)
