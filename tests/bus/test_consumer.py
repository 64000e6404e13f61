"""The consumer runner on the embedded bus: retries with backoff, DLQ, replay, faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mitigate.bus.consumer import Consumer
from mitigate.bus.errors import PoisonMessageError
from mitigate.bus.inproc import InprocBus
from mitigate.bus.port import ConsumerSpec, Message
from mitigate.chaos import Drop, FaultInjector
from mitigate.clock import VirtualClock
from mitigate.durable.dlq import DeadLetters
from mitigate.durable.inbox import Inbox
from mitigate.durable.outbox import Outbox
from mitigate.durable.relay import Relay
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Tx
from mitigate.errors import ConfigError
from mitigate.observe.observers import Recorder
from mitigate.policy.retry import Retry


@pytest.fixture
async def vstore(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "v.db", durability="normal", clock=VirtualClock())
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE themes (tenant TEXT PRIMARY KEY, theme TEXT)")
    yield store
    await store.aclose()


async def _themes(store: SqliteStore) -> dict[str, str]:
    return {r[0]: r[1] for r in await store.fetch("SELECT tenant, theme FROM themes")}


async def _drive(consumer: Consumer, seconds: float) -> None:
    """Run the consumer for ``seconds`` of (virtual) time."""
    task = asyncio.create_task(consumer.run())
    await consumer.clock.asleep(seconds)
    consumer.stop()
    await task


async def test_a_failing_message_retries_5_times_with_growing_delay_then_goes_to_the_dlq(
    vstore: SqliteStore,
) -> None:
    """theme.fm.2.9: 5 retries (not 4, not 6), then DLQ; other tenants keep flowing; after
    the fix a replay from the DLQ is handled once."""
    recorder = Recorder()
    bus = InprocBus(vstore)
    dlq = DeadLetters(vstore, observers=[recorder])
    inbox = Inbox(vstore, "themes", observers=[recorder])
    broken = {"t2"}

    @inbox.handler
    async def create_default_theme(message: Message, tx: Tx) -> None:
        tenant = message.payload.decode()
        if tenant in broken:
            raise KeyError("plan")
        await tx.execute("INSERT INTO themes VALUES (?, 'default')", (tenant,))

    consumer = Consumer(
        bus,
        ConsumerSpec("themes", "tenant.created", ack_wait=30.0),
        create_default_theme,
        retry=Retry(5, base=1.0, cap=60.0),
        dead_letters=dlq,
        wait=0.5,
        observers=[recorder],
    )
    await consumer.start()
    for n in (1, 2, 3):
        await bus.publish(Message("tenant.created", b"t%d" % n, id=f"e{n}", key=f"t{n}"))
    await _drive(consumer, 100.0)

    assert recorder.values("retry.scheduled", "delay") == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert recorder.values("retry.scheduled", "attempt") == [1, 2, 3, 4, 5]
    assert await _themes(vstore) == {"t1": "default", "t3": "default"}
    (entry,) = await dlq.entries()
    assert (entry.source, entry.msg_id, entry.attempts, entry.payload) == ("themes", "e2", 6, b"t2")
    assert entry.reason == "KeyError: 'plan'" and entry.error_type == "KeyError"
    assert recorder.count("dlq.added") == 1 and consumer.dead_lettered == 1

    broken.clear()  # the fix is deployed
    await dlq.replay([entry.id])
    relay = Relay(Outbox(vstore), bus, registry=CollectorRegistry())
    await relay.drain()
    await _drive(consumer, 5.0)
    assert await _themes(vstore) == {"t1": "default", "t2": "default", "t3": "default"}
    assert await inbox.handled() == 3 and consumer.handled == 3


async def test_a_replay_meant_for_one_consumer_is_skipped_by_the_others(
    vstore: SqliteStore,
) -> None:
    bus = InprocBus(vstore)
    seen: dict[str, list[str]] = {"a": [], "b": []}

    def handler(name: str):  # type: ignore[no-untyped-def]
        async def handle(message: Message) -> None:
            seen[name].append(message.id)

        return handle

    a = Consumer(bus, ConsumerSpec("a", "x.y"), handler("a"))
    b = Consumer(bus, ConsumerSpec("b", "x.y"), handler("b"))
    await a.start()
    await b.start()
    replay = Message("x.y", b"", id="e1", headers={"Mitigate-Replay-For": "b"}, dedup_id="e1~r")
    await bus.publish_many([Message("x.y", b"", id="e0"), replay])
    await a.run_once(wait=0)
    await b.run_once(wait=0)
    assert seen == {"a": ["e0"], "b": ["e0", "e1"]} and a.skipped == 1


async def test_a_dropped_delivery_comes_back_after_ack_wait_and_is_handled_once(
    vstore: SqliteStore,
) -> None:
    clock = vstore.clock
    bus = InprocBus(vstore)
    inbox = Inbox(vstore, "themes")

    @inbox.handler
    async def handle(message: Message, tx: Tx) -> None:
        await tx.execute("INSERT INTO themes VALUES (?, 'default')", (message.id,))

    injector = FaultInjector(Drop("bus.deliver", times=1), clock=clock)
    consumer = Consumer(
        bus, ConsumerSpec("themes", ">", ack_wait=20.0), handle, injector=injector, wait=1.0
    )
    await consumer.start()
    await bus.publish(Message("tenant.created", b"", id="e1"))
    await _drive(consumer, 19.0)
    assert await _themes(vstore) == {} and consumer.dropped == 1
    await _drive(consumer, 3.0)
    assert await _themes(vstore) == {"e1": "default"}


async def test_a_lost_ack_brings_a_redelivery_that_the_inbox_drops(vstore: SqliteStore) -> None:
    clock = vstore.clock
    recorder = Recorder()
    bus = InprocBus(vstore)
    inbox = Inbox(vstore, "sessions", observers=[recorder])
    effects: list[str] = []

    @inbox.handler
    async def handle(message: Message, tx: Tx) -> None:
        effects.append(message.id)

    injector = FaultInjector(Drop("bus.ack", times=2), clock=clock)
    consumer = Consumer(
        bus, ConsumerSpec("sessions", ">", ack_wait=5.0), handle, injector=injector, wait=1.0
    )
    await consumer.start()
    await bus.publish(Message("appointment.booked", b"", id="a1"))
    await _drive(consumer, 30.0)
    assert effects == ["a1"]
    assert await inbox.duplicates() == 2
    assert recorder.values("inbox.duplicate", "by") == ["id", "id"]
    assert await bus.pending("sessions") == 0


async def test_a_delivery_without_outcome_past_the_limit_goes_to_the_dlq_unhandled(
    vstore: SqliteStore,
) -> None:
    bus = InprocBus(vstore)
    dlq = DeadLetters(vstore)
    calls: list[str] = []

    async def handle(message: Message) -> None:
        calls.append(message.id)

    consumer = Consumer(
        bus,
        ConsumerSpec("c", ">", ack_wait=1.0),
        handle,
        retry=Retry(1, base=1.0),
        dead_letters=dlq,
    )
    sub = await consumer.start()
    await bus.publish(Message("a.b", b"", id="e1"))
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    for _ in range(2):  # two deliveries the process "crashed" on (never settled)
        assert len(await sub.fetch(1, wait=0)) == 1
        clock.advance(1.0)
    await consumer.run_once(wait=0)
    assert calls == []
    (entry,) = await dlq.entries(source="c")
    assert entry.attempts == 3 and "without an outcome" in entry.reason


async def test_without_a_dlq_the_message_is_terminated_and_logged(
    vstore: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    bus = InprocBus(vstore)

    async def handle(message: Message) -> None:
        raise ValueError("bad")

    consumer = Consumer(bus, ConsumerSpec("c", ">"), handle, retry=Retry(0))
    await consumer.start()
    await bus.publish(Message("a.b", b"", id="e1"))
    await consumer.run_once(wait=0)
    assert consumer.dead_lettered == 1 and "gave up on e1" in caplog.text
    assert await bus.pending("c") == 0


def test_the_brokers_max_deliver_must_leave_room_for_the_dlq_handoff(tmp_path: Path) -> None:
    async def handle(message: Message) -> None:
        return None

    store = SqliteStore(":memory:")
    with pytest.raises(ConfigError, match="max_deliver"):
        Consumer(
            InprocBus(store),
            ConsumerSpec("c", ">", max_deliver=6),
            handle,
            retry=Retry(5, base=1.0),
        )


async def test_a_handler_raising_poison_sends_the_message_to_the_dlq_at_once(
    vstore: SqliteStore,
) -> None:
    bus = InprocBus(vstore)
    dlq = DeadLetters(vstore)

    async def handle(message: Message) -> None:
        raise PoisonMessageError("themes", "payload version 7 is unknown")

    consumer = Consumer(bus, ConsumerSpec("themes", ">"), handle, dead_letters=dlq)
    await consumer.start()
    await bus.publish(Message("tenant.created", b"", id="e1"))
    await consumer.run_once(wait=0)
    (entry,) = await dlq.entries()
    assert entry.attempts == 1 and "version 7" in entry.reason
    assert await bus.pending("themes") == 0
