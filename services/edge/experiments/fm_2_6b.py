"""edge.fm.2.6b: indexing fails; the queue buffers and retries, the poison document goes
to the DLQ.

Upserts fail for 10 minutes while 10 documents and one that cannot be embedded are
submitted. Nothing is lost: the 10 are indexed after recovery from the durable queue,
the poison one lands in the DLQ at once (alert), and after the fix it is replayed and
indexed. Indexed + DLQ = submitted at every settled point.
"""

from __future__ import annotations

from typing import Any

from services.edge.harness import alerts, expect_traceable, open_world

from mitigate.chaos import Failure, Run, experiment

OUTAGE = 600.0
GOOD = 10


async def _status(world: Any) -> dict[str, Any]:
    response = await world.ops().get("/ops/ingest")
    body: dict[str, Any] = response.json()
    return body


@experiment("edge.fm.2.6b", failure_modes=["edge.fm.2.6b"])
async def indexing_fails(run: Run) -> None:
    world = await open_world(run, workers=True)
    http = world.tenant("acme")
    await run.steady("nothing indexed yet", (await _status(world))["indexed"] == 0)

    await run.inject(Failure("vector.upsert", error=ConnectionError), duration=OUTAGE)
    accepted = 0
    for i in range(GOOD):
        response = await http.put(f"/v1/documents/doc-{i}", json={"text": f"lesson {i} notes"})
        accepted += response.status_code == 202
    poison = " ".join(["word"] * 3000)  # over the embedding model's 2000 words
    response = await http.put("/v1/documents/poison", json={"text": poison})
    accepted += response.status_code == 202
    run.expect("every document is accepted during the outage", accepted == GOOD + 1, str(accepted))
    await run.wait(60)
    during = await _status(world)
    run.expect("nothing indexed while upserts fail", during["indexed"] == 0, str(during))
    run.expect(
        "the poison document is in the DLQ",
        [d["id"] for d in during["dlq"]] == ["poison"],
        str(during["dlq"]),
    )
    run.expect("the DLQ alert fired", bool(alerts(run, "edge.rule.ingest-dlq")))

    settled = during
    for _ in range(40):  # up to 40 min after the outage began
        await run.wait(60)
        settled = await _status(world)
        if settled["indexed"] == GOOD:
            break
    run.expect(
        "the buffered documents are indexed after recovery",
        settled["indexed"] == GOOD,
        f"{settled['indexed']} indexed at t={run.clock.now():.0f}s",
    )
    run.expect(
        "indexed + DLQ = submitted",
        settled["indexed"] + len(settled["dlq"]) == GOOD + 1,
        str(settled["queue"]),
    )

    fixed = await world.ops().put("/ops/ingest/embedder", json={"max_tokens": 5000})
    replayed = await world.ops().post("/ops/ingest/dlq/replay")
    run.expect(
        "the fix is applied and the DLQ replayed", fixed.status_code == replayed.status_code == 200
    )
    for _ in range(12):
        await run.wait(10)
        final = await _status(world)
        if final["indexed"] == GOOD + 1:
            break
    run.expect(
        "after the fix the replayed document is indexed; the DLQ is empty",
        final["indexed"] == GOOD + 1 and final["dlq"] == [],
        str(final),
    )
    expect_traceable(run, world, required=False)
