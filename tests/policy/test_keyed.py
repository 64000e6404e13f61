"""Keyed policies: a breaker per tenant is a kill switch; a bulkhead per key."""

from __future__ import annotations

import asyncio

import pytest

from mitigate import (
    Breaker,
    BreakerOpenError,
    Bulkhead,
    BulkheadFullError,
    ConfigError,
    Keyed,
    Pipeline,
    RateLimit,
    RateLimitedError,
    Recorder,
    Retry,
    VirtualClock,
)
from mitigate.policy.breaker import _BreakerState
from mitigate.policy.keyed import _PerKey


def tenant_of(tenant: str, *args: object) -> str:
    return tenant


def test_a_breaker_per_tenant_trips_and_switches_alone() -> None:
    clock, rec = VirtualClock(), Recorder()
    policy = Pipeline(
        "video.room", Keyed(Breaker(2, 30, 60), key=tenant_of), clock=clock, observers=[rec]
    )

    def room(tenant: str) -> str:
        if tenant == "broken":
            raise ConnectionError("room failed")
        return f"room for {tenant}"

    for _ in range(2):
        with pytest.raises(ConnectionError):
            policy.call(room, "broken")
    with pytest.raises(BreakerOpenError):
        policy.call(room, "broken")
    assert policy.call(room, "healthy") == "room for healthy"
    assert policy.breaker("broken").state == "open"
    assert policy.breaker("healthy").state == "closed"
    opened = rec.first("breaker.opened")
    assert opened is not None and opened.target == "video.room"
    assert opened.reason.endswith("(key broken)")  # type: ignore[attr-defined]

    policy.breaker("healthy").force_open()  # the kill switch for one tenant
    with pytest.raises(BreakerOpenError):
        policy.call(room, "healthy")
    assert policy.call(room, "other") == "room for other"
    with pytest.raises(ConfigError, match="pass the key"):
        policy.breaker()


async def test_a_bulkhead_per_key() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Keyed(Bulkhead(1), key=tenant_of), clock=clock)

    async def work(tenant: str) -> str:
        await clock.asleep(1)
        return tenant

    a = asyncio.create_task(policy.acall(work, "a"))
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFullError):
        await policy.acall(work, "a")
    assert await policy.acall(work, "b") == "b"
    assert await a == "a"


def test_idle_states_are_dropped_but_open_ones_are_kept() -> None:
    clock = VirtualClock()
    from mitigate.observe.observers import Observers

    table: _PerKey[_BreakerState] = _PerKey(
        lambda k: _BreakerState(Breaker(1, 30, 60), "t", clock, Observers(), key=str(k)), max_keys=3
    )
    table.get("kill").force_open()
    for key in ("a", "b", "c", "d"):
        table.get(key)
    assert "kill" in set(table.keys()) and len(table) <= 3


def test_only_stateful_policies_can_be_keyed() -> None:
    with pytest.raises(ConfigError, match="nothing to key"):
        Keyed(Retry(1, base=1), key=tenant_of)  # type: ignore[arg-type]


# -- idle keys expire; max_keys holds without a scan per new key ----------------------------


def per_tenant(max_keys: int, clock: VirtualClock) -> Pipeline:
    return Pipeline(
        "video.room",
        Keyed(Breaker(3, 30, 60), key=tenant_of, max_keys=max_keys),
        clock=clock,
    )


def room_failed(tenant: str) -> str:
    raise ConnectionError("room failed")


def table_of(policy: Pipeline) -> _PerKey[_BreakerState]:
    table = policy._brk_keyed
    assert table is not None
    return table


def test_keys_that_failed_long_ago_expire() -> None:
    clock = VirtualClock()
    policy = per_tenant(100_000, clock)
    for n in range(500):
        with pytest.raises(ConnectionError):
            policy.call(room_failed, f"tenant-{n}")  # one failure each: closed, counted
    assert len(table_of(policy)) == 500
    clock.advance(3600)  # an hour later their failures are long out of the 30 s window
    policy.call(lambda tenant: "room", "tenant-new")
    assert set(table_of(policy).keys()) == {"tenant-new"}


def test_a_full_table_holds_max_keys_and_keeps_the_newest_state() -> None:
    clock = VirtualClock()
    policy = per_tenant(100, clock)
    for n in range(100):
        with pytest.raises(ConnectionError):
            policy.call(room_failed, f"old-{n}")
    clock.advance(5)  # still inside the window: not idle yet, but the table must hold
    recent = "recent"
    for _ in range(2):
        with pytest.raises(ConnectionError):
            policy.call(room_failed, recent)
    assert len(table_of(policy)) <= 100
    assert policy.breaker(recent).failures_in_window == 2  # the newest state was kept


def test_twenty_thousand_distinct_keys_stay_bounded_without_a_scan_per_key() -> None:
    clock = VirtualClock()
    policy = per_tenant(1000, clock)
    table = table_of(policy)
    policy.breaker("kill").force_open()  # a kill switch is never dropped
    largest = 0
    for n in range(20_000):
        with pytest.raises(ConnectionError):
            policy.call(room_failed, f"tenant-{n}")  # none is idle: each just failed
        largest = max(largest, len(table))
        assert largest <= 1000, f"{largest} states after {n + 1} keys"
    assert "kill" in set(table.keys())
    assert policy.breaker("kill").state == "forced_open"
    # one sweep frees room for max_keys / 8 new keys: about 20000 / 125 sweeps, not 19000
    assert table.sweeps <= 20_000 // 125 + 1


async def test_busy_bulkheads_are_kept_and_idle_ones_dropped() -> None:
    clock = VirtualClock()
    policy = Pipeline("t", Keyed(Bulkhead(1), key=tenant_of, max_keys=8), clock=clock)
    gate = asyncio.Event()

    async def hold(tenant: str) -> str:
        await gate.wait()
        return tenant

    busy = asyncio.create_task(policy.acall(hold, "busy"))
    await asyncio.sleep(0)
    for n in range(50):
        assert await policy.acall(lambda tenant: asyncio.sleep(0, tenant), f"k{n}") == f"k{n}"
    table = policy._bulk_keyed
    assert table is not None and len(table) <= 8 and "busy" in set(table.keys())
    with pytest.raises(BulkheadFullError):
        await policy.acall(hold, "busy")  # its limit still holds
    gate.set()
    assert await busy == "busy"


def test_a_keyed_rate_limit_holds_max_keys_too() -> None:
    clock = VirtualClock()
    policy = Pipeline(
        "api.token", Keyed(RateLimit(1, per=3600), key=tenant_of, max_keys=1000), clock=clock
    )
    limiter = policy._limits[0][0]
    for n in range(20_000):
        assert policy.call(lambda tenant: tenant, f"token-{n}") == f"token-{n}"
        assert len(limiter) <= 1000, f"{len(limiter)} keys after {n + 1}"
    with pytest.raises(RateLimitedError):
        policy.call(lambda tenant: tenant, "token-19999")  # a recent key keeps its budget
