"""content.fm.1.3: a learner device detects a tampered bundle."""

from __future__ import annotations

from services.content.device_client import DeviceOfflineError, body_of
from services.content.testbed import Testbed, alerts, expect_detection, tamper_settings

from mitigate.chaos import Run, experiment


def flip(content: bytes) -> bytes:
    data = bytearray(content)
    data[len(data) // 3] ^= 0x5A
    return bytes(data)


@experiment("content.fm.1.3", failure_modes=["content.fm.1.3"])
async def tampered_bundle(run: Run) -> None:
    """Flip bytes in a mounted bundle on the device: the check fails before playback and
    unmounts it; the report goes out on the next sync (surviving a failed sync and a
    re-send, processed once); the server flags bundle and device and offers a fresh
    download; at the catalog's repeat threshold the device's trust is revoked (admin
    alert) and the device is refused with a clear code."""
    bed = await Testbed.open(run)
    threshold, _ = tamper_settings(run.catalog)
    source = b"course seven, chapter one. " * 100
    await bed.add_course("c7", source)
    device = bed.device("tab-9")
    await device.register()
    await device.request_bundle("c7")
    await device.download("c7@tab-9")
    await run.steady("the bundle plays", await device.try_play("c7@tab-9") == "ok")
    bundle_id = "c7@tab-9"

    for round_ in range(1, threshold + 1):
        plays_before = device.plays
        device.store[bundle_id].content = flip(device.store[bundle_id].content)  # the fault
        outcome = await device.try_play(bundle_id)
        run.expect(f"tamper {round_}: refused before any playback", outcome != "ok", outcome)
        run.expect(f"tamper {round_}: nothing played", device.plays == plays_before)
        run.expect(f"tamper {round_}: unmounted", bundle_id not in device.store)
        run.expect(f"tamper {round_}: report queued", len(device.pending_reports) == 1)
        report = dict(device.pending_reports[0])

        if round_ == 1:  # the first sync fails: the report must survive it
            device.go_offline()
            try:
                await device.sync()
                failed = False
            except DeviceOfflineError:
                failed = True
            run.expect(
                "a failed sync keeps the report queued", failed and len(device.pending_reports) == 1
            )
            await device.go_online()

        processed = bed.side.tamper_reports_processed
        if round_ < threshold:
            deltas = await device.sync()
            run.expect(
                f"tamper {round_}: the report is processed once",
                bed.side.tamper_reports_processed == processed + 1,
            )
            device.pending_reports.append(report)  # the answer was lost: sent again
            await device.sync()
            run.require(
                f"tamper {round_}: the re-sent report is not counted again",
                bed.side.trust.tampers("tab-9") == round_,
                f"{bed.side.trust.tampers('tab-9')} counted",
            )
            run.expect(
                f"tamper {round_}: sync offers a fresh download",
                any(d["kind"] == "bundle" and d.get("fresh") for d in deltas),
                str(deltas),
            )
            run.expect(f"tamper {round_}: bundle flagged", bed.side.bundles[bundle_id].flagged)
            await device.request_bundle("c7")
            fresh = await run.call("fresh download", device.download, bundle_id)
            run.require(f"tamper {round_}: fresh download arrives", fresh.ok, str(fresh.error))
            run.expect(
                f"tamper {round_}: the fresh download plays",
                await device.try_play(bundle_id) == "ok",
            )
            run.expect(
                f"tamper {round_}: device still trusted below the threshold",
                bed.side.trust.is_trusted("tab-9"),
            )
        else:
            response = await device.call(
                "POST",
                "/v1/devices/tab-9/sync",
                json={"cursor": device.cursor, "tamper_reports": [report]},
            )
            body = body_of(response)
            run.expect(
                f"at {threshold} tampers the device is refused with a clear code",
                response.status_code == 403
                and body.get("code") == "MITIGATE.INTEGRITY.DEVICE_REVOKED",
                response.text,
            )

    await run.expect_event("integrity.device_revoked", within=60)
    run.expect("admin alert raised", bool(alerts(run, "content.rule.device-revoked")))
    again = await device.request_bundle("c7")
    run.expect("a revoked device gets no new bundle", again.status_code == 403, again.text)
    restored = await bed.http.post("/ops/devices/tab-9/restore")
    run.expect("an operator can restore the device", restored.status_code == 200)
    expect_detection(run, "content.fm.1.3")
