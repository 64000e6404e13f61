"""edge.principle.4: every failure is logged with its requestId and tenantId.

One failure of each kind the edge answers: tenant resolution (unknown tenant, registry
down), an unhandled error (also mid-stream), an actor call that raises, the AI provider
down, a request that does not validate, an Idempotency-Key reused. For each failed
response, the log holds a record with its requestId (the traceId the client got) and the
tenantId, or the explicit unresolved marker when the tenant did not resolve; no failure
record of the run lacks them. The registry down refuses 5 calls of one path: the
5xx spike alert fires. Every other edge
experiment checks its own failure records the same way (``expect_traceable``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
from services.edge.harness import World, alerts, expect_traceable, open_world
from services.edge.middleware import UNRESOLVED_TENANT

from mitigate.chaos import Failure, Fault, Run, experiment

Send = Callable[[], Awaitable[httpx.Response]]

# The 5xx spike rule counts per path: the registry down refuses this many /v1/hello calls.
SPIKE = 5
BAD_CALL = {"operations": [{"op": "div", "field": "a", "by": 0}]}


def _cases(world: World) -> list[tuple[str, str, list[Fault], Send]]:
    """(what, expected tenantId, faults during the call, the call)."""
    ops = world.client(**{"x-tenant-id": "acme", "x-ops-token": world.edge.settings.ops_token})
    acme, nosuch = world.tenant("acme"), world.tenant("nosuch")
    down: list[Fault] = [Failure("tenant.registry", error=ConnectionError)]
    ai_down: list[Fault] = [Failure("ai.primary", error=ConnectionError)]
    ai_down.append(Failure("ai.fallback", error=ConnectionError))
    key = {"idempotency-key": "reused-1"}
    return [
        ("unknown tenant", UNRESOLVED_TENANT, [], lambda: nosuch.get("/v1/hello")),
        *[
            (f"registry down #{n}", UNRESOLVED_TENANT, down, lambda: acme.get("/v1/hello"))
            for n in range(1, SPIKE + 1)
        ],
        ("unhandled error", "acme", [], lambda: ops.get("/v1/diagnostics/fail")),
        ("error mid-stream", "acme", [], lambda: ops.get("/v1/diagnostics/fail-streaming")),
        (
            "actor raises",
            "acme",
            [],
            lambda: acme.post("/v1/counters/wallet/apply", json=BAD_CALL),
        ),
        (
            "AI provider down",
            "acme",
            ai_down,
            lambda: acme.post("/v1/assistant/answer", json={"prompt": "hi"}),
        ),
        ("invalid request", "acme", [], lambda: acme.post("/v1/assistant/answer", json={})),
        (
            "Idempotency-Key reused",
            "acme",
            [],
            lambda: acme.post("/v1/assistant/answer", json={"prompt": "b"}, headers=key),
        ),
    ]


@experiment("edge.principle.4")
async def traceable_failures(run: Run) -> None:
    world = await open_world(run)
    acme = world.tenant("acme")
    ok = await acme.get("/v1/hello")
    await run.steady("a healthy request answers 200", ok.status_code == 200)
    first = await acme.post(
        "/v1/assistant/answer", json={"prompt": "a"}, headers={"idempotency-key": "reused-1"}
    )
    await run.steady("a keyed call answers 200", first.status_code == 200)

    for what, tenant, faults, send in _cases(world):
        async with AsyncExitStack() as stack:
            for fault in faults:
                await stack.enter_async_context(run.fault(fault))
            response = await send()
        trace = response.headers.get("x-trace-id", "")
        records = [r for r in world.failure_records() if getattr(r, "requestId", "") == trace]
        tenants = sorted({str(getattr(r, "tenantId", "")) for r in records})
        run.expect(
            f"{what}: {response.status_code}, logged with its requestId and tenantId {tenant}",
            response.status_code >= 400 and bool(trace) and bool(records) and tenants == [tenant],
            f"{response.status_code}, {len(records)} records for {trace!r}, tenants {tenants}",
        )
        await run.wait(1.0)
    run.expect("the 5xx spike alert fired", bool(alerts(run, "edge.rule.5xx-spike")))
    expect_traceable(run, world)
