"""content.fm.1.6: key rotation must not orphan old signatures."""

from __future__ import annotations

import json

from services.content.testbed import Testbed, alerts, expect_detection

import mitigate
from mitigate.chaos import Run, experiment

DAY = 86_400.0


@experiment("content.fm.1.6", failure_modes=["content.fm.1.6"])
async def kid_rotation(run: Run) -> None:
    """Publish the next kid a day ahead (devices get it by sync), rotate at t0, sign
    bundles before and after; a retirement at t0 + 1 day is refused inside the 2-day
    overlap; both bundles verify on a device that is offline after its sync; no bundle
    signed by an active kid fails verification."""
    bed = await Testbed.open(run)
    await bed.add_course("old", b"signed before the rotation " * 50)
    await bed.add_course("new", b"signed after the rotation " * 50)
    device = bed.device("tab")
    await device.register()
    await device.request_bundle("old")
    await device.download("old@tab")
    await run.steady("the old bundle plays", await device.try_play("old@tab") == "ok")
    old_kid = bed.ring.active_kid

    next_kid = (await bed.http.post("/ops/keys/next")).json()["kid"]  # t0 - 1 day
    fetches = device.keys.fetch_count
    deltas = await device.sync()
    run.expect("sync carries the new kid", any(d["kind"] == "keys" for d in deltas), str(deltas))
    run.expect(
        "the device cached the new kid before anything is signed with it",
        next_kid in (device.keys.keys or mitigate.KeySet()),
    )
    run.expect("it got it through sync (one refresh)", device.keys.fetch_count == fetches + 1)

    await run.wait(DAY)  # t0
    activated = await bed.http.post(f"/ops/keys/{next_kid}/activate")
    run.expect("rotation at t0", activated.status_code == 200, activated.text)
    await device.request_bundle("new")
    await device.download("new@tab")
    kids = [
        k["kid"]
        for k in json.loads((await bed.http.get("/.well-known/content-keys.json")).content)["keys"]
    ]
    run.expect(
        "during the overlap the document lists both kids",
        {old_kid, next_kid} <= set(kids),
        str(kids),
    )
    run.expect(
        "alert: a live bundle is signed by a kid leaving the document",
        bool(alerts(run, "content.rule.bundles-on-retiring-kid")),
    )

    await run.wait(DAY)  # t0 + 1 day
    refused = await bed.http.post(f"/ops/keys/{old_kid}/retire")
    run.expect(
        "retiring the old kid inside the 2-day overlap is refused",
        refused.status_code == 409 and refused.json()["code"] == "MITIGATE.KEYRING.OVERLAP",
        refused.text,
    )
    device.go_offline()  # no chance to fetch keys now
    run.expect("the old bundle still plays", await device.try_play("old@tab") == "ok")
    run.expect("the new bundle plays", await device.try_play("new@tab") == "ok")

    failures = []
    keys = bed.ring.keyset()
    for bundle_id, bundle in bed.side.bundles.items():
        content = (bed.side.objects_root / bundle.object_key).read_bytes()
        try:
            mitigate.verify_bundle(bundle.envelope, content, keys, now=bed.clock.wall())
        except mitigate.IntegrityError as err:
            failures.append(f"{bundle_id}: {err.code}")
    run.expect("every live bundle verifies against the key document", not failures, str(failures))
    expect_detection(run, "content.fm.1.6")
