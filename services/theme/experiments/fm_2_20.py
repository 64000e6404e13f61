"""theme.fm.2.20: authoring load beyond the admission limit (8 in flight). With each save
held 2 s, 20 concurrent saves from three tenants (each within its own bulkhead): 8
admitted and completed, 12 refused at once with 503 and Retry-After; the alert fires; a
published bundle keeps being read without errors."""

from __future__ import annotations

import asyncio

from services.theme.harness import alerts, open_world, sample_document

import mitigate.chaos
from mitigate.chaos import Run, experiment

RULE = "theme.rule.authoring-shed"
LIMIT = 8
LOAD = 20
TENANTS = ("acme", "globex", "initech")


@experiment("theme.fm.2.20", failure_modes=["theme.fm.2.20"])
async def ceiling(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    await http.put("/v1/themes/live", json=sample_document())
    published = await http.post("/v1/themes/live/publish")
    await run.steady("a published bundle is readable", published.status_code == 200)

    await run.inject(mitigate.chaos.Latency(target="authoring.admission", delay=2.0), duration=1.0)
    t0 = run.clock.now()
    timed: list[tuple[int, float, str]] = []

    async def save(i: int) -> None:
        tenant = TENANTS[i % len(TENANTS)]  # spread over tenants: each within its own bulkhead
        answer = await http.put(
            f"/v1/themes/load{i:02d}", json=sample_document(), headers={"x-tenant-id": tenant}
        )
        timed.append(
            (answer.status_code, run.clock.now() - t0, answer.headers.get("retry-after", ""))
        )

    async def read() -> int:
        return (await http.get("/v1/themes/live/bundle")).status_code

    results = await asyncio.gather(*(save(i) for i in range(LOAD)), read())
    reads = [results[-1]]
    ok = [t for t in timed if t[0] == 200]
    shed = [t for t in timed if t[0] == 503]
    run.expect(
        f"{LIMIT} admitted, {LOAD - LIMIT} shed",
        len(ok) == LIMIT and len(shed) == LOAD - LIMIT,
        str(sorted((c for c, _, _ in timed))),
    )
    run.expect(
        "shed requests answered fast, with Retry-After",
        bool(shed) and all(at < 0.5 and retry for _, at, retry in shed),
        str(shed[:3]),
    )
    run.expect(
        "admitted ones complete", bool(ok) and all(at <= 2.5 for _, at, _ in ok), str(ok[:3])
    )
    run.expect("bundle reads see no errors", reads == [200], str(reads))
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)
    await run.wait(5.0)
    after = await http.put("/v1/themes/after", json=sample_document())
    run.expect("after the burst, saves go through", after.status_code == 200, after.text)
