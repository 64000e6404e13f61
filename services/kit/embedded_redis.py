"""A Redis-protocol server in this process, for the embedded default.

Rows whose mitigation lives in Redis (KV, shared limits) speak the Redis protocol over a
real socket. With ``--backend ...+redis`` they talk to the real server; on the embedded
default (a fresh machine, no Redis) they get this one: fakeredis's TCP server on a free
port of 127.0.0.1, so the same client code, connection pool and TCP fault proxy are used.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from fakeredis import TcpFakeServer

from mitigate.clock import BACKEND_AUTOJUMP_THRESHOLD, VirtualClock

__all__ = ["paced_for_real_io", "redis_address"]


@contextlib.contextmanager
def paced_for_real_io(run: Any, pace: float = BACKEND_AUTOJUMP_THRESHOLD) -> Iterator[None]:
    """While a check waits on something crossing a real socket (a message published
    through Redis), let the run's virtual clock jump only after ``pace`` real seconds of
    quiet, as under ``--backend``; else it jumps while the message is on its way and the
    check races the wire. Scoped: pacing the whole run would cost real seconds per jump."""
    clock = getattr(run, "clock", None)
    if not isinstance(clock, VirtualClock):
        yield
        return
    before = clock.autojump_threshold
    clock.autojump_threshold = max(before, pace)
    try:
        yield
    finally:
        clock.autojump_threshold = before


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
