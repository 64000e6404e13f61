"""The outbox and its relay: caller's transaction, key order, backoff, poison, sharing."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mitigate.bus.errors import PoisonMessageError
from mitigate.bus.inproc import InprocBus
from mitigate.bus.port import Message
from mitigate.chaos import Drop, FaultInjector, Latency, Outage
from mitigate.clock import VirtualClock
from mitigate.durable.dlq import DeadLetters
from mitigate.durable.outbox import Outbox
from mitigate.durable.relay import Relay
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Store
from mitigate.errors import ConfigError, StoreError
from mitigate.observe.detection import Detector, Rule
from mitigate.observe.observers import Recorder
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.retry import Retry
from tests.bus._helpers import bus_log, order_by_key
from tests.conftest import require_postgres
from tests.durable.conftest import StoreFactory


@pytest.fixture
async def vstore(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A SQLite store on a virtual clock (time-based relay behaviour)."""
    store = await SqliteStore.open(tmp_path / "v.db", durability="normal", clock=VirtualClock())
    yield store
    await store.aclose()


def _no_retry(clock: object) -> Pipeline:
    return Pipeline("bus.publish", Retry(0), clock=clock)  # type: ignore[arg-type]


# -- enqueue in the caller's transaction ---------------------------------------------------


async def test_enqueue_commits_and_rolls_back_with_the_callers_sqlite_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.db"
    store = await SqliteStore.open(path)
    outbox = Outbox(store)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE drafts (id TEXT PRIMARY KEY, state TEXT)")

    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO drafts VALUES ('d1', 'publishing')")
    await outbox.enqueue(store.adopt(conn), "content.publish", {"draft": "d1"}, key="d1")
    conn.execute("ROLLBACK")
    assert (await outbox.backlog()).rows == 0

    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO drafts VALUES ('d1', 'publishing')")
    msg_id = await outbox.enqueue(store.adopt(conn), "content.publish", {"draft": "d1"}, key="d1")
    conn.execute("COMMIT")
    rows = await store.fetch("SELECT msg_id, msg_key, payload, state FROM mitigate_outbox")
    assert rows == [(msg_id, "d1", b'{"draft":"d1"}', 0)]
    conn.close()
    await store.aclose()


@pytest.mark.parametrize("store_factory", ["postgres"], indirect=True)
async def test_enqueue_commits_and_rolls_back_with_the_callers_psycopg_connection(
    store_factory: StoreFactory,
) -> None:
    store = await store_factory()
    import psycopg

    outbox = Outbox(store)
    dsn = require_postgres()
    schema = (await store.fetch("SELECT current_schema()"))[0][0]
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.execute(f'SET search_path TO "{schema}"')
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await outbox.enqueue(store.adopt(conn), "content.publish", b"x", msg_id="gone")
                raise RuntimeError("the caller's change failed")
        async with conn.transaction():
            await outbox.enqueue(store.adopt(conn), "content.publish", b"x", msg_id="kept")
    rows = await store.fetch("SELECT msg_id FROM mitigate_outbox")
    assert rows == [("kept",)]


async def test_enqueue_of_the_same_id_twice_writes_one_row(store: Store) -> None:
    outbox = Outbox(store)
    for _ in range(2):
        async with store.transaction() as tx:
            await outbox.enqueue(tx, "orders.created", b"{}", msg_id="o-1")
    assert await outbox.counts() == {"pending": 1, "sent": 0, "dead": 0}


async def test_payloads_must_be_bytes_text_or_json(store: Store) -> None:
    outbox = Outbox(store)
    async with store.transaction() as tx:
        with pytest.raises(StoreError, match=r"MITIGATE\.STORE\.NOT_JSON"):
            await outbox.enqueue(tx, "orders.created", {"at": object()})


# -- the relay -----------------------------------------------------------------------------


