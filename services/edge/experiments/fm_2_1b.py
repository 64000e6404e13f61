"""edge.fm.2.1b: cold starts above 1 s; production tenants pre-warmed.

Workers are scaled to zero. A standard-tier tenant's first request pays the cold start
(over 1 s) and the p99 rule fires. A production-tier tenant, re-warmed by the keep-warm
loop, answers its first request under 1 s. The process reported ready only after its
production tenants were warm.
"""

from __future__ import annotations

from services.edge.harness import alerts, expect_traceable, open_world

from mitigate.chaos import Run, experiment

SLO = 1.0


@experiment("edge.fm.2.1b", failure_modes=["edge.fm.2.1b"])
async def cold_start(run: Run) -> None:
    world = await open_world(run, workers=True)
    ready = await world.client().get("/readyz")
    await run.steady("ready once production tenants are warm", ready.status_code == 200)
    start = run.clock.now()
    first = await world.tenant("acme").get("/v1/hello")
    await run.steady(
        "the production tenant's first request is warm",
        first.json().get("coldStart") is False and run.clock.now() - start < SLO,
    )

    await world.ops().post("/ops/pool/scale-to-zero")  # the fault: every instance idle
    await run.wait(15)  # the keep-warm loop runs every 10 s

    start = run.clock.now()
    slow = await world.tenant("globex").get("/v1/hello")
    took = run.clock.now() - start
    run.expect(
        "without pre-warm the first request exceeds 1 s",
        slow.json().get("coldStart") is True and took > SLO,
        f"{took:.2f} s",
    )
    run.expect("the p99 rule fired", bool(alerts(run, "edge.rule.latency-p99")))

    start = run.clock.now()
    warm = await world.tenant("acme").get("/v1/hello")
    took = run.clock.now() - start
    run.expect(
        "with pre-warm the production tenant's first request stays under 1 s",
        warm.json().get("coldStart") is False and took < SLO,
        f"{warm.json()} in {took:.2f} s",
    )
    again = await world.tenant("globex").get("/v1/hello")
    run.expect("the standard tenant's next request is warm", again.json().get("coldStart") is False)
    expect_traceable(run, world, required=False)
