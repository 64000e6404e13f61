"""edge.fm.2.4a: an exception inside a per-key actor leaves no half-applied state.

A counters actor is asked to apply three operations; the third raises after the first two
changed the state. The caller gets the error envelope, the state equals the state before
the call, the failure is counted with status=error and logged with the tenantId and the
actor id, the alert fires, and the actor serves its next calls normally (also 20
concurrent ones: one writer per key, none lost).
"""

from __future__ import annotations

import asyncio

from services.edge.harness import alerts, expect_traceable, open_world

from mitigate.chaos import Run, experiment

BAD_CALL = {
    "operations": [
        {"op": "add", "field": "a", "amount": 10},
        {"op": "add", "field": "b", "amount": 3},
        {"op": "div", "field": "a", "by": 0},
    ]
}


def _add(field: str, amount: int) -> dict[str, object]:
    return {"operations": [{"op": "add", "field": field, "amount": amount}]}


@experiment("edge.fm.2.4a", failure_modes=["edge.fm.2.4a"])
async def actor_exception(run: Run) -> None:
    world = await open_world(run)
    http = world.tenant("acme")
    first = await http.post("/v1/counters/wallet/apply", json=_add("a", 5))
    await run.steady("the actor applies a call", first.json().get("counters") == {"a": 5})

    failed = await http.post("/v1/counters/wallet/apply", json=BAD_CALL)
    body = failed.json()
    run.expect(
        "the caller gets the error envelope",
        failed.status_code == 422
        and body.get("code") == "EDGE.COUNTERS.INVALID_OPERATION"
        and bool(body.get("traceId")),
        failed.text,
    )
    state = (await http.get("/v1/counters/wallet")).json()
    run.expect(
        "the state equals the state before the call",
        state.get("counters") == {"a": 5},
        str(state),
    )
    records = [r for r in world.logs.records if r.getMessage().startswith("actor method failed")]
    run.expect(
        "the failure is logged with tenantId and actor id",
        len(records) == 1
        and getattr(records[0], "tenantId", "") == "acme"
        and getattr(records[0], "actor", "") == "acme:counters:wallet",
        str([r.getMessage() for r in records]),
    )
    metrics = (await world.client().get("/metrics")).text
    run.expect(
        "counted with status=error",
        'durable_object_invocations_total{status="error"} 1.0' in metrics,
    )
    run.expect("the actor-error alert fired", bool(alerts(run, "edge.rule.actor-errors")))

    after = await http.post("/v1/counters/wallet/apply", json=_add("a", 1))
    run.expect("the actor serves its next call", after.json().get("counters") == {"a": 6})
    answers = await asyncio.gather(
        *(http.post("/v1/counters/wallet/apply", json=_add("a", 1)) for _ in range(20))
    )
    final = (await http.get("/v1/counters/wallet")).json()
    run.expect(
        "20 concurrent calls all applied once",
        all(a.status_code == 200 for a in answers) and final.get("counters") == {"a": 26},
        str(final),
    )
    expect_traceable(run, world)
