"""The embedded bus keeps JetStream's contract on the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mitigate.bus.inproc import InprocBus
from mitigate.bus.port import ConsumerSpec, Message, subject_matches
from mitigate.chaos import Drop, Failure, FaultInjector, Latency
from mitigate.clock import VirtualClock
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Store
from mitigate.errors import ConfigError
from tests.bus._helpers import bus_log


@pytest.fixture
async def vstore(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "v.db", durability="normal", clock=VirtualClock())
    yield store
    await store.aclose()


def _msg(n: int, key: str | None = None, subject: str = "orders.created") -> Message:
    return Message(subject, b"%d" % n, id=f"m{n}", key=key)


async def test_a_publish_is_stored_once_per_dedup_id(store: Store) -> None:
    bus = InprocBus(store, stream="s1")
    outcomes = await bus.publish_many([_msg(1), _msg(2), _msg(1)])
    await bus.publish(_msg(2))
    assert outcomes == [None, None, None]
    assert (bus.published, bus.duplicates) == (2, 2)
    assert await bus_log(store, "s1") == [("m1", None), ("m2", None)]


async def test_streams_are_separate_namespaces(store: Store) -> None:
    one, two = InprocBus(store, stream="one"), InprocBus(store, stream="two")
    await one.publish(_msg(1))
    await two.publish(_msg(1))
    sub = await two.subscribe(ConsumerSpec("c", ">"))
    got = await sub.fetch(10, wait=0)
    assert [d.message.id for d in got] == ["m1"] and two.duplicates == 0


async def test_consumers_get_matching_subjects_and_keep_their_own_position(store: Store) -> None:
    bus = InprocBus(store)
    orders = await bus.subscribe(ConsumerSpec("orders", "orders.*"))
    everything = await bus.subscribe(ConsumerSpec("audit", ">"))
    await bus.publish_many([_msg(1), _msg(2, subject="users.created"), _msg(3)])

    got = await orders.fetch(10, wait=0)
    assert [d.message.id for d in got] == ["m1", "m3"]
    for d in got:
        await d.ack()
    assert await orders.fetch(10, wait=0) == []
    assert [d.message.id for d in await everything.fetch(10, wait=0)] == ["m1", "m2", "m3"]
    assert await bus.pending("audit") == 3 and await bus.pending("orders") == 0


async def test_nak_redelivers_after_its_delay_and_counts_attempts(vstore: SqliteStore) -> None:
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    bus = InprocBus(vstore)
    sub = await bus.subscribe(ConsumerSpec("c", ">", ack_wait=30.0))
    await bus.publish(_msg(1))
    (first,) = await sub.fetch(1, wait=0)
    await first.nak(delay=5.0)
    clock.advance(4.9)
    assert await sub.fetch(1, wait=0) == []
    clock.advance(0.1)
    (second,) = await sub.fetch(1, wait=0)
    assert (second.message.id, second.attempt) == ("m1", 2)


async def test_an_unacked_delivery_comes_back_after_ack_wait(vstore: SqliteStore) -> None:
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    bus = InprocBus(vstore)
    sub = await bus.subscribe(ConsumerSpec("c", ">", ack_wait=10.0))
    await bus.publish(_msg(1))
    assert len(await sub.fetch(1, wait=0)) == 1
    clock.advance(9.0)
    assert await sub.fetch(1, wait=0) == []
    clock.advance(1.0)
    (again,) = await sub.fetch(1, wait=0)
    assert again.attempt == 2
    await again.term()
    clock.advance(60.0)
    assert await sub.fetch(1, wait=0) == []


async def test_fifo_keys_hold_a_keys_next_message_until_the_previous_is_settled(
    store: Store,
) -> None:
    bus = InprocBus(store)
    sub = await bus.subscribe(ConsumerSpec("c", ">"))
    await bus.publish_many([_msg(1, "a"), _msg(2, "a"), _msg(3, "b"), _msg(4)])
    got = await sub.fetch(10, wait=0)
    assert [d.message.id for d in got] == ["m1", "m3", "m4"]
    await got[0].ack()
    assert [d.message.id for d in await sub.fetch(10, wait=0)] == ["m2"]


async def test_without_fifo_keys_every_message_is_delivered_at_once(store: Store) -> None:
    bus = InprocBus(store, fifo_keys=False)
    sub = await bus.subscribe(ConsumerSpec("c", ">"))
    await bus.publish_many([_msg(1, "a"), _msg(2, "a")])
    assert [d.message.id for d in await sub.fetch(10, wait=0)] == ["m1", "m2"]


async def test_fetch_waits_for_a_publish_on_the_clock(vstore: SqliteStore) -> None:
    import asyncio

    clock = vstore.clock
    bus = InprocBus(vstore)
    sub = await bus.subscribe(ConsumerSpec("c", ">"))

    async def later() -> None:
        await clock.asleep(3.0)
        await bus.publish(_msg(1))

    task = asyncio.create_task(later())
    got = await sub.fetch(1, wait=10.0)
    await task
    assert [d.message.id for d in got] == ["m1"] and clock.now() == pytest.approx(3.0)
    assert await sub.fetch(1, wait=2.0) == [] and clock.now() == pytest.approx(5.0)


async def test_faults_at_publish_drop_fail_or_delay_messages(vstore: SqliteStore) -> None:
    clock = vstore.clock
    injector = FaultInjector()
    bus = InprocBus(vstore, injector=injector, ack_timeout=2.0)
    with injector.attached(Drop("bus.publish", times=1)):
        outcome = (await bus.publish_many([_msg(1)]))[0]
    assert "message dropped" in str(outcome) and clock.now() == pytest.approx(2.0)
    with injector.attached(Failure("bus.publish", times=1, error=ConnectionError("refused"))):
        assert isinstance((await bus.publish_many([_msg(2)]))[0], ConnectionError)
    with injector.attached(Latency("bus.publish", delay=1.5)):
        assert await bus.publish_many([_msg(3)]) == [None]
    assert clock.now() == pytest.approx(3.5)
    assert await bus_log(vstore) == [("m3", None)]


async def test_prune_keeps_what_a_consumer_still_needs(vstore: SqliteStore) -> None:
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    bus = InprocBus(vstore)
    sub = await bus.subscribe(ConsumerSpec("c", ">"))
    await bus.publish_many([_msg(1), _msg(2)])
    got = await sub.fetch(1, wait=0)
    await got[0].ack()
    clock.advance(3600)
    assert await bus.prune(older_than=60) == 1
    assert await bus_log(vstore) == [("m2", None)]


def test_subject_matching_follows_nats() -> None:
    assert subject_matches("a.*.c", "a.b.c")
    assert not subject_matches("a.*", "a")
    assert not subject_matches("a.>", "a")
    assert subject_matches(">", "a.b")
    assert not subject_matches("a.b", "a.b.c")


def test_specs_and_messages_are_validated() -> None:
    with pytest.raises(ConfigError, match="ack_wait"):
        ConsumerSpec("c", ">", ack_wait=-1)
    with pytest.raises(ConfigError, match="consumer name"):
        ConsumerSpec("bad name", ">")
    with pytest.raises(ConfigError, match="invalid subject"):
        Message("a b", b"", id="x")
    with pytest.raises(ConfigError, match="needs an id"):
        Message("a.b", b"", id="")
