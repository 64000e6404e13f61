"""A Redis-protocol server in this process, for the embedded default.

Rows whose mitigation lives in Redis (KV, shared limits) speak the Redis protocol over a
real socket. With ``--backend ...+redis`` they talk to the real server; on the embedded
default (a fresh machine, no Redis) they get this one: fakeredis's TCP server on a free
port of 127.0.0.1, so the same client code, connection pool and TCP fault proxy are used.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from fakeredis import TcpFakeServer

__all__ = ["redis_address"]


def redis_address(run: Any) -> tuple[tuple[str, int], Callable[[], None]]:
    """``((host, port), stop)``: the real Redis when the run's backend names it, else an
    embedded server started for the run (``stop`` shuts it down)."""
    uses = getattr(run, "uses", None)
    if uses is not None and uses("redis"):
        return ("127.0.0.1", 6379), lambda: None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return ("127.0.0.1", port), stop
