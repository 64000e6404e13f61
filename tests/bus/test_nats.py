"""The NATS JetStream adapter against a real server (127.0.0.1:4222).

Real time, so the chaos schedules are compressed and stated in each test: the seeds'
"2 minutes" and "60 s" become seconds here; the same scenarios run at full length in
virtual time on the embedded bus (test_chaos_embedded.py, tests/durable/test_outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mitigate.bus.consumer import Consumer
from mitigate.bus.errors import PublishRejectedError
from mitigate.bus.nats import NatsBus, NatsDelivery
from mitigate.bus.port import ConsumerSpec, Message
from mitigate.chaos import Drop, FaultInjector, FaultProxy
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

pytestmark = pytest.mark.integration


@pytest.fixture
def stream() -> str:
    return f"T{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture
async def bus(stream: str) -> AsyncIterator[NatsBus]:
    url = require_nats()
    bus = await NatsBus.connect(url, stream=stream, subjects=[f"{stream}.>"], ack_timeout=1.0)
    yield bus
    await bus.delete_stream()
    await bus.aclose()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "app.db", durability="normal")
    async with store.transaction() as tx:
        await tx.execute("CREATE TABLE effects (msg_id TEXT, payload TEXT)")
    yield store
    await store.aclose()


async def _until(check: Callable[[], Awaitable[object]], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _running(*workers: Relay | Consumer) -> AsyncIterator[None]:
    """Run relays and consumers in the background; stop them even when the test fails."""
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield
    finally:
        for w in workers:
            w.stop()
        _done, pending = await asyncio.wait(tasks, timeout=5.0)
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _stream_log(bus: NatsBus, stream: str) -> list[tuple[str, str | None]]:
    """(msg id, key) of everything in the stream, in stream order."""
    sub = await bus.subscribe(ConsumerSpec(f"audit{uuid.uuid4().hex[:6]}", f"{stream}.>"))
    seen: dict[int, tuple[str, str | None]] = {}
    while True:
        got = await sub.fetch(500, wait=0.5)
        if not got:
            break
        for d in got:
            assert isinstance(d, NatsDelivery)
            seen[d.stream_sequence] = (d.message.id, d.message.key)
            await d.ack()
    return [seen[s] for s in sorted(seen)]


def _by_key(log: list[tuple[str, str | None]]) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = defaultdict(list)
    for msg_id, key in log:
        out[key].append(msg_id)
    return out


async def test_publish_is_deduplicated_by_nats_msg_id(bus: NatsBus, stream: str) -> None:
    messages = [Message(f"{stream}.a", b"%d" % n, id=f"m{n}", key="k") for n in range(3)]
    assert await bus.publish_many(messages) == [None, None, None]
    await bus.publish(messages[1])  # a re-send after a lost ack
    assert (bus.published, bus.duplicates) == (3, 1)
    info = await bus.js.stream_info(stream)
    assert info.state.messages == 3
    log = await _stream_log(bus, stream)
    assert log == [("m0", "k"), ("m1", "k"), ("m2", "k")]


async def test_a_full_stream_refuses_publishes_and_the_relay_drains_after_the_limit_is_raised(
    bus: NatsBus, stream: str, store: SqliteStore
) -> None:
    """theme.fm.2.22: publishes refused at the stream limit (discard new), classified as
    resource-exhausted; the relay backs off; raising the limit drains the backlog."""
    await bus.ensure_stream([f"{stream}.>"], max_msgs=5, discard_new=True)
    (outcome,) = await bus.publish_many([Message(f"{stream}.x", b"", id="probe")])
    assert outcome is None
    for n in range(4):
        await bus.publish(Message(f"{stream}.x", b"", id=f"fill{n}"))
    (refused,) = await bus.publish_many([Message(f"{stream}.x", b"", id="over")])
    assert isinstance(refused, PublishRejectedError) and refused.exhausted
    assert "maximum messages exceeded" in str(refused)

    recorder = Recorder()
    outbox = Outbox(store)
    async with store.transaction() as tx:
        for n in range(6):
            await outbox.enqueue(tx, f"{stream}.theme", b"", key=f"k{n % 2}", msg_id=f"e{n}")
    relay = Relay(
        outbox,
        bus,
        policy=Pipeline("bus.publish", Retry(0)),
        idle=0.05,
        backoff_cap=0.2,
        registry=CollectorRegistry(),
        observers=[recorder],
    )
    async with _running(relay):
        await _until(lambda: _failures(recorder, 3), 5.0)
        assert (await outbox.backlog()).rows == 6  # kept, not lost
        assert "maximum messages" in recorder.values("outbox.publish_failed", "reason")[0]
        await bus.ensure_stream([f"{stream}.>"])  # the limit is raised
        await _until(lambda: _drained(outbox), 5.0)
    by_key = _by_key(await _stream_log(bus, stream))
    assert by_key["k0"] == ["e0", "e2", "e4"] and by_key["k1"] == ["e1", "e3", "e5"]


async def _failures(recorder: Recorder, at_least: int) -> bool:
    return recorder.count("outbox.publish_failed") >= at_least


async def _drained(outbox: Outbox) -> bool:
    return (await outbox.backlog()).rows == 0


async def test_a_poison_message_reaches_the_dlq_after_max_deliveries_and_replays_to_success(
    bus: NatsBus, stream: str, store: SqliteStore
) -> None:
    recorder = Recorder()
    outbox = Outbox(store)
    relay = Relay(outbox, bus, idle=0.05, registry=CollectorRegistry())
    dlq = DeadLetters(store, observers=[recorder])
    inbox = Inbox(store, "themes")
    broken = {"e2"}

    @inbox.handler
    async def handle(message: Message, tx: Tx) -> None:
        if message.id in broken:
            raise KeyError("plan")
        await tx.execute("INSERT INTO effects VALUES (?, ?)", (message.id, ""))

    consumer = Consumer(
        bus,
        ConsumerSpec("themes", f"{stream}.>", ack_wait=5.0),
        handle,
        retry=Retry(2, schedule=(0.2, 0.4)),
        dead_letters=dlq,
        wait=0.2,
        observers=[recorder],
    )
    async with store.transaction() as tx:
        for n in (1, 2, 3):
            await outbox.enqueue(tx, f"{stream}.tenant.created", b"", msg_id=f"e{n}")
    await relay.drain()
    async with _running(consumer):
        await _until(lambda: dlq.count(), 10.0)
        (entry,) = await dlq.entries()
        assert (entry.source, entry.msg_id, entry.attempts) == ("themes", "e2", 3)
        assert recorder.values("retry.scheduled", "delay") == [0.2, 0.4]
        effects = await store.fetch("SELECT msg_id FROM effects")
        assert sorted(r[0] for r in effects) == ["e1", "e3"]

        broken.clear()
        await dlq.replay([entry.id])
        await relay.drain()
        await _until(lambda: inbox.seen("e2"), 10.0)
    rows = await store.fetch("SELECT msg_id FROM effects ORDER BY msg_id")
    assert [r[0] for r in rows] == ["e1", "e2", "e3"]  # once each
    assert consumer.dead_lettered == 1


async def test_drop_10_percent_of_publishes_and_deliveries_on_real_nats(
    bus: NatsBus, stream: str, store: SqliteStore
) -> None:
    """content.chaos.2 on real NATS, compressed: 2,000 events over about 2 s while 10% of
    publishes (fault hook at the adapter's publish path) and 10% of deliveries are
    dropped until each side lost more than 20. Every event handled exactly once through the inbox,
    none lost, the stream holds each once, in order per aggregate."""
    events, aggregates = 2000, 40
    injector = FaultInjector(random=random.Random(5).random)
    bus.injector = injector
    bus.ack_timeout = 0.3
    outbox = Outbox(store)
    relay = Relay(
        outbox,
        bus,
        policy=Pipeline("bus.publish", Retry(2, base=0.05)),
        idle=0.02,
        concurrency=4,
        registry=CollectorRegistry(),
    )
    inbox = Inbox(store, "catalog")

    @inbox.handler
    async def handle(message: Message, tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO effects VALUES (?, ?)", (message.id, message.payload.decode())
        )

    consumer = Consumer(
        bus,
        ConsumerSpec("catalog", f"{stream}.>", ack_wait=1.0),
        handle,
        injector=injector,
        batch=200,
        wait=0.2,
    )
    await consumer.start()
    # The drop window closes once each side has lost more than 20 messages (about 1.5 s
    # on a quiet machine), so a loaded machine still sees the fault do its work.
    drops = [Drop("bus.publish", rate=0.1), Drop("bus.deliver", rate=0.1)]
    for drop in drops:
        injector.add(drop)

    def dropped(target: str) -> int:
        return sum(1 for i in injector.injections if i.target == target)

    async def enough_dropped() -> bool:
        return dropped("bus.publish") > 20 and dropped("bus.deliver") > 20

    async def all_handled() -> bool:
        return await inbox.handled() == events

    async with _running(relay, consumer):
        for start in range(0, events, 100):
            async with store.transaction() as tx:
                for n in range(start, start + 100):
                    await outbox.enqueue(
                        tx, f"{stream}.built", f"{n}", key=f"a{n % aggregates}", msg_id=f"e{n:04d}"
                    )
            outbox.notify()
            await asyncio.sleep(0.1)
        await _until(enough_dropped, 30.0)
        for drop in drops:
            injector.remove(drop)
        await _until(all_handled, 30.0)

    targets = [i.target for i in injector.injections]
    assert targets.count("bus.publish") > 20 and targets.count("bus.deliver") > 20
    rows = await store.fetch("SELECT COUNT(*), COUNT(DISTINCT msg_id) FROM effects")
    assert rows[0] == (events, events)
    bus.injector = None
    log = await _stream_log(bus, stream)
    assert len(log) == events  # no publish stored twice
    by_key = _by_key(log)
    for a in range(aggregates):
        assert by_key[f"a{a}"] == [f"e{n:04d}" for n in range(a, events, aggregates)]


async def test_broker_down_the_outbox_keeps_rows_relay_backs_off_and_drains(
    stream: str, store: SqliteStore
) -> None:
    """Broker down, on real NATS behind a TCP proxy (compressed: 3 s instead of 60 s):
    rows stay in the outbox, the relay backs off, the lag rises, and after recovery the
    relay drains; the lag falls to zero and the stream holds every event once, in order."""
    url = require_nats()
    recorder = Recorder()
    async with FaultProxy("127.0.0.1", int(url.rsplit(":", 1)[1])) as proxy:
        bus = await NatsBus.connect(
            f"nats://127.0.0.1:{proxy.port}",
            stream=stream,
            subjects=[f"{stream}.>"],
            ack_timeout=0.3,
            reconnect_wait=0.1,
        )
        try:
            outbox = Outbox(store)
            relay = Relay(
                outbox,
                bus,
                policy=Pipeline("bus.publish", Retry(1, base=0.05)),
                idle=0.05,
                backoff_cap=0.8,
                sample_every=0.1,
                registry=CollectorRegistry(),
                observers=[recorder],
            )

            async def produce(first: int, count: int) -> None:
                for n in range(first, first + count):
                    async with store.transaction() as tx:
                        await outbox.enqueue(
                            tx, f"{stream}.sent", b"", key=f"k{n % 3}", msg_id=f"e{n:03d}"
                        )
                    outbox.notify()
                    await asyncio.sleep(0.1)

            async with _running(relay):
                await produce(0, 5)
                await _until(lambda: _drained(outbox), 5.0)
                await proxy.down()
                await produce(5, 30)  # 3 s of events while the broker is away
                during = await outbox.backlog()
                assert during.rows >= 25 and during.oldest_age >= 2.0
                await proxy.up()
                await _until(lambda: _drained(outbox), 15.0)
                await asyncio.sleep(0.3)  # one more backlog sample after the drain

            failed = recorder.named("outbox.publish_failed")
            assert len(failed) >= 3
            delays = [e.delay for e in failed]  # type: ignore[attr-defined]
            assert delays[:3] == [0.1, 0.2, 0.4] and max(delays) <= 0.8  # doubling, capped
            ages = [e.oldest_age for e in recorder.named("outbox.backlog")]  # type: ignore[attr-defined]
            assert max(ages) >= 2.5 and ages[-1] == 0.0  # the lag rose and fell
            log = await _stream_log(bus, stream)
            assert len(log) == 35
            by_key = _by_key(log)
            for k in range(3):
                assert by_key[f"k{k}"] == [f"e{n:03d}" for n in range(k, 35, 3)]
        finally:
            await bus.delete_stream()
            await bus.aclose()
