"""content.fm.1.8: a huge course must not exhaust the builder's memory.

The builder is a subprocess under an address-space limit (the sized worker). A package of
500 generated video files (sparse, one of them 160 MB) builds streaming with a peak RSS
under a fixed bound, the same as a package a tenth its size; a package over the tenant's
plan cap is refused before the build starts ("too large for plan"); a deliberately
non-streaming build is killed by the limit, seen as an OOM, raises an admin-review alert
and its job is parked for review ("under review"), never dropped.
"""

from __future__ import annotations

from services.content.harness import open_world
from services.content.testbed import alerts, expect_detection

from mitigate.chaos import Run, experiment

MiB = 1 << 20
RSS_BOUND = 64 * MiB
LIMIT_MB = 256


@experiment("content.fm.1.8", failure_modes=["content.fm.1.8"])
async def huge_course(run: Run) -> None:
    world = await open_world(run, builder="process", builder_memory_mb=LIMIT_MB)
    small = [world.asset(f"s/clip{i:03}.mp4", size=16 * 1024) for i in range(50)]
    await world.draft("small", world.manifest(small))
    await world.publish("small")
    small_body = await world.settle("small")
    await run.steady("a small course publishes", small_body["state"] == "published")
    small_rss = (await world.http.get(f"/v1/builds/{small_body['packageId']}")).json()["peakRss"]

    # 500 videos, one of them 160 MB: streaming keeps the builder's memory flat.
    videos = [world.asset(f"v/clip{i:03}.mp4", size=128 * 1024) for i in range(499)]
    videos.append(world.asset("v/feature-4k.mp4", size=160 * MiB))
    await world.draft("huge", world.manifest(videos))
    await world.publish("huge")
    huge = await world.settle("huge")
    run.expect("500 videos: published", huge["state"] == "published", str(huge.get("error")))
    build = (await world.http.get(f"/v1/builds/{huge['packageId']}")).json()
    rss = build.get("peakRss") or 0
    run.expect(f"peak RSS under {RSS_BOUND >> 20} MB", 0 < rss < RSS_BOUND, f"{rss >> 20} MB")
    run.expect(
        "peak RSS independent of package size",
        abs(rss - small_rss) < 16 * MiB,
        f"{rss >> 20} MB vs {small_rss >> 20} MB",
    )

    # Over the plan's cap (free: 1 GiB): refused before the build starts.
    capped = world.http.headers.copy()
    capped["x-tenant-id"] = "globex"
    big = [world.asset(f"g/clip{i:03}.mp4", size=4 * MiB, tenant="globex") for i in range(500)]
    manifest = world.manifest(big)
    await world.http.put("/v1/drafts/g1", json=manifest, headers=capped)
    accepted = await world.http.post("/v1/drafts/g1/publish", headers=capped)
    package = accepted.json()["packageId"]
    end = run.clock.now() + 20 * 60
    while run.clock.now() < end:
        refused = (await world.http.get("/v1/drafts/g1", headers=capped)).json()
        if refused["state"] != "building":
            break
        await run.clock.asleep(5)
    run.expect(
        "over the cap: the author sees 'too large for plan'",
        refused["state"] == "approved" and "too large for plan" in (refused["error"] or ""),
        str(refused.get("error")),
    )
    never = await world.http.get(f"/v1/builds/{package}", headers=capped)
    run.expect("over the cap: refused before the build started", never.status_code == 404)

    # A non-streaming build path (planted as a regression would be): killed by the limit.
    world.content.publisher.streaming = False
    run.rollback(lambda: setattr(world.content.publisher, "streaming", True))
    world.asset("b/master.mov", size=400 * MiB)
    await world.draft("bulk", world.manifest(["b/master.mov"]))
    await world.publish("bulk")
    bulk = await world.settle("bulk")
    world.content.publisher.streaming = True
    parked = (await world.http.get(f"/v1/builds/{bulk['packageId']}")).json()
    run.expect(
        "the OOM kill is seen and the job parked for review",
        parked.get("state") == "parked" and "memory limit" in (parked.get("reason") or ""),
        str(parked),
    )
    admin = [
        a
        for a in (await world.http.get("/v1/alerts", params={"audience": "admin"})).json()
        if a["code"] == "CONTENT.BUILD.OOM"
    ]
    run.expect("an admin-review alert", len(admin) == 1, str(admin))
    oom = alerts(run, "content.rule.builder-oom")
    run.expect("detected: the builder-oom rule fires", len(oom) == 1, str(len(oom)))
    run.expect(
        "the author sees 'under review'",
        "admin review" in (bulk.get("error") or ""),
        str(bulk.get("error")),
    )
    run.expect("the draft is editable again", bulk["state"] == "approved", bulk["state"])
    expect_detection(run, "content.fm.1.8")