async def test_relay_publishes_every_row_in_key_order_and_marks_it_sent(store: Store) -> None:
    outbox = Outbox(store)
    bus = InprocBus(store)
    async with store.transaction() as tx:
        for n in range(5):
            for key in ("a", "b", "c"):
                await outbox.enqueue(tx, f"orders.{key}", b"%d" % n, key=key, msg_id=f"{key}{n}")
        await outbox.enqueue(tx, "audit.tick", b"", msg_id="nokey")
    relay = Relay(outbox, bus, registry=CollectorRegistry())

    assert await relay.drain() == 16
    by_key = order_by_key(await bus_log(store))
    assert by_key == {k: [f"{k}{n}" for n in range(5)] for k in "abc"} | {None: ["nokey"]}
    assert await outbox.counts() == {"pending": 0, "sent": 16, "dead": 0}
    # One publish in flight per key: five rounds for five events of a key.
    assert relay.rounds == 5


async def test_relay_keeps_rows_while_the_broker_is_down_then_drains(
    vstore: SqliteStore,
) -> None:
    """Broker down for 60 s (embedded, virtual time): rows kept, relay backs off, the lag
    rises and falls, every row published once after recovery."""
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    recorder = Recorder()
    registry = CollectorRegistry()
    injector = FaultInjector(clock=clock)
    bus = InprocBus(vstore, injector=injector)
    outbox = Outbox(vstore)
    relay = Relay(
        outbox,
        bus,
        policy=Pipeline("bus.publish", Retry(2, base=0.5), clock=clock),
        idle=0.5,
        backoff_cap=8.0,
        sample_every=5.0,
        registry=registry,
        observers=[recorder],
    )
    task = asyncio.create_task(relay.run())
    injector.add(Outage("bus.publish", duration=60.0))
    for n in range(30):  # one event every 2 s during the outage
        async with vstore.transaction() as tx:
            await outbox.enqueue(tx, "orders.created", b"%d" % n, key=f"k{n % 3}", msg_id=f"e{n}")
        outbox.notify()
        await clock.asleep(2.0)
    assert clock.now() == pytest.approx(60.0)
    assert (await outbox.backlog()).rows == 30  # nothing lost, nothing published
    await clock.asleep(40.0)
    relay.stop()
    await task

    assert await outbox.counts() == {"pending": 0, "sent": 30, "dead": 0}
    assert [m for m, _ in await bus_log(vstore)] == [f"e{n}" for n in range(30)]
    delays = recorder.values("outbox.publish_failed", "delay")
    assert delays[:5] == [1.0, 2.0, 4.0, 8.0, 8.0]  # idle 0.5 doubled, capped at 8
    ages = [(e.at, e.oldest_age) for e in recorder.named("outbox.backlog")]
    peak = max(age for _, age in ages)
    assert peak >= 55.0  # the first row waited the whole outage
    assert ages[-1][1] == 0.0  # and the lag fell back to nothing
    assert registry.get_sample_value("mitigate_outbox_backlog", {"outbox": "outbox"}) == 0.0
    assert registry.get_sample_value("mitigate_outbox_published_total", {"outbox": "outbox"}) == 30


async def test_a_failed_publish_never_lets_a_later_event_of_its_key_overtake(
    vstore: SqliteStore,
) -> None:
    clock = vstore.clock
    injector = FaultInjector(Drop("bus.publish", rate=0.5), random=random.Random(7).random)
    bus = InprocBus(vstore, injector=injector, ack_timeout=1.0)
    outbox = Outbox(vstore)
    async with vstore.transaction() as tx:
        for n in range(40):
            await outbox.enqueue(tx, "orders.created", b"", key=f"k{n % 4}", msg_id=f"e{n:02d}")
    relay = Relay(outbox, bus, policy=_no_retry(clock), idle=0.1, registry=CollectorRegistry())

    await relay.drain()

    assert len(injector.injections) > 10  # plenty of drops happened
    by_key = order_by_key(await bus_log(vstore))
    for k in range(4):
        assert by_key[f"k{k}"] == [f"e{n:02d}" for n in range(k, 40, 4)]


