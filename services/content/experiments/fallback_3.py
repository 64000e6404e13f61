"""content.fallback.3: CDN -> origin direct (signed URL)."""

from __future__ import annotations

import hashlib

from services.content.testbed import Testbed, expect_detection

from mitigate.chaos import Run, experiment


@experiment("content.fallback.3", failure_modes=["content.fm.1.10"])
async def cdn_down_origin_direct(run: Run) -> None:
    """The CDN answers 5xx (virtual time) or is unreachable (the real clock: the TCP
    proxy in front of it is down): the client receives a signed origin URL and downloads
    directly, the digest matches; after the CDN heals, downloads go through it again."""
    bed = await Testbed.open(run)
    await bed.add_course("c1", b"course " * 1000)
    devices = [bed.device(f"tab-{i}") for i in range(3)]
    for device in devices:
        await device.register()
        await device.request_bundle("c1")
    await devices[0].download("c1@tab-0")
    await run.steady("via the CDN", bed.cdn.fills == 1)

    await bed.cdn_down(run)  # 503s in virtual time; the link down on the real clock
    origin_urls = 0
    outcome = await run.call("download", devices[1].download, "c1@tab-1")
    run.expect("downloaded while the CDN is down", outcome.ok, str(outcome.error))
    await run.expect_event("fallback.used", target="cdn.get", within=120)
    bundle = devices[1].store.get("c1@tab-1")
    run.expect(
        "digest matches",
        bundle is not None
        and hashlib.sha256(bundle.content).digest() == bed.side.bundles["c1@tab-1"].sha256,
    )
    origin_urls = bed.side.origin_urls
    run.expect("origin load counted", origin_urls >= 1, str(origin_urls))
    run.expect("and it plays", await devices[1].try_play("c1@tab-1") == "ok")

    await bed.cdn_up(run)
    fills = bed.cdn.fills
    await devices[2].download("c1@tab-2")
    run.expect("after the CDN heals, downloads go through it again", bed.cdn.fills == fills + 1)
    run.expect("no new origin URL", bed.side.origin_urls == origin_urls)
    expect_detection(run, "content.fm.1.10")
