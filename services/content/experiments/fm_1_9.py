"""content.fm.1.9: a signed URL expires before the download completes."""

from __future__ import annotations

import asyncio
import hashlib
import os

from services.content.testbed import Testbed, alerts, expect_detection

from mitigate.chaos import Failure, Run, experiment

FLEET = 60  # slow clients at once: more than the rule's 50 renewals in 5 min


@experiment("content.fm.1.9", failure_modes=["content.fm.1.9"])
async def url_expires_mid_download(run: Run) -> None:
    """The link throttles the transfer and drops it at 60 %; the client resumes 11 min
    later: the CDN answers 403 expired, the client renews the URL (the first renewal
    call fails once and is retried) and resumes with a Range request, not from byte 0.
    On the real clock the TCP proxy throttles and cuts, and a clock-skew fault moves the
    content side's date 11 min ahead while the transfer runs."""
    bed = await Testbed.open(run)
    source = os.urandom(256 * 1024)
    await bed.add_course("big", source)
    device = bed.device("slow")
    await device.register()
    await device.request_bundle("big")
    meta = await device.status("big@slow")
    size = len((bed.side.objects_root / bed.side.bundles["big@slow"].object_key).read_bytes())
    await run.steady("bundle ready", meta["status"] == "ready")

    # The slow link outlives the 10 min TTL: cut at 60 %, resumed 11 min later.
    await bed.slow_link_cut(run, size, fraction=0.6, clients=1)
    async with run.fault(Failure("url.renew", times=1, error=ConnectionError)):
        outcome = await run.call("download", device.download, "big@slow")
    bed.link_clear()
    run.expect("download finished with no user action", outcome.ok, str(outcome.error))
    run.expect(
        "the resume was refused 403 with the expired code",
        "MITIGATE.URL.EXPIRED" in bed.cdn.refusals,
        str(bed.cdn.refusals),
    )
    await run.expect_event("retry.scheduled", target="url.renew", within=15 * 60)
    result = device.last_download
    run.expect("the URL was renewed once", result.renewals == 1, str(result))
    run.expect("resumed with a Range request", result.resumes >= 1, str(result))
    run.expect("never restarted from byte 0", result.restarts == 0, str(result))
    run.expect(
        "bytes transferred <= size + one chunk",
        result.bytes_received <= size + 64 * 1024,
        f"{result.bytes_received} for {size}",
    )
    bundle = device.store["big@slow"]
    run.expect(
        "final SHA-256 equals the origin digest",
        hashlib.sha256(bundle.content).digest() == bed.side.bundles["big@slow"].sha256,
    )
    run.expect("and it plays", await device.try_play("big@slow") == "ok")

    # A fleet on slow links: every transfer is cut and stalls past the TTL. One renewal
    # is normal; more than 50 in 5 min means the TTL is too short for the network, and
    # the url-renewals rule says so. Every download still completes, none from byte 0.
    fleet = [bed.device(f"slow-{i:02}") for i in range(FLEET)]
    for member in fleet:
        await member.register()
        await member.request_bundle("big")
    for member in fleet:
        status = await member.status(f"big@{member.device_id}")
        run.expect(f"fleet bundle ready ({member.device_id})", status["status"] == "ready")
    await bed.slow_link_cut(run, size, fraction=0.6, clients=FLEET)
    quiet_before = not alerts(run, "content.rule.url-renewals")
    done = await asyncio.gather(
        *(m.download(f"big@{m.device_id}") for m in fleet), return_exceptions=True
    )
    bed.link_clear()
    failed = [d for d in done if isinstance(d, BaseException)]
    run.expect("every fleet download finished", not failed, str(failed[:3]))
    renewed = sum(m.last_download.renewals for m in fleet if m.last_download)
    run.expect(f"{FLEET} renewals, one per client", renewed == FLEET, str(renewed))
    restarts = sum(m.last_download.restarts for m in fleet if m.last_download)
    run.expect("no fleet client restarted from byte 0", restarts == 0, str(restarts))
    fired = alerts(run, "content.rule.url-renewals")
    run.expect(
        "detected: the renewals rule fires for the fleet, not for one client",
        quiet_before and bool(fired),
        f"before the fleet: {not quiet_before}; after: {len(fired)}",
    )
    expect_detection(run, "content.fm.1.9")