async def test_a_poison_row_goes_to_the_dlq_and_the_rows_behind_it_flow(store: Store) -> None:
    outbox = Outbox(store)
    bus = InprocBus(store)
    recorder = Recorder()
    dlq = DeadLetters(store, observers=[recorder])
    async with store.transaction() as tx:
        for n in range(4):
            await outbox.enqueue(tx, "orders.created", b"%d" % n, key="k", msg_id=f"e{n}")
    broken = True

    def encode(message: Message) -> Message:
        if broken and message.id == "e1":
            raise ValueError("schema drift: field 'total' missing")
        return message

    relay = Relay(
        outbox,
        bus,
        policy=_no_retry(store.clock),
        dead_letters=dlq,
        max_poison=3,
        idle=0.01,
        encode=encode,
        registry=CollectorRegistry(),
    )
    await relay.drain()

    assert [m for m, _ in await bus_log(store)] == ["e0", "e2", "e3"]
    assert await outbox.counts() == {"pending": 0, "sent": 3, "dead": 1}
    (entry,) = await dlq.entries()
    assert (entry.source, entry.msg_id, entry.attempts, entry.payload) == ("outbox", "e1", 3, b"1")
    assert "schema drift" in entry.reason and entry.error_type == "PoisonMessageError"
    assert recorder.values("dlq.added", "msg_id") == ["e1"]

    broken = False  # the fix is deployed; replay goes through the outbox again
    assert await dlq.replay([entry.id]) == [entry.id]
    await relay.drain()
    assert [m for m, _ in await bus_log(store)] == ["e0", "e2", "e3", "e1"]
    assert (await dlq.get(entry.id)).state == "replayed"


async def test_the_broker_refusing_one_message_as_poison_is_counted_per_row(
    store: Store,
) -> None:
    outbox = Outbox(store)
    bus = InprocBus(
        store,
        injector=FaultInjector(
            Outage(
                "bus.publish",
                when=lambda ctx: True,
                times=2,
                error=lambda: PoisonMessageError("bus.publish", "too large"),
            )
        ),
    )
    async with store.transaction() as tx:
        await outbox.enqueue(tx, "orders.created", b"x", msg_id="big")
    relay = Relay(
        outbox,
        bus,
        policy=_no_retry(store.clock),
        max_poison=3,
        idle=0.01,
        registry=CollectorRegistry(),
    )
    await relay.drain()
    rows = await store.fetch("SELECT failures, state FROM mitigate_outbox")
    assert rows == [(2, 1)]  # refused twice, then published; below the DLQ threshold


@pytest.mark.parametrize("store_factory", ["postgres"], indirect=True)
async def test_relays_share_rows_on_postgres_without_double_publishing(
    store_factory: StoreFactory,
) -> None:
    first = await store_factory()
    stores = [first, await store_factory(), await store_factory()]
    outbox = Outbox(first)
    async with first.transaction() as tx:
        for n in range(300):
            await outbox.enqueue(tx, "orders.created", b"", key=f"k{n % 100}", msg_id=f"e{n:03d}")
    relays = []
    for store in stores:
        slow = FaultInjector(Latency("bus.publish", delay=0.002))
        relays.append(
            Relay(
                Outbox(store),
                InprocBus(store, injector=slow),
                batch=16,
                idle=0.01,
                policy=_no_retry(store.clock),
                registry=CollectorRegistry(),
            )
        )

    counts = await asyncio.gather(*(r.drain() for r in relays))

    assert sum(counts) == 300 and all(c > 0 for c in counts)
    log = await bus_log(first)
    assert len(log) == 300  # no row published twice (the bus would store it once anyway)
    assert sum(r.bus.duplicates for r in relays) == 0  # type: ignore[attr-defined]
    by_key = order_by_key(log)
    for k in range(100):
        assert by_key[f"k{k}"] == [f"e{n:03d}" for n in range(k, 300, 100)]


