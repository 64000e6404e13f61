"""Outbox -> relay -> NATS JetStream, beside raw nats-py JetStream publishing, same run.

Rows (events/s, and latency per event in ms, p50 and p99):

- ``raw.nats.publish``: the peer. nats-py ``JetStreamContext.publish_async`` for every
  event, then wait for all acks; latency = publish call -> ack. Nothing is durable on
  the producer's side: a crash loses what was not acked yet.
- ``mitigate.outbox_to_nats``: producers write events into the outbox on SQLite with
  ``durability="full"`` (every commit fsynced), ``--tx-size`` events per transaction; a
  relay (running alongside) claims batches, publishes them with pipelined async acks
  and ``Nats-Msg-Id``, and marks them sent (another fsynced commit). Latency = outbox
  commit -> row marked sent after the broker's ack. Rows without a key (no ordering).
- ``mitigate.outbox_to_nats.keyed``: the same with ``--keys`` distinct ordering keys
  (one publish in flight per key).
- ``mitigate.outbox_to_nats.keyed.unstamped``: the keyed row with the relay's order
  stamps turned off (no ``Mitigate-Key-Seq``/``Mitigate-Key-After``, no predecessor
  lookup): what keeping order across redeliveries costs the relay is the ratio of the
  keyed row to this one.
- ``mitigate.inproc``: the same outbox and relay publishing to the embedded durable bus
  on the same SQLite store (no broker).
- ``mitigate.consume.ordered`` and ``.unordered``: a consumer runner draining the keyed,
  stamped events from the embedded bus through an inbox handler (one INSERT each) with
  the inbox ``ordered`` (a read and an upsert of the key's sequence per event) or not;
  their ratio is what order per key costs the consumer. Latency columns are empty.

Every run uses a fresh stream (deleted afterwards) on NATS at $MITIGATE_TEST_NATS
(default nats://127.0.0.1:4222) and a fresh SQLite file. Prints a table with the ratio
of each row to the raw publish rate; ``--json`` prints {"rows": [...], ...}.
Run: uv run python bench/messaging.py [--json] [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import nats
from nats.js.api import StorageType, StreamConfig
from prometheus_client import CollectorRegistry

from mitigate.bus.consumer import Consumer
from mitigate.bus.inproc import InprocBus
from mitigate.bus.nats import NatsBus
from mitigate.bus.port import Bus, ConsumerSpec, Message
from mitigate.durable.inbox import Inbox
from mitigate.durable.outbox import Outbox
from mitigate.durable.relay import Relay
from mitigate.durable.sqlite import SqliteStore
from mitigate.durable.store import Tx
from mitigate.observe.events import Event, OutboxPublished

NATS_URL = os.environ.get("MITIGATE_TEST_NATS", "nats://127.0.0.1:4222")
PAYLOAD = b"x" * 128


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _row(name: str, events: int, elapsed: float, latencies_s: list[float]) -> dict[str, Any]:
    return {
        "name": name,
        "per_second": round(events / elapsed, 1),
        "p50_ms": round(_percentile(latencies_s, 0.50) * 1000, 3),
        "p99_ms": round(_percentile(latencies_s, 0.99) * 1000, 3),
    }


async def _stream(nc: Any, name: str) -> None:
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=name, subjects=[f"{name}.>"], storage=StorageType.FILE, duplicate_window=120.0
        )
    )


async def raw_publish(events: int) -> dict[str, Any]:
    name = f"BENCHRAW{uuid.uuid4().hex[:8].upper()}"
    nc = await nats.connect(NATS_URL)
    await _stream(nc, name)
    js = nc.jetstream()
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    try:
        start = time.perf_counter()
        futures = []
        for n in range(events):
            sent = time.perf_counter()
            future = await js.publish_async(f"{name}.e", PAYLOAD, headers={"Nats-Msg-Id": f"e{n}"})
            future.add_done_callback(
                lambda _f, sent=sent: latencies.append(time.perf_counter() - sent)
            )
            futures.append(future)
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - start
        del loop
    finally:
        await js.delete_stream(name)
        await nc.close()
    return _row("raw.nats.publish", events, elapsed, latencies)


class _UnstampedRelay(Relay):
    """The relay without order stamps (the baseline of their cost)."""

    async def _with_key_order(self, rows: list[Any]) -> list[Any]:
        return rows


async def _through_outbox(
    name: str,
    events: int,
    tx_size: int,
    keys: int,
    make_bus: Any,
    batch: int,
    relay_class: type[Relay] = Relay,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(Path(tmp) / "bench.db", durability="full")
        bus: Bus = await make_bus(store)
        outbox = Outbox(store)
        drained = asyncio.Event()
        published = 0

        def count(event: Event) -> None:
            nonlocal published
            if isinstance(event, OutboxPublished):
                published += event.count
                if published >= events:
                    drained.set()

        relay = relay_class(
            outbox,
            bus,
            batch=batch,
            concurrency=2,
            idle=0.001,
            sample_every=3600.0,
            registry=CollectorRegistry(),
            observers=[count],
        )
        subject = getattr(bus, "stream", "bench")
        start = time.perf_counter()
        task = asyncio.create_task(relay.run())
        for first in range(0, events, tx_size):
            async with store.transaction() as tx:
                for n in range(first, min(events, first + tx_size)):
                    await outbox.enqueue(
                        tx,
                        f"{subject}.e",
                        PAYLOAD,
                        key=f"k{n % keys}" if keys else None,
                        msg_id=f"e{n}",
                    )
            outbox.notify()
            await asyncio.sleep(0)  # let the relay run between producer transactions
        await drained.wait()
        elapsed = time.perf_counter() - start
        relay.stop()
        await task
        rows = await store.fetch("SELECT sent_at - created_at FROM mitigate_outbox")
        latencies = [float(r[0]) for r in rows]
        assert len(latencies) == events
        await bus.aclose()
        await store.aclose()
    return _row(name, events, elapsed, latencies)


async def outbox_to_nats(
    events: int, tx_size: int, keys: int, batch: int, *, stamped: bool = True
) -> dict[str, Any]:
    name = f"BENCHOBX{uuid.uuid4().hex[:8].upper()}"
    buses: list[NatsBus] = []

    async def make(store: SqliteStore) -> NatsBus:
        bus = await NatsBus.connect(NATS_URL, stream=name, subjects=[f"{name}.>"])
        buses.append(bus)
        return bus

    try:
        label = "mitigate.outbox_to_nats" + (".keyed" if keys else "")
        label += "" if stamped else ".unstamped"
        relay_class = Relay if stamped else _UnstampedRelay
        return await _through_outbox(label, events, tx_size, keys, make, batch, relay_class)
    finally:
        nc = await nats.connect(NATS_URL)
        await nc.jetstream().delete_stream(name)
        await nc.close()


async def inproc(events: int, tx_size: int, batch: int) -> dict[str, Any]:
    async def make(store: SqliteStore) -> InprocBus:
        return InprocBus(store, stream="bench")

    return await _through_outbox("mitigate.inproc", events, tx_size, 0, make, batch)


async def consume(events: int, keys: int, *, ordered: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(Path(tmp) / "consume.db", durability="full")
        async with store.transaction() as tx:
            await tx.execute("CREATE TABLE effects (msg_id TEXT)")
        bus = InprocBus(store, stream="bench")
        outbox = Outbox(store)
        for first in range(0, events, 500):
            async with store.transaction() as tx:
                for n in range(first, min(events, first + 500)):
                    await outbox.enqueue(tx, "bench.e", PAYLOAD, key=f"k{n % keys}", msg_id=f"e{n}")
        relay = Relay(outbox, bus, batch=1000, idle=0.001, registry=CollectorRegistry())
        await relay.drain()  # the events on the bus, stamped, before the clock starts
        inbox = Inbox(store, "bench", ordered=ordered)

        @inbox.handler
        async def apply(message: Message, tx: Tx) -> None:
            await tx.execute("INSERT INTO effects VALUES (?)", (message.id,))

        consumer = Consumer(bus, ConsumerSpec("bench", "bench.>"), apply, batch=500, wait=0)
        start = time.perf_counter()
        while consumer.handled < events:
            await consumer.run_once(wait=0)
        elapsed = time.perf_counter() - start
        await store.aclose()
    name = "mitigate.consume." + ("ordered" if ordered else "unordered")
    return _row(name, events, elapsed, [0.0])


async def main(events: int, tx_size: int, keys: int, batch: int, repeats: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeats):
        for row in (
            await raw_publish(events),
            await outbox_to_nats(events, tx_size, 0, batch),
            await outbox_to_nats(events, tx_size, keys, batch),
            await outbox_to_nats(events, tx_size, keys, batch, stamped=False),
            await inproc(events, tx_size, batch),
            await consume(events, keys, ordered=True),
            await consume(events, keys, ordered=False),
        ):
            runs.setdefault(row["name"], []).append(row)
    # The median run of each row (by rate), so one noisy run does not decide.
    rows = [sorted(r, key=lambda x: x["per_second"])[len(r) // 2] for r in runs.values()]
    raw = next(r["per_second"] for r in rows if r["name"] == "raw.nats.publish")
    for row in rows:
        row["ratio_to_raw"] = round(row["per_second"] / raw, 3)
    return {
        "rows": rows,
        "workload": {
            "events": events,
            "payload_bytes": len(PAYLOAD),
            "events_per_transaction": tx_size,
            "relay_batch": batch,
            "keys_in_keyed_row": keys,
            "sqlite_durability": "full",
            "repeats": repeats,
            "cpus": os.cpu_count(),
        },
        "target": "mitigate.outbox_to_nats >= 0.5 x raw.nats.publish",
        "median_of": repeats,
        "stdev_raw": round(
            statistics.pstdev([r["per_second"] for r in runs["raw.nats.publish"]]), 1
        ),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--tx-size", type=int, default=100, help="events per producer transaction")
    parser.add_argument("--keys", type=int, default=1000, help="ordering keys in the keyed row")
    parser.add_argument("--batch", type=int, default=1000, help="relay batch size")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(main(args.events, args.tx_size, args.keys, args.batch, args.repeats))
    if args.json:
        print(json.dumps(result))
    else:
        w = result["workload"]
        print(
            f"{w['events']} events of {w['payload_bytes']} B, {w['events_per_transaction']} per"
            f" outbox transaction (SQLite, fsync on every commit), relay batch {w['relay_batch']};"
            f" median of {w['repeats']} runs"
        )
        print(f"{'row':42} {'events/s':>11} {'p50 ms':>9} {'p99 ms':>9} {'x raw':>7}")
        for row in result["rows"]:
            print(
                f"{row['name']:42} {row['per_second']:>11,.0f} {row['p50_ms']:>9.2f}"
                f" {row['p99_ms']:>9.2f} {row['ratio_to_raw']:>7.2f}"
            )
        print(f"target: {result['target']}")
