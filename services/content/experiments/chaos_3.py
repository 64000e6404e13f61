"""content.chaos.3: corrupt a random stored bundle object."""

from __future__ import annotations

import hashlib
import random

from services.content.testbed import Testbed, expect_detection

from mitigate.chaos import Run, corrupt_file, experiment


@experiment("content.chaos.3")
async def corrupt_stored_bundle(run: Run) -> None:
    """Flip bytes in a random bundle object in the store: the device's next fetch and
    mount fail verification and its tamper report reaches the server, which flags the
    bundle and rebuilds it from source; the fresh download verifies and plays the same
    content; the device never plays corrupt bytes."""
    bed = await Testbed.open(run)
    source = b"chapter " * 500
    await bed.add_course("c3", source)
    devices = [bed.device(f"tab-{i}") for i in range(3)]
    for device in devices:
        await device.register()
        await device.request_bundle("c3")
    victim = random.Random(7).choice(devices)
    bundle_id = f"c3@{victim.device_id}"
    record = bed.side.bundles[bundle_id]
    stored = bed.side.objects_root / record.object_key
    before = hashlib.sha256(stored.read_bytes()).digest()
    await run.steady("the stored object matches its envelope hash", before == record.sha256)

    corrupt_file(stored, random=random.Random(3).random)  # the fault, at rest
    plays = victim.plays
    outcome = await run.call("download", victim.download, bundle_id)
    run.expect("the corrupt object is refused on the device", not outcome.ok, str(outcome))
    run.expect("nothing mounted", bundle_id not in victim.store)
    run.expect("nothing played", victim.plays == plays)
    await run.expect_event("integrity.tamper_detected", within=120)
    run.expect("a tamper report is queued for the next sync", len(victim.pending_reports) == 1)

    deltas = await victim.sync()
    run.expect("the report reached the server", bed.side.tamper_reports_processed == 1)
    run.require("the server rebuilt the bundle from source", bundle_id in bed.side.rebuilt)
    run.expect(
        "a fresh download is offered",
        any(d["kind"] == "bundle" and d["id"] == bundle_id for d in deltas),
        str(deltas),
    )
    await victim.download(bundle_id)
    played = await victim.play(bundle_id)
    run.expect(
        "the fresh bundle verifies and plays the same content (same digest as the source)",
        hashlib.sha256(played).digest() == hashlib.sha256(source).digest(),
    )
    others = [await d.download(f"c3@{d.device_id}") for d in devices if d is not victim]
    run.expect("the other devices' bundles are untouched", len(others) == 2)
    expect_detection(run, "content.fm.1.3")
