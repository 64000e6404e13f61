"""content.fm.1.2: KMS trouble (or a device without a key) defers bundle encryption."""

from __future__ import annotations

import errno

from services.content.device_client import body_of
from services.content.domain.bundles import PREPARING, StorageFullError
from services.content.testbed import Testbed, alerts, expect_detection

from mitigate.chaos import Failure, Outage, Run, experiment

LEARNERS = 10


@experiment("content.fm.1.2", failure_modes=["content.fm.1.2"])
async def kms_down_bundles_queued(run: Run) -> None:
    """The worker's disk is full: storage errors are retried, then the bundle is queued
    and built once there is space. The KMS is down for 12 min (longer than the 10 min
    bundle-create budget) while learners ask for offline bundles, and one device has no
    key: the KMS breaker opens
    (ops alert), every learner is answered "preparing offline content" (never an error),
    queued jobs retry on the bundle-create schedule, park, and finish once the KMS is
    back; the keyless job goes to the dead letters with its reason, without retries;
    built + queued + parked + dead always equals what was requested."""
    bed = await Testbed.open(run)
    await bed.add_course("c1", b"offline lesson " * 400)
    warm = bed.device("warm")
    learners = [bed.device(f"learner-{i}") for i in range(LEARNERS)]
    keyless = bed.device("keyless", with_key=False)
    for device in (warm, *learners, keyless):
        await device.register()
    bed.start_worker()
    first = await warm.request_bundle("c1")
    await run.steady("in steady state a bundle is built at once", first.status_code == 200)

    disk = bed.device("disk")
    await disk.register()
    full = StorageFullError(errno.ENOSPC, "no space left on device")
    async with run.fault(Failure("objects.put", times=8, error=full)):  # (c) worker disk full
        response = await disk.request_bundle("c1")
        run.expect(
            "disk full: answered 202 preparing, not an error",
            response.status_code == 202 and body_of(response).get("message") == PREPARING,
            response.text,
        )
        storage_errors = [
            e
            for e in run.recorder.named("attempt.failed", "objects.put")
            if isinstance(e.error, StorageFullError)
        ]
        run.expect(
            "storage error events recorded", len(storage_errors) >= 6, str(len(storage_errors))
        )

        async def disk_ready() -> bool:
            return (await disk.status("c1@disk")).get("status") == "ready"

        await run.recovered("built once space is back", disk_ready, within=5 * 60, every=5)

    views: list[tuple[int, dict]] = []
    async with run.fault(Outage("kms.encrypt"), duration=12 * 60):
        for device in learners:
            response = await device.request_bundle("c1")
            views.append((response.status_code, body_of(response)))
            await run.wait(1)
        response = await keyless.request_bundle("c1")
        views.append((response.status_code, body_of(response)))
        run.require(
            "every request answered 202 with a queued job, never an error",
            all(code == 202 and view.get("message") == PREPARING for code, view in views),
            str([code for code, _ in views]),
        )
        await run.expect_event("breaker.opened", target="kms.encrypt", within=30)
        run.expect("ops alert raised", bool(alerts(run, "content.rule.kms-breaker-open")))
        for _ in range(10):  # learners poll their status during the outage
            await run.wait(60)
            statuses = [await d.status(f"c1@{d.device_id}") for d in learners]
            run.expect(
                "learners see preparing offline content",
                all(s.get("message") == PREPARING for s in statuses),
            )
            counts = await bed.side.job_counts()
            run.expect(
                "built + queued + parked + dead = requested",
                sum(counts.values()) == LEARNERS + 2,
                str(counts),
            )
        job = (await bed.side.jobs())["bundle:c1@keyless"]
        run.expect("the keyless job is dead-lettered", job.state == "dead", job.state)
        run.expect("with its reason", "CONTENT.DEVICE.KEY_MISSING" in job.reason, job.reason)
        run.expect("and was never retried", job.runs == 1, str(job.runs))
        shown = await keyless.status("c1@keyless")
        run.expect(
            "the keyless learner sees a message, not a raw error", shown["status"] == "failed"
        )
        run.expect(
            "some jobs parked, none dropped",
            (await bed.side.job_counts())["parked"] > 0,
            str(await bed.side.job_counts()),
        )

    delays = [e.delay for e in run.recorder.named("retry.scheduled", "bundle.create")]
    run.expect("jobs retried on the bundle-create schedule", bool(delays))
    run.expect(
        "exponential delays, none above 60 s",
        max(delays, default=99) <= 60.001,
        str(sorted(delays)[-4:]),
    )

    async def all_ready() -> bool:
        statuses = [await d.status(f"c1@{d.device_id}") for d in learners]
        return all(s["status"] == "ready" for s in statuses)

    await run.recovered(
        "every queued bundle built once the KMS is back", all_ready, within=15 * 60, every=10
    )
    counts = await bed.side.job_counts()
    run.expect(
        "nothing lost: every queued bundle built (learners + the disk-full one), 1 dead",
        counts["done"] == LEARNERS + 1 and counts["dead"] == 1,
        str(counts),
    )
    for device in learners[:2]:
        await device.download(f"c1@{device.device_id}")
        run.expect(
            "the queued bundle plays", await device.try_play(f"c1@{device.device_id}") == "ok"
        )
    expect_detection(run, "content.fm.1.2")