async def test_a_crashed_relays_rows_come_back_when_its_lease_runs_out(
    vstore: SqliteStore,
) -> None:
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    outbox = Outbox(vstore)
    async with vstore.transaction() as tx:
        await outbox.enqueue(tx, "orders.created", b"", key="k", msg_id="e0")
    crashed = Relay(outbox, InprocBus(vstore), lease=30.0, registry=CollectorRegistry())
    assert len(await crashed._claim()) == 1  # claimed, then the process died
    other = Relay(outbox, InprocBus(vstore), lease=30.0, registry=CollectorRegistry())
    assert (await other.run_once()).claimed == 0
    clock.advance(31.0)
    assert (await other.run_once()).published == 1


# -- detection: backlog and lag ------------------------------------------------------------


async def test_backlog_rule_fires_after_ten_minutes_above_1000_not_at_nine(
    vstore: SqliteStore,
) -> None:
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    alerts = Recorder()
    detector = Detector(
        [
            Rule(
                "outbox.backlog",
                kind="gauge",
                event="outbox.backlog",
                field="backlog",
                op=">",
                threshold=1000,
                sustained=600.0,
            ),
            Rule(
                "outbox.lag",
                kind="gauge",
                event="outbox.backlog",
                field="lag_p95",
                op=">",
                threshold=30.0,
            ),
        ],
        clock=clock,
        observers=[alerts],
    )
    injector = FaultInjector(Latency("bus.publish", delay=120.0))  # a crawling broker
    outbox = Outbox(vstore)
    async with vstore.transaction() as tx:
        for n in range(1500):
            await outbox.enqueue(tx, "orders.created", b"", key=f"k{n}", msg_id=f"e{n}")
    relay = Relay(
        outbox,
        InprocBus(vstore, injector=injector),
        batch=50,
        sample_every=15.0,
        policy=_no_retry(clock),
        registry=CollectorRegistry(),
        observers=[detector],
    )
    task = asyncio.create_task(relay.run())

    await clock.asleep(9 * 60)
    assert alerts.values("alert.raised", "rule") == ["outbox.lag"]  # lag p95 > 30 s early
    await clock.asleep(61)
    relay.stop()
    task.cancel()
    assert alerts.values("alert.raised", "rule") == ["outbox.lag", "outbox.backlog"]
    fired = alerts.named("alert.raised")[1]
    assert 600.0 <= fired.at <= 615.0


async def test_relay_options_are_validated(store: Store) -> None:
    with pytest.raises(ConfigError, match="batch must be >= 1"):
        Relay(Outbox(store), InprocBus(store), batch=0)
    with pytest.raises(ConfigError, match="lease must be > 0"):
        Relay(Outbox(store), InprocBus(store), lease=0)


async def test_prune_removes_only_rows_already_sent(vstore: SqliteStore) -> None:
    clock = vstore.clock
    assert isinstance(clock, VirtualClock)
    outbox = Outbox(vstore)
    async with vstore.transaction() as tx:
        await outbox.enqueue(tx, "a.b", b"", msg_id="sent")
    await Relay(outbox, InprocBus(vstore), registry=CollectorRegistry()).drain()
    async with vstore.transaction() as tx:
        await outbox.enqueue(tx, "a.b", b"", msg_id="pending")
    clock.advance(3600)
    assert await outbox.prune(older_than=60) == 1
    assert await outbox.counts() == {"pending": 1, "sent": 0, "dead": 0}


async def test_liveness_follows_the_run_loop(vstore: SqliteStore) -> None:
    clock = vstore.clock
    outbox = Outbox(vstore)
    stuck = FaultInjector(Latency("bus.publish", delay=600.0))  # a publish that never ends
    relay = Relay(outbox, InprocBus(vstore, injector=stuck), idle=1.0, registry=CollectorRegistry())
    assert not relay.alive(within=60)  # not running
    task = asyncio.create_task(relay.run())
    await clock.asleep(30)
    assert relay.alive(within=60)  # idle, polling
    async with vstore.transaction() as tx:
        await outbox.enqueue(tx, "a.b", b"", msg_id="e1")
    await clock.asleep(120)
    assert not relay.alive(within=60)  # stuck in one round for two minutes
    relay.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
