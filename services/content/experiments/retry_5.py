"""content.retry.5: bundle create retry schedule (max 5, exp cap 60s, budget 10 min)."""

from __future__ import annotations

import itertools

from services.content.testbed import Testbed, expect_detection

from mitigate.chaos import Failure, Outage, Run, experiment


@experiment("content.retry.5", failure_modes=["content.fm.1.2"])
async def bundle_create_schedule(run: Run) -> None:
    """bundle.create fails 5x then succeeds: exponential delays, none above 60 s, the
    6th attempt succeeds. KMS down 12 min: after the retries run out the job is parked
    (not dropped) and re-driven when the KMS is back; jobs = built + parked throughout."""
    bed = await Testbed.open(run)
    await bed.add_course("c1", b"lesson " * 300)
    a, b = bed.device("a"), bed.device("b")
    await a.register()
    await b.register()
    bed.start_worker()

    async with run.fault(Failure("kms.encrypt", times=6)):  # 1 real-time try + 5 job attempts
        response = await a.request_bundle("c1")
        run.require("queued, learner keeps preparing", response.status_code == 202, response.text)

        async def a_ready() -> bool:
            return (await a.status("c1@a")).get("status") == "ready"

        await run.recovered("built on the 6th job attempt", a_ready, within=10 * 60, every=5)
    delays = [e.delay for e in run.recorder.named("retry.scheduled", "bundle.create")]
    run.expect("5 retries", len(delays) == 5, str(delays))
    run.expect(
        "delays exponential",
        len(delays) >= 2
        and all(later >= earlier for earlier, later in itertools.pairwise(delays))
        and delays[1] >= 2 * delays[0],
        str(delays),
    )
    run.expect("none above 60 s", max(delays, default=0.0) <= 60.001, str(delays))
    run.expect("one job run, not parked", (await bed.side.jobs())["bundle:c1@a"].runs == 1)

    parked_seen = False
    async with run.fault(Outage("kms.encrypt"), duration=12 * 60):
        response = await b.request_bundle("c1")
        run.require("queued again", response.status_code == 202, response.text)
        for _ in range(12 * 6):
            await run.wait(10)
            job = (await bed.side.jobs())["bundle:c1@b"]
            parked_seen = parked_seen or job.state == "parked"
            counts = await bed.side.job_counts()
            run.expect("jobs = built + queued + parked", sum(counts.values()) == 2, str(counts))
    run.expect("the job was parked, not dropped", parked_seen)
    await run.expect_event("retry.exhausted", target="bundle.create", within=12 * 60)

    async def b_ready() -> bool:
        return (await b.status("c1@b")).get("status") == "ready"

    await run.recovered("re-driven once the KMS is back", b_ready, within=10 * 60, every=10)
    b_job = (await bed.side.jobs())["bundle:c1@b"].job_id
    redriven = [e for e in run.recorder.named("queue.unparked") if e.job_id == b_job]
    run.expect("re-driven at least once", len(redriven) >= 1, str(len(redriven)))
    expect_detection(run, "content.fm.1.2")
