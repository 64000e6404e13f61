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
