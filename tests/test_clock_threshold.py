"""VirtualClock's autojump_threshold: with real servers in the loop, virtual time waits
for their replies instead of jumping past a pending timer while a reply is in flight."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

import mitigate
import mitigate.clock
from mitigate.clock import VirtualClock
from tests.conftest import require_postgres


def _slow_echo(delays: list[float]) -> tuple[int, threading.Thread]:
    """A loopback server (its own thread) that answers one request with one chunk per
    delay, each sent after that many real seconds."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(64)
            for delay in delays:
                time.sleep(delay)
                conn.sendall(b"x")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


async def _ask(port: int, chunks: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    await writer.drain()
    data = await reader.readexactly(chunks)
    writer.close()
    await writer.wait_closed()
    return data


async def _reply_under_pending_timer(clock: VirtualClock, delays: list[float]) -> float:
    port, thread = _slow_echo(delays)
    timer = asyncio.ensure_future(clock.asleep(60))
    await asyncio.sleep(0)
    assert await _ask(port, len(delays)) == b"x" * len(delays)
    seen = clock.now()
    timer.cancel()
    thread.join(5)
    return seen


async def test_threshold_waits_for_a_slow_loopback_reply() -> None:
    clock = VirtualClock(autojump_threshold=0.5)
    assert await _reply_under_pending_timer(clock, [0.05]) == 0.0


async def test_without_threshold_time_jumps_past_a_reply_in_flight() -> None:
    # The bug the threshold fixes, observed: the loop looks idle while the reply travels.
    clock = VirtualClock()
    assert await _reply_under_pending_timer(clock, [0.05]) == 60.0


async def test_arriving_io_restarts_the_idle_wait() -> None:
    # Four chunks 40 ms apart: 160 ms in all, longer than the threshold, but the loop is
    # never idle for 100 ms in a row, so time must not move.
    clock = VirtualClock(autojump_threshold=0.1)
    assert await _reply_under_pending_timer(clock, [0.04] * 4) == 0.0


async def test_timers_still_fire_when_the_loop_is_idle() -> None:
    clock = VirtualClock(autojump_threshold=0.01)
    start = time.perf_counter()
    await asyncio.gather(clock.asleep(30), clock.asleep(5))
    assert clock.now() == 30.0
    assert time.perf_counter() - start < 1.0  # two jumps of ~10 ms, not 30 s


def test_threshold_is_real_seconds_not_negative() -> None:
    with pytest.raises(ValueError, match="autojump_threshold"):
        VirtualClock(autojump_threshold=-0.1)
    assert VirtualClock().autojump_threshold == 0.0


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    yield require_postgres()


async def test_threshold_waits_for_a_real_postgres_query(postgres_dsn: str) -> None:
    # A query slower than the threshold would still let time move: the threshold must
    # exceed the slowest reply (here 50 ms of pg_sleep).
    clock = VirtualClock(autojump_threshold=0.25)
    fired: list[float] = []

    async def lease_timer() -> None:
        await clock.asleep(30)
        fired.append(clock.now())

    timer = asyncio.ensure_future(lease_timer())
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
        for _ in range(3):
            await conn.execute("SELECT pg_sleep(0.05)")
    assert (clock.now(), fired) == (0.0, [])
    await timer  # once nothing is in flight, the timer fires in virtual time
    assert fired == [30.0]


async def test_a_store_query_slower_than_the_quiet_window_holds_the_clock(
    postgres_dsn: str,
) -> None:
    # A 20 ms quiet window (what a --backend run uses) and a 300 ms query: the store holds
    # the clock while its statement is on the server, so the pending 5 s timeout (a
    # policy's cut) does not fire under it. A loaded machine's slow reply, reproduced.
    clock = VirtualClock(autojump_threshold=0.02)
    store = await mitigate.open_store(f"{postgres_dsn}?schema=clock_hold", clock=clock)
    try:
        timeout = asyncio.ensure_future(clock.asleep(5))
        await asyncio.sleep(0)
        await store.fetch("SELECT pg_sleep(0.3)")
        assert clock.now() == 0.0 and not timeout.done()
        async with store.transaction() as tx:  # a transaction holds it from BEGIN to COMMIT
            await tx.execute("SELECT pg_sleep(0.1)")
            await tx.execute("SELECT pg_sleep(0.1)")
        assert clock.now() == 0.0 and not timeout.done()
        await timeout  # nothing in flight: the timer fires in virtual time
        assert clock.now() == 5.0
    finally:
        await store.execute("DROP SCHEMA IF EXISTS clock_hold CASCADE")
        await store.aclose()


async def test_a_hold_that_outlasts_its_cap_lets_timeouts_fire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A reply that never comes (a blackholed link) must not stop virtual time for ever.
    monkeypatch.setattr(mitigate.clock, "IO_HOLD_CAP", 0.1)
    clock = VirtualClock(autojump_threshold=0.02)
    timeout = asyncio.ensure_future(clock.asleep(5))
    with clock.holding():
        start = time.perf_counter()
        await timeout
    assert clock.now() == 5.0 and 0.1 <= time.perf_counter() - start < 2.0
