"""authoring.chaos.3: a 10 s latency spike on every AI gateway call.

Each AI request ends within its 5 s budget (2 s attempt timeouts, one retry) with a
degraded answer, never an error page: "AI unavailable, continue manually" (503 in the
envelope) or, with consent, the local model's reduced-quality block. After 10 timeouts
in 30 s the breaker opens and requests fail fast. Editing keeps working throughout."""

from __future__ import annotations

from mitigate import VirtualClock
from mitigate.chaos import Latency, Run, experiment
from services.authoring.harness import alerts, events_since, open_world


@experiment("authoring.chaos.3")
async def ai_latency_spike(run: Run) -> None:
    world = await open_world(run)
    draft = await world.new_draft()
    ok = await world.ai_block(draft, "warm up")
    await run.steady("AI works", ok.status_code == 201)

    t0 = run.clock.now()
    answers: list[tuple[int, float, bool]] = []
    edits_ok = True
    async with run.fault(Latency("ai.generate", delay=10)):
        for n in range(8):
            start = run.clock.now()
            response = await world.ai_block(draft, f"topic {n}", consent=n % 2 == 1)
            took = run.clock.now() - start
            reduced = response.status_code == 201 and response.json()["reducedQuality"]
            answers.append((response.status_code, took, bool(reduced)))
            edit = await world.http.post(
                f"/v1/drafts/{draft}/blocks", json={"kind": "text", "body": {"t": n}}
            )
            edits_ok = edits_ok and edit.status_code == 201
    # On the real clock (`--real-time`) a request also pays the app's own few milliseconds.
    slack = 1e-6 if isinstance(run.clock, VirtualClock) else 0.25
    run.expect(
        "every AI request ends within 5 s",
        all(t <= 5.0 + slack for _, t, _ in answers),
        str([round(t, 3) for _, t, _ in answers]),
    )
    run.expect(
        "degraded, never an error page",
        all((s == 503) or (s == 201 and r) for s, _, r in answers),
        str(answers),
    )
    run.expect("with consent: local reduced-quality blocks", any(r for _, _, r in answers))
    run.expect("editing keeps working", edits_ok)
    run.expect("timeouts observed", bool(events_since(run, "timeout.fired", "ai.generate", t0)))
    opened = events_since(run, "breaker.opened", "ai.generate", t0)
    run.expect("the breaker opens after 10 failures in 30 s", len(opened) == 1, str(len(opened)))
    if opened:
        failed = [e for e in events_since(run, "attempt.failed", "ai.generate", t0)]
        before = [e for e in failed if e.at <= opened[0].at]
        run.expect(
            "10 failures inside 30 s before it opened",
            len(before) == 10 and before[-1].at - before[0].at <= 30,
            str([round(e.at - t0, 1) for e in before]),
        )
    run.expect("alert raised", bool(alerts(run, "authoring.rule.ai-unavailable")))
