"""content.chaos.4: content and catalog are partitioned for 60 s during the catalog
registration step. The reading the catalog takes (catalog.register: own 45 s deadline,
5 s attempts): a 60 s cut ends in compensation (no registration left, package discarded,
draft approved), a 20 s cut heals inside the step and the publish completes. Neither
raises the building > 5 min alert; nothing is registered without a bundle."""

from __future__ import annotations

from services.content.harness import open_world

from mitigate.chaos import Run, experiment


@experiment("content.chaos.4", failure_modes=["content.fm.1.7"])
async def partition_catalog(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>lesson</p>")
    manifest = world.manifest(["index.html"])
    await world.draft("warm", manifest)
    await world.publish("warm")
    await run.steady("publish works", (await world.settle("warm"))["state"] == "published")
    catalog = world.content.fake_catalog
    assert catalog is not None

    # 60 s: the step gives up at its 45 s deadline; the saga compensates. In virtual
    # time the cut is a fault at the catalog call; on the real clock (catalog real_time)
    # a black hole on the TCP link through the fault proxy.
    await world.draft("cut", manifest)
    t0 = run.clock.now()
    await world.partition_catalog(60)  # black-holed: attempts time out
    response = await world.publish("cut")
    body = await world.settle("cut", every=1 if world.real_time else 5)
    state = await world.saga_state(response.json()["publishId"])
    # Detected: attempts timing out and retried (the cut itself is an injected fault in
    # virtual time; on a real link nothing announces it).
    await run.expect_event("retry.scheduled", target="catalog.register", within=60)
    if not world.real_time:
        await run.expect_event("fault.injected", target="catalog.register", within=5)
    run.expect("retries seen", bool(run.recorder.named("retry.scheduled", "catalog.register")))
    run.expect("60 s cut: compensated", state == "compensated", state)
    run.expect("draft back to approved", body["state"] == "approved", body["state"])
    registered = await catalog.get(body["packageId"])
    run.expect(
        "no registration left",
        registered is None or registered["status"] == "withdrawn",
        str(registered),
    )
    leftovers = [k for k in await world.objects() if body["packageId"] in k]
    run.expect("package discarded", leftovers == [], str(leftovers))

    # 20 s: heals inside the step's deadline; the publish completes.
    await run.wait(max(0.0, t0 + 65 - run.clock.now()) if world.real_time else 120)
    await world.draft("blip", manifest)
    await world.partition_catalog(20)
    response = await world.publish("blip")
    blip = await world.settle("blip", every=1 if world.real_time else 5)
    state = await world.saga_state(response.json()["publishId"])
    run.expect("20 s cut: completed after healing", state == "completed", state)
    live = await catalog.get(blip["packageId"])
    run.expect("registered once, with its bundle", live is not None and live["status"] == "live")
    stuck = [e for e in run.recorder.named("saga.stuck") if e.at >= t0]
    run.expect("the building > 5 min alert never fires", stuck == [], str(stuck))
