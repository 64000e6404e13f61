"""authoring.breaker.1: the AI gateway breaker, trips at 10 failures in 30 s, resets after
60 s. Through AI block requests: 9 failures in 30 s leave it closed; the 10th opens it;
while open no call reaches the model server and the editor degrades (AI unavailable, or
the local model with consent); 60 s later one probe closes it."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import alerts, events_since, open_world


@experiment("authoring.breaker.1")
async def ai_gateway_breaker(run: Run) -> None:
    world = await open_world(run)
    cloud = world.service.fakes.ai
    assert cloud is not None
    draft = await world.new_draft()
    ok = await world.ai_block(draft, "warm up")
    await run.steady("AI works", ok.status_code == 201)

    await run.wait(60)
    t0 = run.clock.now()
    cloud.fail = [503] * 9  # three requests, three attempts each
    for _ in range(3):
        await world.ai_block(draft, "cells")
    failed = events_since(run, "attempt.failed", "ai.generate", t0)
    run.expect("9 failures inside 30 s", len(failed) == 9 and failed[-1].at - t0 <= 30)
    run.expect("9 failures: closed", not events_since(run, "breaker.opened", "ai.generate", t0))

    cloud.fail = [503]
    tenth = await world.ai_block(draft, "cells")
    opened = events_since(run, "breaker.opened", "ai.generate", t0)
    run.require("the 10th failure opens it", len(opened) == 1, str(len(opened)))
    run.expect("degraded, not an error page: 503 unavailable", tenth.status_code == 503)

    seen = cloud.requests
    manual = await world.ai_block(draft, "cells")
    local = await world.ai_block(draft, "cells", consent=True)
    run.expect("while open: no call reaches the model server", cloud.requests == seen)
    run.expect("while open: AI unavailable, continue manually", manual.status_code == 503)
    run.expect("while open: with consent the local model answers", local.status_code == 201)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.ai-unavailable")))

    await run.wait(opened[0].at + 60.5 - run.clock.now())
    again = await world.ai_block(draft, "cells")
    half = events_since(run, "breaker.half_opened", "ai.generate", t0)
    gap = half[0].at - opened[0].at if half else 0.0
    run.expect("one probe, 60 s after opening", bool(half) and 60 <= gap < 61, f"{gap:.2f}s")
    run.expect("the probe succeeds: closed", again.status_code == 201, again.text)
    run.expect("closed", bool(events_since(run, "breaker.closed", "ai.generate", t0)))
