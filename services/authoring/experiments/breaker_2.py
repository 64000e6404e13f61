"""authoring.breaker.2: the media service breaker, trips at 5 failures in 30 s, resets
after 60 s. Through publish commands: 4 failures in 30 s leave it closed; the 5th opens
it; while open the publish is refused as unverifiable at once and the media service sees
no request; 60 s later one probe closes it and publishing works again."""

from __future__ import annotations

from mitigate.chaos import Failure, Run, experiment
from services.authoring.harness import alerts, events_since, open_world


@experiment("authoring.breaker.2")
async def media_breaker(run: Run) -> None:
    world = await open_world(run)
    world.asset("a.png")
    ok = await world.approved_draft(["a.png"])
    await world.publish(ok)
    await run.steady("publish works", await world.settle(ok) == "published")

    t0 = run.clock.now()
    four = await world.approved_draft(["a.png"])
    async with run.fault(Failure("media.check", times=4)):
        refused = await world.publish(four)  # 4 attempts, all fail: retries spent
    failed = events_since(run, "attempt.failed", "media.check", t0)
    run.expect("4 failures inside 30 s", len(failed) == 4 and failed[-1].at - t0 <= 30)
    run.expect("4 failures: closed", not events_since(run, "breaker.opened", "media.check", t0))
    run.expect("refused, fails closed", refused.status_code == 503, refused.text)

    fifth = await world.approved_draft(["a.png"])
    async with run.fault(Failure("media.check", times=1)):
        response = await world.publish(fifth)
    opened = events_since(run, "breaker.opened", "media.check", t0)
    run.expect("the 5th failure opens it", len(opened) == 1, str(len(opened)))
    run.expect("refused while open", response.status_code == 503, response.text)
    run.expect("ops alert raised", bool(alerts(run, "authoring.rule.media-breaker-open")))

    seen = world.media.requests
    start = run.clock.now()
    fast = await world.publish(fifth)
    took = run.clock.now() - start
    run.expect("while open: refused", fast.status_code == 503, fast.text)
    run.expect("clear code", fast.json().get("code") == "AUTHORING.MEDIA.UNVERIFIABLE", fast.text)
    run.expect("while open: the media service sees no request", world.media.requests == seen)

    # 60 s after opening, a probe is let through; it succeeds and the breaker closes.
    opened_at = opened[0].at if opened else run.clock.now()
    await run.wait(max(0.0, opened_at + 60 - run.clock.now()) + 0.5)
    again = await world.publish(fifth)
    trail = [
        (e.name, round(e.at, 2))
        for e in run.recorder.events
        if e.target == "media.check" and e.name.startswith("breaker") and e.at >= t0
    ]
    run.expect("after 60 s the probe passes", again.status_code == 202, str(trail))
    run.expect("closed again", bool(events_since(run, "breaker.closed", "media.check", t0)))
    run.expect("and the publish completes", await world.settle(fifth) == "published")
    half = events_since(run, "breaker.half_opened", "media.check", t0)
    gap = half[0].at - opened[0].at if half else 0.0
    run.expect("one probe, 60 s after opening", bool(half) and 60 <= gap < 61, f"{gap:.2f}s")
    run.expect("the open breaker answered at once", took < 1, f"{took:.2f}s")
