"""content.fm.1.5: a revocation waits for an offline device; expiresAt bounds it."""

from __future__ import annotations

from services.content.device_client import SimulatedDevice
from services.content.testbed import Testbed, alerts, expect_detection

from mitigate.chaos import Run, experiment

DAY = 86_400.0


async def seconds_left(bed: Testbed, device: SimulatedDevice, bundle_id: str) -> float:
    """Seconds until the device's licence for the bundle expires (its expiresAt)."""
    license_id = device.store[bundle_id].license_id
    status = (await bed.http.get(f"/v1/licenses/{license_id}/status")).json()
    return float(status["expiresAt"]) - bed.clock.wall()


@experiment("content.fm.1.5", failure_modes=["content.fm.1.5"])
async def revocation_delay(run: Run) -> None:
    """Revoke bundles while devices are offline: the pending gauge counts them, a push
    forces a sync on reconnect and the sync lists the revocation first; a device that
    never reconnects plays until its licence's expiresAt (30 days, or the tenant's 7)."""
    bed = await Testbed.open(run, license_lifetimes={"short": 7 * DAY})
    await bed.add_course("c1", b"lesson one" * 200)
    await bed.add_course("c2", b"lesson two" * 200)
    far = bed.device("far")  # never reconnects: expiry is the bound
    back = bed.device("back")  # reconnects after a day
    short = bed.device("short", tenant="short")  # tenant configured to 7 days
    lost = bed.device("lost")  # its push fails: the fallback keeps the revoke going
    for device in (far, back, short, lost):
        await device.register()
        await device.request_bundle("c1")
        await device.download(f"c1@{device.device_id}")
        await device.sync()
        await run.steady(
            f"{device.device_id} plays online",
            await device.try_play(f"c1@{device.device_id}") == "ok",
        )
        device.go_offline()

    # Something else for "back" happens first, so only priority puts the revocation ahead.
    await bed.http.post("/v1/devices/back/bundles", json={"course_id": "c2"})
    revokes = []
    bed.push.down = True
    revokes.append(await bed.http.post("/ops/bundles/c1@lost/revoke"))
    bed.push.down = False
    for device in (far, back, short):
        revokes.append(await bed.http.post(f"/ops/bundles/c1@{device.device_id}/revoke"))
    run.expect(
        "every revoke answered 200 (push failure falls back to sync + expiry)",
        all(r.status_code == 200 for r in revokes),
        str([r.status_code for r in revokes]),
    )
    run.expect(
        "pending-revocation alert raised",
        bool(alerts(run, "content.rule.revocations-pending")),
    )
    lifetime = (await seconds_left(bed, far, "c1@far")) + bed.clock.wall()
    issued = bed.side.licenses[far.store["c1@far"].license_id].issued_at
    run.expect("licence lifetime is the default 30 days", lifetime - issued == 30 * DAY)
    run.expect("pending gauge counts the 4 offline devices", len(bed.side.pending_revocations) == 4)

    await run.wait(DAY)
    run.expect(
        "offline and revoked: still plays (accepted risk)", await back.try_play("c1@back") == "ok"
    )
    await back.go_online()
    run.expect("the push on reconnect forced a sync", back.push_syncs == 1)
    kinds = [d["kind"] for d in back.last_sync]
    run.expect(
        "sync lists the revocation before any other delta",
        bool(kinds) and kinds[0] == "revocation" and "bundle" in kinds,
        str(kinds),
    )
    run.expect("playback stops after that sync", await back.try_play("c1@back") != "ok")
    run.expect(
        "the revocation was applied on the first sync after reconnect",
        ("back", "c1@back") not in bed.side.pending_revocations,
    )

    await run.wait(await seconds_left(bed, short, "c1@short") - 1)
    run.expect("7-day tenant: plays at 7 d - 1 s", await short.try_play("c1@short") == "ok")
    await run.wait(2)
    refused = await short.try_play("c1@short")
    run.expect("7-day tenant: refused at 7 d + 1 s", refused.endswith("EXPIRED"), refused)

    await run.wait(await seconds_left(bed, far, "c1@far") - 1)
    run.expect("plays offline at 30 d - 1 s", await far.try_play("c1@far") == "ok")
    await run.wait(2)
    refused = await far.try_play("c1@far")
    run.expect(
        "refused at 30 d + 1 s: expired, connect to renew", refused.endswith("EXPIRED"), refused
    )
    status = (await bed.http.get(f"/v1/licenses/{far.store['c1@far'].license_id}/status")).json()
    run.expect("licence status says revoked", status["status"] == "revoked", str(status))
    run.expect(
        "the revocation is never dropped: still pending for the device that never synced",
        ("far", "c1@far") in bed.side.pending_revocations,
    )
    expect_detection(run, "content.fm.1.5")
