"""theme.fm.2.7: the bundle cache (Redis) drops its connections for 10 min: every call
hangs until the adapter's 200 ms cut. The error ratio rule fires and the cache breaker
opens; reads bypass the cache to origin with no error and a p95 within 250 ms; cache
writes are dropped once logged, not retried. After the outage the cache serves again."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Latency, Run, experiment

RULE = "theme.rule.cache-errors"
CACHE = "bundle.cache"
OUTAGE = 600.0


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else 0.0


@experiment("theme.fm.2.7", failure_modes=["theme.fm.2.7"])
async def cache_down(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    await http.put("/v1/themes/brand", json=sample_document())
    published = await http.post("/v1/themes/brand/publish")
    run.require("the theme is published", published.status_code == 200, published.text)
    for _ in range(3):
        warm = await http.get("/v1/themes/brand/read")
        await run.wait(1.0)
    await run.steady("reads come from the cache", warm.headers.get("x-theme-source") == "cache")

    statuses: list[int] = []
    sources: list[str] = []
    took: list[float] = []
    t0 = run.clock.now()
    seen = False
    async with run.fault(Latency(CACHE, delay=30.0), duration=OUTAGE):
        while run.clock.now() - t0 < OUTAGE - 1.0:
            start = run.clock.now()
            answer = await http.get("/v1/themes/brand/read")
            took.append(run.clock.now() - start)
            statuses.append(answer.status_code)
            sources.append(answer.headers.get("x-theme-source", ""))
            if not seen and alerts(run, RULE):
                seen = True
                run.detected(RULE)
            await run.wait(1.0)
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    opened = [e for e in run.recorder.named("breaker.opened", CACHE) if e.at >= t0]
    run.expect("the cache breaker opened", len(opened) >= 1, str(len(opened)))
    run.expect(
        "no read failed during the outage",
        len(statuses) > 500 and all(s == 200 for s in statuses),
        f"{len(statuses)} reads, not 200: {sum(s != 200 for s in statuses)}",
    )
    run.expect(
        "reads bypassed the cache to origin",
        sources.count("origin") == len(sources),
        f"{ {s: sources.count(s) for s in set(sources)} }",
    )
    slow = p95(took)
    run.expect("read p95 within 250 ms", slow <= 0.25, f"p95 {slow:.3f}s")
    tried = [e for e in run.recorder.named("attempt.started", CACHE) if t0 <= e.at < t0 + OUTAGE]
    # Each open period lets one probe through: about one cache call per 30 s, not two a read.
    run.expect(
        "while open the cache is bypassed (only the breaker's probes reach it)",
        len(tried) <= 10 + OUTAGE / 30.0,
        f"{len(tried)} cache calls for {len(statuses)} reads",
    )
    dropped = [e for e in run.recorder.named("theme.cache_write_dropped") if e.at >= t0]
    puts = [e for e in tried if getattr(e, "attempt", 1) > 1]
    run.expect(
        "cache writes were logged and dropped, never retried",
        len(dropped) == 1 and not puts,
        f"dropped {len(dropped)}, retried attempts {len(puts)}",
    )

    await run.wait(60.0)  # the fault is over: the next probe closes the breaker
    for _ in range(3):
        after = await http.get("/v1/themes/brand/read")
        await run.wait(1.0)
    run.expect(
        "after the outage reads come from the cache again",
        after.status_code == 200 and after.headers.get("x-theme-source") == "cache",
        f"{after.status_code} {after.headers.get('x-theme-source')}",
    )
    run.mitigated("breaker opened; reads bypassed the cache to origin")
