"""Order per key across redeliveries: the relay stamps each keyed event with its sequence
and its key's previous one; an ordered inbox holds back a delivery that overtook an
earlier event of its key (a transient handler failure, a lost delivery waiting for the
broker's redelivery), and applies it anyway once its predecessor is plainly gone.

The embedded bus here runs without ``fifo_keys`` so that it behaves as NATS JetStream
does (later messages of a key keep flowing while an earlier one waits to be redelivered);
the last test runs the same scenario on the real NATS server."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mitigate.bus.consumer import Consumer
from mitigate.bus.errors import OutOfOrderError, PoisonMessageError
from mitigate.bus.inproc import InprocBus
from mitigate.bus.nats import NatsBus
from mitigate.bus.port import (
    HEADER_KEY_AFTER,
    HEADER_KEY_SEQ,
    HEADER_REPLAY_FOR,
    Bus,
    ConsumerSpec,
    Message,
)
from mitigate.clock import VirtualClock
from mitigate.durable.dlq import DeadLetters
from mitigate.durable.inbox import Inbox
from mitigate.durable.outbox import Outbox
from mitigate.durable.relay import Relay
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Tx
from mitigate.observe.observers import Recorder
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.retry import Retry
from tests.conftest import require_nats


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "order.db", durability="normal", clock=VirtualClock())
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE applied (msg_id TEXT)")
    yield store
    await store.aclose()


def _relay(outbox: Outbox, bus: Bus) -> Relay:
    return Relay(
        outbox,
        bus,
        policy=Pipeline("bus.publish", Retry(2, base=0.1), clock=outbox.clock),
        idle=0.1,
        registry=CollectorRegistry(),
    )


async def _enqueue(outbox: Outbox, subject: str, ids: list[str], key: str | None) -> None:
    for msg_id in ids:  # one transaction each, as separate requests would write them
        async with outbox.store.transaction() as tx:
            await outbox.enqueue(tx, subject, msg_id, key=key, msg_id=msg_id)


async def _applied(store: SqliteStore) -> list[str]:
    return [r[0] for r in await store.fetch("SELECT msg_id FROM applied ORDER BY rowid")]


def _flaky_handler(inbox: Inbox, fail_once: str) -> tuple[object, list[str]]:
    """An inbox handler that fails ``fail_once`` on its first delivery (a transient error)."""
    failed: list[str] = []

    @inbox.handler
    async def apply(message: Message, tx: Tx) -> None:
        if message.id == fail_once and not failed:
            failed.append(message.id)
            raise ConnectionError("downstream blip")
        await tx.execute("INSERT INTO applied VALUES (?)", (message.id,))

    return apply, failed


async def test_the_relay_stamps_each_keyed_event_with_its_predecessor(
    store: SqliteStore,
) -> None:
    outbox = Outbox(store)
    bus = InprocBus(store)
    await _enqueue(outbox, "t.e", ["a1", "a2", "a3"], key="a")
    await _enqueue(outbox, "t.e", ["free"], key=None)
    await _relay(outbox, bus).drain()
    sub = await bus.subscribe(ConsumerSpec("audit", ">"))
    stamps: dict[str, tuple[str | None, str | None]] = {}
    for _ in range(3):  # fifo_keys: one message of a key at a time
        for d in await sub.fetch(10, wait=0):
            headers = d.message.headers
            stamps[d.message.id] = (headers.get(HEADER_KEY_SEQ), headers.get(HEADER_KEY_AFTER))
            await d.ack()
    seq = {msg_id: s for msg_id, (s, _) in stamps.items()}
    assert stamps["a1"] == (seq["a1"], None)  # a key's first event has no predecessor
    assert stamps["a2"] == (seq["a2"], seq["a1"])
    assert stamps["a3"] == (seq["a3"], seq["a2"])
    assert stamps["free"] == (None, None)  # no key, no order


@pytest.mark.parametrize("ordered", [True, False])
async def test_an_event_that_overtakes_a_failed_one_waits_for_it(
    store: SqliteStore, ordered: bool
) -> None:
    clock = store.clock
    recorder = Recorder()
    outbox = Outbox(store)
    bus = InprocBus(store, fifo_keys=False)  # as JetStream: no broker-side order per key
    inbox = Inbox(store, "catalog", ordered=ordered, observers=[recorder])
    handler, failed = _flaky_handler(inbox, fail_once="a2")
    # One retry allowed: holds must not count as attempts, or a3 would reach the DLQ.
    consumer = Consumer(
        bus, ConsumerSpec("catalog", "t.>"), handler, retry=Retry(1, base=5.0), wait=0.1
    )
    relay = _relay(outbox, bus)
    await _enqueue(outbox, "t.e", ["a1", "a2", "a3"], key="a")
    await relay.drain()
    for _ in range(40):  # 40 virtual rounds: fetch, then let the clock move on
        await consumer.run_once(wait=0)
        await clock.asleep(0.5)
    assert failed == ["a2"]
    if ordered:
        assert await _applied(store) == ["a1", "a2", "a3"]
        assert consumer.held >= 1 and consumer.dead_lettered == 0
        assert recorder.named("inbox.held")[0].msg_id == "a3"
    else:  # without the ordered inbox the overtaking event is applied first
        assert await _applied(store) == ["a1", "a3", "a2"]
        assert consumer.held == 0


async def test_a_predecessor_that_never_comes_does_not_stall_its_key(
    store: SqliteStore,
) -> None:
    clock = store.clock
    recorder = Recorder()
    bus = InprocBus(store, fifo_keys=False)
    inbox = Inbox(store, "catalog")

    @inbox.handler
    async def apply(message: Message, tx: Tx) -> None:
        await tx.execute("INSERT INTO applied VALUES (?)", (message.id,))

    spec = ConsumerSpec("catalog", "t.>", ack_wait=10.0)
    consumer = Consumer(bus, spec, apply, observers=[recorder], wait=0.1)
    assert consumer.max_hold == 10 * 10.0  # ten ack waits: a redelivery may be lost again
    # Event 8 follows event 7, which went to the DLQ upstream and never arrives.
    orphan = Message(
        "t.e", b"", id="a8", key="a", headers={HEADER_KEY_SEQ: "8", HEADER_KEY_AFTER: "7"}
    )
    await bus.publish(orphan)
    start = clock.now()
    while not await _applied(store):
        assert clock.now() - start < 2 * consumer.max_hold, "the key stalled"
        await consumer.run_once(wait=0)
        await clock.asleep(0.5)
    assert await _applied(store) == ["a8"]
    assert clock.now() - start >= consumer.max_hold
    (gap,) = recorder.named("inbox.order_gap")
    assert (gap.msg_id, gap.key) == ("a8", "a") and gap.waited >= consumer.max_hold
    assert consumer.order_gaps == 1 and consumer.dead_lettered == 0


async def test_a_predecessor_moved_to_the_dlq_lets_its_key_flow_at_once(
    store: SqliteStore,
) -> None:
    clock = store.clock
    outbox = Outbox(store)
    bus = InprocBus(store, fifo_keys=False)
    inbox = Inbox(store, "catalog")

    @inbox.handler
    async def apply(message: Message, tx: Tx) -> None:
        if message.id == "a2":
            raise PoisonMessageError("catalog", "a2 can never be applied")
        await tx.execute("INSERT INTO applied VALUES (?)", (message.id,))

    dlq = DeadLetters(store)
    consumer = Consumer(bus, ConsumerSpec("catalog", "t.>"), apply, dead_letters=dlq, wait=0.1)
    await _enqueue(outbox, "t.e", ["a1", "a2", "a3"], key="a")
    await _relay(outbox, bus).drain()
    start = clock.now()
    for _ in range(10):
        await consumer.run_once(wait=0)
        await clock.asleep(0.5)
    assert await _applied(store) == ["a1", "a3"]
    assert consumer.dead_lettered == 1 and consumer.order_gaps == 0
    assert clock.now() - start < consumer.max_hold  # not held until the gap timer


async def test_an_ordered_inbox_refuses_an_early_event_and_keeps_nothing_of_it(
    store: SqliteStore,
) -> None:
    inbox = Inbox(store, "catalog")

    @inbox.handler
    async def apply(message: Message, tx: Tx) -> None:
        await tx.execute("INSERT INTO applied VALUES (?)", (message.id,))

    def event(n: int, after: int | None, **extra: str) -> Message:
        headers = {HEADER_KEY_SEQ: str(n), **extra}
        if after is not None:
            headers[HEADER_KEY_AFTER] = str(after)
        return Message("t.e", b"", id=f"e{n}", key="k", headers=headers)

    await apply(event(1, None))
    with pytest.raises(OutOfOrderError) as early:
        await apply(event(3, 2))
    assert (early.value.key, early.value.after, early.value.last) == ("k", 2, 1)
    assert not await inbox.seen("e3")  # rolled back: it will be handled when it comes again
    await apply(event(2, 1))
    await apply(event(3, 2))
    await apply(event(9, 8, **{HEADER_REPLAY_FOR: "catalog"}))  # a DLQ replay: applied as is
    assert await _applied(store) == ["e1", "e2", "e3", "e9"]


@pytest.mark.integration
async def test_on_nats_an_event_that_overtakes_a_failed_one_waits_for_it(tmp_path: Path) -> None:
    """The same scenario on the real NATS JetStream, on the real clock."""
    url = require_nats()
    stream = f"T{uuid.uuid4().hex[:12].upper()}"
    bus = await NatsBus.connect(url, stream=stream, subjects=[f"{stream}.>"], ack_timeout=2.0)
    store = await SqliteStore.open(tmp_path / "nats-order.db", durability="normal")
    try:
        async with store.transaction() as tx:
            await tx.execute("CREATE TABLE applied (msg_id TEXT)")
        outbox = Outbox(store)
        inbox = Inbox(store, "catalog")
        handler, failed = _flaky_handler(inbox, fail_once="a2")
        spec = ConsumerSpec("catalog", f"{stream}.>", ack_wait=2.0)
        consumer = Consumer(bus, spec, handler, retry=Retry(3, base=0.5), wait=0.2, hold_delay=0.1)
        relay = _relay(outbox, bus)
        await _enqueue(outbox, f"{stream}.e", ["a1", "a2", "a3", "a4"], key="a")
        await relay.drain()
        deadline = time.monotonic() + 15
        while len(await _applied(store)) < 4:
            assert time.monotonic() < deadline, f"applied only {await _applied(store)}"
            await consumer.run_once()
        assert failed == ["a2"]
        assert await _applied(store) == ["a1", "a2", "a3", "a4"]
        assert consumer.held >= 1
        await consumer.aclose()
    finally:
        await bus.delete_stream()
        await bus.aclose()
        await store.aclose()
