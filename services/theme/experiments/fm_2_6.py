"""theme.fm.2.6: the CDN purge after a publish hangs. (1) The first 4 attempts hang past
10 s: each is cut at 10 s, the alert fires after the 3rd failure (not the 2nd), the 5th
attempt succeeds, all within 5 min. (2) Every attempt fails: the retrier stops at 6
attempts inside 5 min, and the manual purge command works. The publish stays committed
and the bundle carries max-age=300, s-maxage=86400 and stale-while-revalidate."""

from __future__ import annotations

from services.theme.harness import alerts, open_world, sample_document

from mitigate.chaos import Run, experiment

RULE = "theme.rule.purge-failing"
OPS = {"x-ops-token": "local-operator"}


@experiment("theme.fm.2.6", failure_modes=["theme.fm.2.6"])
async def purge_timeout(run: Run) -> None:
    world = await open_world(run, workers=True)
    http = world.http
    cdn = world.theme.fake_cdn
    run.require("the fake CDN is wired", cdn is not None)
    assert cdn is not None
    await http.put("/v1/themes/a", json=sample_document())
    ok = await http.post("/v1/themes/a/publish")
    await run.steady("a publish purges its tag", ok.status_code == 200)
    await run.wait(2.0)
    await run.steady("the tag was purged", [t for _, t in cdn.purged] == ["theme:acme:a"])

    # (1) the first 4 attempts hang 30 s
    cdn.hang_next, cdn.hang = 4, 30.0
    await http.put("/v1/themes/b", json=sample_document(name="B"))
    t0 = run.clock.now()
    published = await http.post("/v1/themes/b/publish")
    run.require("the publish commits", published.status_code == 200, published.text)
    alert_at: float | None = None
    done_at: float | None = None
    while run.clock.now() - t0 < 330 and done_at is None:
        await run.wait(1.0)
        fired = alerts(run, RULE)
        if fired and alert_at is None:
            alert_at = fired[0].at
        if any(t == "theme:acme:b" for _, t in cdn.purged):
            done_at = run.clock.now()
    failures = [e for e in run.recorder.named("theme.purge_attempt_failed") if e.at >= t0]
    times = [round(e.at - t0, 1) for e in failures]
    starts = [e.at for e in run.recorder.named("attempt.started", "cdn.purge") if e.at >= t0]
    held = [round(f.at - max(s for s in starts if s <= f.at), 2) for f in failures]
    run.expect(
        "(1) 4 failed attempts, each cut at 10 s, then 1 that purges",
        len(failures) == 4 and all(abs(h - 10.0) < 0.1 for h in held) and cdn.requests == 1 + 5,
        f"failures at {times}, held {held}, requests {cdn.requests}",
    )
    cut = [e for e in run.recorder.named("timeout.fired", "cdn.purge") if e.at >= t0]
    run.expect("(1) every hung attempt was cut by the 10 s timeout", len(cut) == 4, str(len(cut)))
    third = failures[2].at if len(failures) >= 3 else None
    run.expect(
        "(1) alert after the 3rd failed attempt, not the 2nd",
        alert_at is not None
        and third is not None
        and alert_at >= third
        and alert_at > failures[1].at,
        f"alert {alert_at} failures {times}",
    )
    if alert_at is not None:
        run.detected(RULE)
    run.expect(
        "(1) the 5th attempt purges, within 5 min",
        done_at is not None and done_at - t0 <= 300,
        str(None if done_at is None else done_at - t0),
    )

    # (2) the CDN keeps failing
    cdn.fail_all = True
    await http.put("/v1/themes/c", json=sample_document(name="C"))
    t1 = run.clock.now()
    await http.post("/v1/themes/c/publish")
    await run.wait(400.0)
    jobs = {j["tag"]: j for j in (await http.get("/v1/purges")).json()}
    job = jobs.get("theme:acme:c", {})
    attempts = [
        e.at - t1
        for e in run.recorder.named("theme.purge_attempt_failed")
        if e.at >= t1 and getattr(e, "tag", "") == "theme:acme:c"
    ]
    run.expect(
        "(2) stops at 6 attempts, all inside 5 min",
        job.get("state") == "failed"
        and job.get("attempts") == 6
        and len(attempts) == 6
        and max(attempts) <= 300,
        f"{job} {attempts}",
    )
    state = (await http.get("/v1/themes/c")).json().get("state")
    run.expect("(2) the publish stays committed", state == "published", str(state))
    cdn.fail_all = False
    manual = await http.post("/ops/cdn/purge", json={"tag": "theme:acme:c"}, headers=OPS)
    run.expect(
        "(2) the manual purge command works",
        manual.status_code == 200 and any(t == "theme:acme:c" for _, t in cdn.purged),
        manual.text,
    )
    bundle = await http.get("/v1/themes/c/bundle")
    cache = bundle.headers.get("cache-control", "")
    run.expect(
        "bundles carry max-age=300, s-maxage=86400 and stale-while-revalidate",
        "max-age=300" in cache and "s-maxage=86400" in cache and "stale-while-revalidate" in cache,
        cache,
    )
