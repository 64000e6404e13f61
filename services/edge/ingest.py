"""Document ingestion through a durable work queue (the Cloudflare Queues role).

A submitted document is a job on the store-backed queue; the worker embeds and upserts
it (``vector.upsert``). An upsert that fails is retried on the queue's schedule (10
attempts, 10 s doubling to 5 min: over 25 min, so a 10 min index outage is ridden out);
a document that cannot be embedded fails permanently into the DLQ (the dead jobs), from
where an operator replays it after a fix. Every submitted document ends indexed or in the
DLQ.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import mitigate

from .domain.embedding import EmbeddingError
from .vectors import VectorIndex

__all__ = ["Ingestion"]

QUEUE = "edge.ingest"


class Ingestion:
    def __init__(self, runtime: Any, index: VectorIndex) -> None:
        self.rt = runtime
        self.index = index
        self.queue = mitigate.WorkQueue(
            runtime.store,
            QUEUE,
            clock=runtime.clock,
            retry=mitigate.Retry(9, base=10.0, cap=300.0),
            max_attempts=10,
            lease=60.0,
            observers=runtime.observers,
        )

    async def submit(self, tenant: str, doc_id: str, text: str) -> dict[str, Any]:
        if not self.rt.switches.enabled("edge.switch.ingest-queue"):
            await self.index.upsert(tenant, doc_id, text)  # the mutation: no buffer
            return {"id": doc_id, "state": "indexed"}
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        job = await self.queue.enqueue(
            {"tenant": tenant, "id": doc_id, "text": text}, key=f"{tenant}:{doc_id}:{digest}"
        )
        return {"id": doc_id, "state": "queued", "job": job.id}

    async def _handle(self, job: mitigate.Job) -> None:
        body = job.payload
        await self.index.upsert(str(body["tenant"]), str(body["id"]), str(body["text"]))

    async def run(self, stop: asyncio.Event) -> None:
        await self.queue.run(self._handle, stop=stop, poll=5.0, permanent_on=(EmbeddingError,))

    async def status(self) -> dict[str, Any]:
        counts = await self.queue.counts()
        dead = await self.queue.jobs(state="dead")
        return {
            "queue": counts,
            "indexed": await self.index.count(),
            "dlq": [{"job": j.id, "id": j.payload["id"], "reason": j.last_error} for j in dead],
        }

    async def replay_dlq(self) -> list[str]:
        return [(await self.queue.unpark(j.id)).id for j in await self.queue.jobs(state="dead")]
