"""The embedded bus: durable, on the mitigate store (SQLite by default, or PostgreSQL).

It keeps JetStream's contract, so code and tests move between the two unchanged: a
publish returns once the message is committed and is stored once per ``dedup_id``; a
durable consumer gets each matching message until it acks it; ``nak(delay)`` and an
expired ``ack_wait`` bring it back; ``attempt`` counts deliveries.

One thing it does better: with ``fifo_keys`` (the default) a consumer gets a key's next
message only after the previous one is settled (acked, or terminated after the DLQ took
it), as SQS FIFO message groups do. A failing or lost delivery then delays only its own
key, and handlers see each aggregate's events in order even under redelivery.

Time (``ack_wait``, ``nak`` delays) runs on the store's clock, so a virtual clock drives
redelivery in tests. Several processes may consume through one durable consumer on
PostgreSQL: claims use ``FOR UPDATE SKIP LOCKED``.

>>> import asyncio
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> list[tuple[str, int]]:
...     store = await SqliteStore.open(":memory:")
...     bus = InprocBus(store)
...     sub = await bus.subscribe(ConsumerSpec("audit", "orders.>"))
...     await bus.publish(Message("orders.created", b"{}", id="o1"))
...     await bus.publish(Message("orders.created", b"{}", id="o1"))   # stored once
...     got = await sub.fetch(10, wait=0)
...     await got[0].ack()
...     await store.aclose()
...     return [(d.message.id, d.attempt) for d in got]
>>> asyncio.run(main())
[('o1', 1)]

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from mitigate.bus import _faults
from mitigate.bus.port import ConsumerSpec, Delivery, Message, PublishOutcome, subject_matches
from mitigate.clock import Clock
from mitigate.durable.store import Store, dumps, loads
from mitigate.observe.observers import Observer, Observers
from mitigate.policy.injection import Injector
from mitigate.runscope import run_injector, run_observers

__all__ = ["InprocBus", "InprocDelivery", "InprocSubscription"]

_SCAN = 1000  # new messages copied into a consumer's pending set per pass


class InprocBus:
    """A durable bus in the store's tables, one ``stream`` (namespace) per instance."""

    def __init__(
        self,
        store: Store,
        *,
        stream: str = "default",
        clock: Clock | None = None,
        ack_timeout: float = 5.0,
        fifo_keys: bool = True,
        poll: float = 0.05,
        injector: Injector | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        self.store = store
        self.stream = stream
        self.clock = clock or store.clock
        self.ack_timeout = ack_timeout
        self.fifo_keys = fifo_keys
        self.poll = poll
        self.injector = run_injector(injector)  # inside an experiment run: the run's
        self.observers = Observers(run_observers(observers))
        self._new = asyncio.Event()
        self.published = 0
        self.duplicates = 0

    def __repr__(self) -> str:
        return f"InprocBus({self.store!r}, stream={self.stream!r})"

    async def publish(self, message: Message) -> None:
        (outcome,) = await self.publish_many([message])
        if outcome is not None:
            raise outcome

    async def publish_many(self, messages: Sequence[Message]) -> list[PublishOutcome]:
        outcomes: list[PublishOutcome] = [None] * len(messages)
        keep: list[tuple[int, Message]] = []
        late = 0.0  # when the publisher learns that a message failed
        slow = 0.0  # how long the slowest message takes to reach the broker
        clock = self.clock
        for i, message in enumerate(messages):
            decision = _faults.ask(
                self.injector, _faults.PUBLISH, clock.now(), self.observers, message.id
            )
            if decision is None:
                keep.append((i, message))
                continue
            effect = _faults.publish_effect(decision, message, self.ack_timeout)
            if effect.send is None:
                outcomes[i] = effect.error
                late = max(late, effect.delay)
            else:
                keep.append((i, effect.send))
                slow = max(slow, effect.delay)
        if slow:
            await clock.asleep(slow)
            late = max(0.0, late - slow)
        if keep:
            wall = clock.wall()
            async with self.store.transaction() as tx:
                for _, m in keep:
                    stored = await tx.execute(
                        "INSERT INTO mitigate_bus_messages (stream, subject, msg_id, dedup_id,"
                        " msg_key, headers, payload, published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (stream, dedup_id) DO NOTHING",
                        (
                            self.stream,
                            m.subject,
                            m.id,
                            m.dedup_id,
                            m.key,
                            dumps(dict(m.headers), what="message headers") if m.headers else None,
                            m.payload,
                            wall,
                        ),
                    )
                    if stored:
                        self.published += 1
                    else:
                        self.duplicates += 1
            self._new.set()
        if late:
            await clock.asleep(late)
        return outcomes

    async def subscribe(self, spec: ConsumerSpec) -> InprocSubscription:
        await self.store.execute(
            "INSERT INTO mitigate_bus_consumers (stream, name, subject) VALUES (?, ?, ?)"
            " ON CONFLICT (stream, name) DO UPDATE SET subject = excluded.subject",
            (self.stream, spec.name, spec.subject),
        )
        return InprocSubscription(self, spec)

    async def pending(self, consumer: str) -> int:
        """Messages the consumer has not settled yet (unacked, in its pending set)."""
        rows = await self.store.fetch(
            "SELECT COUNT(*) FROM mitigate_bus_pending WHERE stream = ? AND consumer = ?"
            " AND state = 0",
            (self.stream, consumer),
        )
        return int(rows[0][0])

    async def prune(self, older_than: float) -> int:
        """Delete settled deliveries, and messages older than ``older_than`` seconds that
        every consumer has settled. Returns the number of messages removed."""
        cutoff = self.clock.wall() - older_than
        async with self.store.transaction() as tx:
            await tx.execute(
                "DELETE FROM mitigate_bus_pending WHERE stream = ? AND state <> 0", (self.stream,)
            )
            return await tx.execute(
                "DELETE FROM mitigate_bus_messages WHERE stream = ? AND published_at < ?"
                " AND seq <= (SELECT COALESCE(MIN(cursor), 0) FROM mitigate_bus_consumers"
                " WHERE stream = ?)"
                " AND NOT EXISTS (SELECT 1 FROM mitigate_bus_pending p WHERE p.stream = ?"
                " AND p.seq = mitigate_bus_messages.seq)",
                (self.stream, cutoff, self.stream, self.stream),
            )

    async def aclose(self) -> None:
        self._new.set()

    async def _wait_for_new(self, seconds: float) -> None:
        if self._new.is_set():
            self._new.clear()
            return
        waiter = asyncio.ensure_future(self._new.wait())
        timer = asyncio.ensure_future(self.clock.asleep(seconds))
        try:
            await asyncio.wait((waiter, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            timer.cancel()
        self._new.clear()


class InprocSubscription:
    """A durable consumer of an :class:`InprocBus`."""

    def __init__(self, bus: InprocBus, spec: ConsumerSpec) -> None:
        self._bus = bus
        self._spec = spec
        self._claim = _claim_sql(bus.store.dialect, bus.fifo_keys)

    @property
    def spec(self) -> ConsumerSpec:
        return self._spec

    async def fetch(self, batch: int, wait: float) -> list[Delivery]:
        bus = self._bus
        clock = bus.clock
        deadline = clock.now() + max(wait, 0.0)
        while True:
            found = await self._fetch_now(batch)
            if found:
                return found
            left = deadline - clock.now()
            if left <= 0:
                return []
            await bus._wait_for_new(min(left, bus.poll))

    async def _fetch_now(self, batch: int) -> list[Delivery]:
        bus = self._bus
        spec = self._spec
        stream, name = bus.stream, spec.name
        wall = bus.clock.wall()
        async with bus.store.transaction() as tx:
            await self._pull_new(tx, wall)
            rows = await tx.fetchall(self._claim, (stream, name, wall, batch))
            if not rows:
                return []
            seqs = [int(r[0]) for r in rows]
            await tx.execute(
                "UPDATE mitigate_bus_pending SET delivered = delivered + 1, available_at = ?"
                f" WHERE stream = ? AND consumer = ? AND seq IN ({', '.join('?' for _ in seqs)})",
                (wall + spec.ack_wait, stream, name, *seqs),
            )
            got = await tx.fetchall(
                "SELECT m.seq, m.subject, m.msg_id, m.dedup_id, m.msg_key, m.headers, m.payload,"
                " p.delivered FROM mitigate_bus_messages m JOIN mitigate_bus_pending p"
                " ON p.stream = m.stream AND p.seq = m.seq AND p.consumer = ?"
                f" WHERE m.stream = ? AND m.seq IN ({', '.join('?' for _ in seqs)}) ORDER BY m.seq",
                (name, stream, *seqs),
            )
        return [InprocDelivery(bus, name, row) for row in got]

    async def _pull_new(self, tx: Any, wall: float) -> None:
        bus = self._bus
        stream, name = bus.stream, self._spec.name
        cursor_row = await tx.fetchone(
            "SELECT cursor, subject FROM mitigate_bus_consumers WHERE stream = ? AND name = ?",
            (stream, name),
        )
        cursor, pattern = int(cursor_row[0]), cursor_row[1]
        while True:
            new = await tx.fetchall(
                "SELECT seq, subject, msg_key FROM mitigate_bus_messages WHERE stream = ?"
                " AND seq > ? ORDER BY seq LIMIT ?",
                (stream, cursor, _SCAN),
            )
            if not new:
                break
            rows = [
                (stream, name, int(seq), key, wall)
                for seq, subject, key in new
                if subject_matches(pattern, subject)
            ]
            if rows:
                await tx.executemany(
                    "INSERT INTO mitigate_bus_pending (stream, consumer, seq, msg_key,"
                    " available_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    rows,
                )
            cursor = int(new[-1][0])
            await tx.execute(
                "UPDATE mitigate_bus_consumers SET cursor = ? WHERE stream = ? AND name = ?",
                (cursor, stream, name),
            )
            if len(new) < _SCAN:
                break

    async def aclose(self) -> None:
        return None


class InprocDelivery:
    """One delivery from the embedded bus."""

    __slots__ = ("_bus", "_consumer", "_seq", "attempt", "message")

    def __init__(self, bus: InprocBus, consumer: str, row: tuple[Any, ...]) -> None:
        seq, subject, msg_id, dedup_id, key, headers, payload, delivered = row
        self._bus = bus
        self._consumer = consumer
        self._seq = int(seq)
        self.attempt = int(delivered)
        self.message = Message(
            subject,
            bytes(payload),
            id=msg_id,
            key=key,
            headers=loads(headers) or {},
            dedup_id=dedup_id,
        )

    @property
    def stream_sequence(self) -> int:
        return self._seq

    async def ack(self) -> None:
        await self._set("state = 1", ())

    async def nak(self, delay: float = 0.0) -> None:
        await self._set("available_at = ?", (self._bus.clock.wall() + max(delay, 0.0),))
        if delay <= 0:
            self._bus._new.set()

    async def term(self) -> None:
        await self._set("state = 2", ())

    async def _set(self, assignment: str, params: tuple[Any, ...]) -> None:
        bus = self._bus
        await bus.store.execute(
            f"UPDATE mitigate_bus_pending SET {assignment} WHERE stream = ? AND consumer = ?"
            " AND seq = ? AND state = 0",
            (*params, bus.stream, self._consumer, self._seq),
        )


def _claim_sql(dialect: str, fifo_keys: bool) -> str:
    lock = " FOR UPDATE SKIP LOCKED" if dialect == "postgres" else ""
    fifo = (
        " AND (p.msg_key IS NULL OR NOT EXISTS (SELECT 1 FROM mitigate_bus_pending q"
        " WHERE q.stream = p.stream AND q.consumer = p.consumer AND q.msg_key = p.msg_key"
        " AND q.state = 0 AND q.seq < p.seq))"
        if fifo_keys
        else ""
    )
    return (
        "SELECT p.seq FROM mitigate_bus_pending p WHERE p.stream = ? AND p.consumer = ?"
        f" AND p.state = 0 AND p.available_at <= ?{fifo} ORDER BY p.seq LIMIT ?{lock}"
    )
