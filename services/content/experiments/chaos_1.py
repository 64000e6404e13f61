"""content.chaos.1: the key ring is down for 30 s while a publish is signing. Retries and
the KMS breaker act; the breaker's half-open probe 60 s after opening succeeds, and the
publish completes without compensation: exactly one package, signed once."""

from __future__ import annotations

from services.content.harness import open_world
from services.content.testbed import alerts

from mitigate.chaos import Outage, Run, experiment


@experiment("content.chaos.1", failure_modes=["content.fm.1.1"])
async def kms_down_mid_publish(run: Run) -> None:
    world = await open_world(run)
    world.asset("index.html", b"<p>lesson</p>")
    manifest = world.manifest(["index.html"])
    await world.draft("warm", manifest)
    await world.publish("warm")
    await run.steady("publish works", (await world.settle("warm"))["state"] == "published")

    signer = world.content.publisher.signer
    signed_before = signer.calls
    await world.draft("d", manifest)
    t0 = run.clock.now()
    await run.inject(Outage("kms.sign", duration=30), duration=30)  # build is instant: signing
    response = await world.publish("d")
    publish_id = response.json()["publishId"]
    body = await world.settle("d")
    took = run.clock.now() - t0

    await run.expect_event("retry.scheduled", target="kms.sign", within=5)
    await run.expect_event("breaker.opened", target="kms.sign", within=30)
    opened = run.recorder.first("breaker.opened", "kms.sign")
    closed = [e for e in run.recorder.named("breaker.closed", "kms.sign") if e.at >= t0]
    run.expect(
        "the half-open probe 60 s after opening succeeds",
        opened is not None and bool(closed) and closed[0].at - opened.at >= 60,
        f"opened {getattr(opened, 'at', None)}, closed {[e.at for e in closed]}",
    )
    paged = [e for e in alerts(run, "content.rule.kms-breaker-open") if e.at >= t0]
    run.expect("the KMS breaker-open rule raised its alert", bool(paged), f"{len(paged)} alerts")
    state = await world.saga_state(publish_id)
    run.expect("the publish completes, no compensation", state == "completed", state)
    run.expect("draft published", body["state"] == "published", body["state"])
    run.expect("the 15 min timeout is never reached", took < 15 * 60, f"{took}s")
    run.expect(
        "no saga compensated",
        not [e for e in run.recorder.named("saga.compensated") if e.at >= t0],
    )
    package = body["packageId"]
    keys = [k for k in await world.objects() if package in k]
    run.expect("exactly one package", len(keys) == 2, str(keys))
    run.expect("signed once", signer.calls - signed_before == 1, f"{signer.calls - signed_before}")
