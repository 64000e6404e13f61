"""Document ingestion through the service's bus (the Cloudflare Queues role).

A submitted document is written to the outbox in one store transaction (a 202 means it
is durable); the relay publishes it to the bus, NATS JetStream under ``--backend ...+nats``
(the embedded default: the store-backed in-process bus, same contract), and the
consumer embeds and upserts it (``vector.upsert``). An upsert that fails is nak'ed and
redelivered on the catalog's schedule (10 deliveries, 10 s doubling to 5 min: over
25 min, so a 10 min index outage is ridden out); a document that cannot be embedded is
poison and goes to the DLQ at once, from where an operator replays it (through the
outbox again) after a fix. Every submitted document ends indexed or in the DLQ; the
upsert replaces the document's row, so a redelivery never indexes it twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import mitigate

from .domain.embedding import EmbeddingError
from .vectors import VectorIndex

__all__ = ["CONSUMER", "SUBJECT", "Ingestion"]

SUBJECT = "edge.ingest.requested.v1"
CONSUMER = "edge-ingest"  # the durable consumer, and the DLQ entries' source
SWITCH = "edge.switch.ingest-queue"


class Ingestion:
    def __init__(self, runtime: Any, index: VectorIndex) -> None:
        self.rt = runtime
        self.index = index
        self.subject = runtime.settings.subject(SUBJECT)
        self.outbox = mitigate.Outbox(runtime.store, clock=runtime.clock)
        self.dlq = mitigate.DeadLetters(
            runtime.store, clock=runtime.clock, observers=runtime.observers
        )
        self.consumer: mitigate.Consumer | None = None  # while the worker runs
        self.inbox = mitigate.Inbox(
            runtime.store, CONSUMER, clock=runtime.clock, observers=runtime.observers
        )

    async def submit(self, tenant: str, doc_id: str, text: str) -> dict[str, Any]:
        if not self.rt.switches.enabled(SWITCH):
            await self.index.upsert(tenant, doc_id, text)  # the mutation: no buffer
            return {"id": doc_id, "state": "indexed"}
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        msg_id = f"{tenant}:{doc_id}:{digest}"  # the same document resubmitted: one row
        async with self.rt.store.transaction() as tx:
            await self.outbox.enqueue(
                tx,
                self.subject,
                {"tenant": tenant, "id": doc_id, "text": text},
                key=f"{tenant}/{doc_id}",  # one document's versions are published in order
                msg_id=msg_id,
            )
        self.outbox.notify()
        return {"id": doc_id, "state": "queued", "job": msg_id}

    async def _handle(self, message: mitigate.Message, tx: Any) -> None:
        """One document version, upserted in the inbox's transaction: once per message,
        and in the order the relay published a document's versions (the ordered inbox
        holds back a version redelivered ahead of the one before it)."""
        body = json.loads(message.payload)
        try:
            await self.index.upsert(str(body["tenant"]), str(body["id"]), str(body["text"]), tx=tx)
        except EmbeddingError as exc:  # no retry makes it embeddable: DLQ at once
            raise mitigate.PoisonMessageError(CONSUMER, str(exc)) from exc

    def _relay(self) -> mitigate.Relay:
        rt = self.rt
        return mitigate.Relay(
            self.outbox,
            rt.bus,
            idle=rt.settings.poll,
            dead_letters=self.dlq,
            registry=rt.registry,
            clock=rt.clock,
            observers=rt.observers,
        )

    def _consumer(self) -> mitigate.Consumer:
        rt = self.rt
        return mitigate.Consumer(
            rt.bus,
            # ack_wait well above vector.upsert's 5 s timeout: no redelivery mid-upsert
            mitigate.ConsumerSpec(CONSUMER, self.subject, ack_wait=60.0),
            self.inbox.handler(self._handle),
            retry=mitigate.Retry(9, base=10.0, cap=300.0),  # 10 deliveries in all
            dead_letters=self.dlq,
            wait=5.0,
            clock=rt.clock,
            observers=rt.observers,
            injector=rt.injector,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """The relay and the consumer, until ``stop``."""
        relay, consumer = self._relay(), self._consumer()
        self.consumer = consumer
        tasks = [asyncio.ensure_future(relay.run()), asyncio.ensure_future(consumer.run())]
        try:
            await stop.wait()
        finally:
            relay.stop()
            consumer.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await consumer.aclose()

    async def status(self) -> dict[str, Any]:
        consumer = self.consumer
        handled = {
            "handled": consumer.handled if consumer else 0,
            "failed": consumer.failed if consumer else 0,
            "dead_lettered": consumer.dead_lettered if consumer else 0,
        }
        dead = await self.dlq.entries(source=CONSUMER)
        return {
            "bus": type(self.rt.bus).__name__,
            "queue": {"outbox": await self.outbox.counts(), "consumer": handled},
            "indexed": await self.index.count(),
            "dlq": [
                {"job": e.id, "id": json.loads(e.payload)["id"], "reason": e.reason} for e in dead
            ],
        }

    async def replay_dlq(self) -> list[int]:
        """Every dead document back through the outbox (after a fix)."""
        dead = await self.dlq.entries(source=CONSUMER, limit=10_000)
        return await self.dlq.replay([e.id for e in dead])
