"""Two versions of one document are indexed in the order they were submitted, even when
the first one's upsert fails and is redelivered after the second has arrived: the relay
stamps each document's versions in order and the ingestion inbox (ordered) holds the
second back until the first is applied. On JetStream (real clock) a naked message comes
back after its delay while later ones flow on, so without the ordered inbox the first
version would overwrite the second there."""

from __future__ import annotations

import asyncio

import pytest
from services.edge.harness import open_world
from tests.conftest import require_nats
from tests.services.edge.virtual_run import VirtualRun

import mitigate
from mitigate.chaos import Failure


async def _indexed_after_a_failed_first_version(backend: str) -> tuple[list[str], int]:
    real = backend != "embedded"
    run = VirtualRun(mitigate.RealClock() if real else None)
    run.backend = backend
    world = await open_world(run, workers=True)
    try:
        run.injector.add(Failure("vector.upsert", error=ConnectionError, times=1))
        http = world.client(**{"x-tenant-id": "acme"})
        for text in ("version one", "version two"):
            answer = await http.put("/v1/documents/guide", json={"text": text})
            assert answer.status_code == 202, answer.text
            await run.clock.asleep(0.5)
        consumer = world.edge.ingestion.consumer
        deadline = run.clock.now() + 60.0
        while consumer is not None and consumer.handled < 2 and run.clock.now() < deadline:
            await run.clock.asleep(0.5)  # both applied: the first after its 10 s redelivery
        rows = await world.edge.runtime.store.fetch(
            "SELECT body FROM edge_vectors WHERE tenant = ? AND doc_id = ?", ("acme", "guide")
        )
        return [str(r[0]) for r in rows], run.recorder.count("attempt.failed")
    finally:
        await run.close()


@pytest.mark.parametrize(
    "backend", ["embedded", pytest.param("nats", marks=pytest.mark.integration)]
)
def test_a_redelivered_older_version_never_overwrites_a_newer_one(backend: str) -> None:
    if backend == "nats":
        require_nats()
    bodies, failed = asyncio.run(_indexed_after_a_failed_first_version(backend))
    assert failed >= 1, "the first version's upsert failed once"
    assert bodies == ["version two"], bodies
