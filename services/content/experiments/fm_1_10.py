"""content.fm.1.10: a poisoned CDN copy is caught, fetched from origin and purged."""

from __future__ import annotations

import hashlib

from services.content.testbed import Testbed, alerts, expect_detection

from mitigate.chaos import Run, experiment


@experiment("content.fm.1.10", failure_modes=["content.fm.1.10"])
async def cdn_poisoning(run: Run) -> None:
    """Corrupt the cached copy inside the CDN: the client's SHA-256 check (against the
    hash the signed URL carries) fails, an integrity event is emitted, the client gets
    the bundle from the origin through a signed URL, the CDN entry is purged and the
    next CDN read serves good bytes; the origin object is unchanged."""
    bed = await Testbed.open(run)
    await bed.add_course("c5", b"video frames " * 2000)
    first, second = bed.device("tab-1"), bed.device("tab-2")
    for device in (first, second):
        await device.register()
        await device.request_bundle("c5")
    await first.download("c5@tab-1")
    await run.steady("first copy via the CDN plays", await first.try_play("c5@tab-1") == "ok")
    key = bed.side.bundles["c5@tab-1"].object_key
    origin = bed.side.objects_root / key
    origin_digest = hashlib.sha256(origin.read_bytes()).digest()
    await run.steady("the CDN holds the copy", await bed.cdn.holds(key))

    await bed.cdn.corrupt(key)  # the fault: poison inside the CDN layer
    first.store.pop("c5@tab-1", None)  # the learner downloads it again (new install)
    outcome = await run.call("download", first.download, "c5@tab-1")
    run.expect("the bundle still arrives", outcome.ok, str(outcome.error))
    await run.expect_event("integrity.tamper_detected", target="cdn.get", within=60)
    run.expect("integrity alert raised", bool(alerts(run, "content.rule.cdn-digest-mismatch")))
    run.expect("the CDN entry was purged", key in bed.cdn.purges)
    run.expect("it plays after one extra fetch", await first.try_play("c5@tab-1") == "ok")

    fills = bed.cdn.fills
    first.store.pop("c5@tab-1", None)
    fallbacks = len(run.recorder.named("fallback.used", "cdn.get"))
    await run.call("download", first.download, "c5@tab-1")
    run.expect("the next CDN read refilled from origin", bed.cdn.fills == fills + 1)
    run.expect(
        "and served good bytes (no fallback needed)",
        len(run.recorder.named("fallback.used", "cdn.get")) == fallbacks
        and await first.try_play("c5@tab-1") == "ok",
    )
    run.expect(
        "origin object unchanged",
        hashlib.sha256(origin.read_bytes()).digest() == origin_digest,
    )
    await second.download("c5@tab-2")
    run.expect("other bundles unaffected", await second.try_play("c5@tab-2") == "ok")
    expect_detection(run, "content.fm.1.10")
