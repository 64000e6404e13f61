"""Connecting to a NATS server that is not there fails after a timeout, with a clear error.

No server is needed: the test points the bus at a port on 127.0.0.1 that nobody listens on.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from mitigate.bus.errors import BusUnavailableError
from mitigate.bus.nats import NatsBus


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connections are refused


async def test_connect_to_an_unreachable_server_fails_after_the_timeout() -> None:
    url = f"nats://127.0.0.1:{_closed_port()}"
    loop = asyncio.get_running_loop()
    started = loop.time()
    # the outer bound only keeps this test from hanging when connect() does
    with pytest.raises(BusUnavailableError) as caught:
        await asyncio.wait_for(NatsBus.connect(url, stream="nowhere", connect_timeout=1.0), 20)
    waited = loop.time() - started
    assert 1.0 <= waited < 10.0
    assert url in str(caught.value) and "1.0s" in str(caught.value)
    # nothing is left reconnecting in the background
    await asyncio.sleep(0)
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not [t for t in leftover if "nats" in repr(t.get_coro()).lower()]
