"""authoring.retry.3: the media asset check, max 3 retries at 200 ms, 1 s, 3 s inside a
5 s budget; when it runs out the publish validation fails closed (authoring.fm.1.5)."""

from __future__ import annotations

from mitigate.chaos import Failure, Run, experiment
from services.authoring.harness import alerts, events_since, open_world


def _delays(run: Run, since: float) -> list[float]:
    return [e.delay for e in events_since(run, "retry.scheduled", "media.check", since)]


@experiment("authoring.retry.3")
async def media_check_schedule(run: Run) -> None:
    world = await open_world(run)
    world.asset("a.png")
    ok = await world.approved_draft(["a.png"])
    await world.publish(ok)
    await run.steady("publish works", await world.settle(ok) == "published")

    flaky = await world.approved_draft(["a.png"])
    t0 = run.clock.now()
    async with run.fault(Failure("media.check", times=3)):
        response = await world.publish(flaky)
    attempts = events_since(run, "attempt.started", "media.check", t0)
    run.expect("retries after 200 ms, 1 s, 3 s", _delays(run, t0) == [0.2, 1.0, 3.0])
    run.expect(
        "the 4th attempt succeeds", len(attempts) == 4, str([(e.attempt, e.at) for e in attempts])
    )
    run.expect("the publish is accepted", response.status_code == 202, response.text)
    run.expect("and completes", await world.settle(flaky) == "published")

    await run.wait(120)  # the breaker's window (5 / 30s) forgets those failures
    down = await world.approved_draft(["a.png"])
    t1 = run.clock.now()
    async with run.fault(Failure("media.check")):
        refused = await world.publish(down)
    took = run.clock.now() - t1
    attempts = events_since(run, "attempt.started", "media.check", t1)
    run.expect("gives up after 3 retries", len(attempts) == 4, str(len(attempts)))
    run.expect("4.2 s of waiting", abs(sum(_delays(run, t1)) - 4.2) < 1e-6, str(_delays(run, t1)))
    run.expect("inside the 5 s budget", took <= 5.0, f"{took:.2f}s")
    code = refused.json().get("code")
    run.expect("fails closed: 503", refused.status_code == 503, refused.text)
    run.expect("unverifiable", code == "AUTHORING.MEDIA.UNVERIFIABLE", str(code))
    state = (await world.draft(down))["state"]
    run.expect("the draft never enters publishing", state == "approved", state)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.publish-refused")))
