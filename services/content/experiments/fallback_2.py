"""content.fallback.2: server-side revocation push -> expiry-based (bounded)."""

from __future__ import annotations

from services.content.device_client import body_of
from services.content.testbed import Testbed, expect_detection

from mitigate.chaos import Run, experiment

DAY = 86_400.0


@experiment("content.fallback.2", failure_modes=["content.fm.1.5"])
async def push_falls_back_to_expiry(run: Run) -> None:
    """The push provider is down when a bundle is revoked: the failure is recorded per
    device, the revoke still succeeds, and a device that never gets the push stops
    playing at its licence's expiry at the latest (30 days)."""
    bed = await Testbed.open(run)
    await bed.add_course("c1", b"lesson" * 300)
    device = bed.device("tab")
    await device.register()
    await device.request_bundle("c1")
    await device.download("c1@tab")
    await run.steady("plays", await device.try_play("c1@tab") == "ok")
    device.go_offline()

    bed.push.down = True
    response = await bed.http.post("/ops/bundles/c1@tab/revoke")
    run.expect(
        "revoke answered 200 despite the push failure", response.status_code == 200, response.text
    )
    run.expect("the answer says expiry-bounded", body_of(response).get("push") == "expiry-bounded")
    await run.expect_event("fallback.used", target="revocation.push", within=10)
    run.expect("push failure recorded for the device", bed.side.push_failures.get("tab") == 1)
    run.expect("the provider sent nothing", bed.push.sent == [])

    license_id = device.store["c1@tab"].license_id
    status = (await bed.http.get(f"/v1/licenses/{license_id}/status")).json()
    await run.wait(float(status["expiresAt"]) - run.clock.wall() - 1)
    run.expect(
        "never pushed, offline: plays until 30 d - 1 s", await device.try_play("c1@tab") == "ok"
    )
    await run.wait(2)
    refused = await device.try_play("c1@tab")
    run.expect("stops at the licence expiry at the latest", refused.endswith("EXPIRED"), refused)
    expect_detection(run, "content.fm.1.5")
