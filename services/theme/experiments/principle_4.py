"""theme.principle.4: one tenant's failure spares the others. Tenant acme floods the
authoring path with 30 slow publishes at once (its bundle uploads take 5 s); meanwhile
globex and initech save as usual. acme is refused at its own bulkhead with a fast 503;
the others' saves all succeed promptly; theme_usecase_errors_total rises for acme's tier
only, and the noisy-neighbour alert fires."""

from __future__ import annotations

import asyncio

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Latency, Run, experiment

RULE = "theme.rule.tenant-errors"
FLOOD = 30
OTHERS = {"globex": "free", "initech": "enterprise"}


@experiment("theme.principle.4")
async def tenant_blast_radius(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    registry = world.theme.runtime.registry
    for i in range(FLOOD):
        await http.put(f"/v1/themes/flood{i:02d}", json=sample_document(name=f"F{i}"))
    for tenant in OTHERS:
        first = await http.put(
            "/v1/themes/brand", json=sample_document(), headers={"x-tenant-id": tenant}
        )
        await run.steady(f"{tenant} saves", first.status_code == 200)

    async def publish(i: int) -> int:
        return (await http.post(f"/v1/themes/flood{i:02d}/publish")).status_code

    timed: dict[str, list[tuple[int, float]]] = {t: [] for t in OTHERS}

    async def save(tenant: str, n: int) -> None:
        start = run.clock.now()
        answer = await http.put(
            "/v1/themes/brand",
            json=sample_document(name=f"{tenant} {n}"),
            headers={"x-tenant-id": tenant, "if-match": f'"{n}"'},
        )
        timed[tenant].append((answer.status_code, run.clock.now() - start))

    async def others() -> None:
        await run.wait(0.1)  # the flood holds its slots already
        for n in range(1, 6):
            await asyncio.gather(*(save(tenant, n) for tenant in OTHERS))
            await run.wait(0.5)

    async with run.fault(Latency("bundle.upload", delay=5.0)):
        flood, _ = await asyncio.gather(
            asyncio.gather(*(publish(i) for i in range(FLOOD))), others()
        )
    shed = [s for s in flood if s == 503]
    run.expect("acme is refused at its own limit (503)", len(shed) >= FLOOD - 8, str(sorted(flood)))
    for tenant, results in timed.items():
        run.expect(
            f"{tenant}: every save succeeds, promptly",
            len(results) == 5 and all(s == 200 and took < 1.0 for s, took in results),
            str(results),
        )
    errors = {
        tier: registry.get_sample_value("theme_usecase_errors_total", {"tenantTier": tier}) or 0.0
        for tier in ("standard", *OTHERS.values())
    }
    run.expect(
        "the error metric rises for acme's tier only",
        errors["standard"] >= len(shed) and all(errors[t] == 0 for t in OTHERS.values()),
        str(errors),
    )
    fired = alerts(run, RULE)
    if fired:
        run.detected(RULE)
    run.expect(f"{RULE} raised alert.raised", bool(fired))
    run.mitigated("per-tenant bulkheads ahead of the shared admission limit")
