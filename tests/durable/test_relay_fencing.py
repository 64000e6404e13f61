"""The relay's updates are fenced by its lease: a relay that lost its rows to another one
cannot mark them sent, release them or count failures on them; counts are atomic."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from mitigate.bus.errors import PoisonMessageError
from mitigate.bus.inproc import InprocBus
from mitigate.clock import VirtualClock
from mitigate.durable.outbox import Outbox
from mitigate.durable.relay import Relay, RelayOptions
from tests.durable.conftest import StoreFactory


async def _two_relays(store_factory: StoreFactory) -> tuple[Relay, Relay, VirtualClock]:
    clock = VirtualClock(autojump=False)
    store = await store_factory(clock=clock)
    outbox = Outbox(store)
    async with store.transaction() as tx:
        await outbox.enqueue(tx, "orders.created", b"x", key="k", msg_id="e0")
    first = Relay(outbox, InprocBus(store), lease=30.0, registry=CollectorRegistry())
    second = Relay(outbox, InprocBus(store), lease=30.0, registry=CollectorRegistry())
    return first, second, clock


async def _lease(relay: Relay) -> tuple[object, ...]:
    rows = await relay.store.fetch("SELECT lease_owner, state, failures FROM mitigate_outbox")
    return tuple(rows[0])


async def test_a_relay_that_lost_its_lease_cannot_release_or_mark_sent(
    store_factory: StoreFactory,
) -> None:
    first, second, clock = await _two_relays(store_factory)
    (stale,) = await first._claim()
    clock.advance(31.0)  # first stalled past its lease; second takes the row over
    (fresh,) = await second._claim()
    await first._release([stale.id], RuntimeError("late failure"))
    assert await _lease(second) == (second.owner, 0, 0)
    await first._mark_sent([stale])
    assert await _lease(second) == (second.owner, 0, 0)
    assert first.published == 0
    await second._mark_sent([fresh])
    assert await _lease(second) == (None, 1, 0)


async def test_poison_failures_are_counted_by_the_database_and_fenced(
    store_factory: StoreFactory,
) -> None:
    first, second, clock = await _two_relays(store_factory)
    (stale,) = await first._claim()
    clock.advance(31.0)
    (row,) = await second._claim()
    error = PoisonMessageError("bus.publish", "too large")
    assert await first._poisoned([(stale, error)]) == 0
    assert (await _lease(second))[2] == 0  # the stale relay counted nothing
    await second._poisoned([(row, error)])
    (again,) = await second._claim()
    assert again.failures == 1
    await second._poisoned([(row, error)])  # a stale snapshot (failures=0) counts too
    assert (await _lease(second))[2] == 2


async def test_relay_options_object_and_keywords(store_factory: StoreFactory) -> None:
    store = await store_factory()
    outbox = Outbox(store)
    options = RelayOptions(batch=10, lease=5.0, max_poison=2)
    relay = Relay(outbox, InprocBus(store), options=options, registry=CollectorRegistry())
    assert (relay.batch, relay.lease, relay.max_poison, relay.idle) == (10, 5.0, 2, 0.05)
    legacy = Relay(outbox, InprocBus(store), batch=7, registry=CollectorRegistry())
    assert legacy.batch == 7 and legacy.options == RelayOptions(batch=7)
