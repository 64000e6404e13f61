"""authoring.retry.2: the AI call schedule, max 2 retries 1 s apart inside a 5 s budget.

The fake model server answers 503 twice, then OK: two retries 1 s apart, the 3rd attempt
succeeds and the block is stored with provenance. A 10 s latency: the call ends by the
5 s budget with the AI-unavailable code (503), no attempt starts past the budget."""

from __future__ import annotations

from mitigate.chaos import Latency, Run, experiment
from services.authoring.harness import alerts, events_since, open_world


@experiment("authoring.retry.2")
async def ai_call_schedule(run: Run) -> None:
    world = await open_world(run)
    model = world.service.fakes.ai
    assert model is not None
    draft = await world.new_draft()
    ok = await world.ai_block(draft, "photosynthesis")
    await run.steady("AI blocks are written", ok.status_code == 201)

    seen = len(run.recorder.named("attempt.started", "ai.generate"))
    t0 = run.clock.now()
    model.fail = [503, 503]
    flaky = await world.ai_block(draft, "cells")
    starts = run.recorder.named("attempt.started", "ai.generate")[seen:]
    delays = [e.delay for e in events_since(run, "retry.scheduled", "ai.generate", t0)]
    run.expect("two retries 1 s apart", delays == [1.0, 1.0], str(delays))
    run.expect("the 3rd attempt succeeds", len(starts) == 3, str(len(starts)))
    run.expect("the block is stored", flaky.status_code == 201, flaky.text)
    prov = (flaky.json().get("block") or {}).get("aiProvenance") or {}
    run.expect("with provenance", prov.get("model") == "cloud-model-1", str(prov))

    await run.wait(120)
    t1 = run.clock.now()
    async with run.fault(Latency("ai.generate", delay=10)):
        slow = await world.ai_block(draft, "mitosis")
    took = run.clock.now() - t1
    starts = events_since(run, "attempt.started", "ai.generate", t1)
    run.expect("ends at the 5 s budget", took <= 5.0 + 1e-6, f"{took:.2f}s")
    run.expect("no attempt started past the budget", all(e.at - t1 < 5 for e in starts))
    code = slow.json().get("code")
    run.expect("a timeout answer, not a hang", slow.status_code == 503, slow.text)
    run.expect("the AI-unavailable code", code == "AUTHORING.AI.UNAVAILABLE", str(code))
    gave_up = events_since(run, "retry.exhausted", "ai.generate", t1)
    gave_up += events_since(run, "budget.exhausted", "ai.generate", t1)
    run.expect("the retry gave up", bool(gave_up))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.ai-unavailable")))
