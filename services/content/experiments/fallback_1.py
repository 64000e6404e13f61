"""content.fallback.1: real-time bundle create -> queue (learner sees "preparing")."""

from __future__ import annotations

from services.content.device_client import body_of
from services.content.domain.bundles import PREPARING
from services.content.testbed import Testbed, expect_detection

from mitigate.chaos import Outage, Run, experiment


@experiment("content.fallback.1", failure_modes=["content.fm.1.2"])
async def realtime_falls_back_to_queue(run: Run) -> None:
    """The KMS breaker is open: the request is answered 202 "preparing" instead of an
    error, one job per bundle however often the learner retries, the job survives a
    worker restart and completes after recovery."""
    bed = await Testbed.open(run)
    await bed.add_course("c1", b"lesson " * 300)
    crowd = [bed.device(f"crowd-{i}") for i in range(10)]
    learner = bed.device("learner")
    for device in (*crowd, learner):
        await device.register()
    halt = bed.start_worker()

    async with run.fault(Outage("kms.encrypt"), duration=5 * 60):
        for device in crowd:
            await device.request_bundle("c1")
        await run.expect_event("breaker.opened", target="kms.encrypt", within=30)
        answers = [await learner.request_bundle("c1") for _ in range(3)]  # the learner retries
        run.expect(
            "answered 202 preparing, not an error",
            all(r.status_code == 202 and body_of(r).get("message") == PREPARING for r in answers),
            str([r.status_code for r in answers]),
        )
        await run.expect_event("fallback.used", target="bundle.realtime", within=30)
        mine = [j for j in (await bed.side.jobs()).values() if j.request.device_id == "learner"]
        run.expect("one queued job per bundle", len(mine) == 1, str(len(mine)))
        await halt()  # the worker restarts
        await run.wait(30)
        run.expect(
            "the job survived the worker restart", "bundle:c1@learner" in await bed.side.jobs()
        )
        bed.start_worker()

    async def ready() -> bool:
        return (await learner.status("c1@learner")).get("status") == "ready"

    done = await run.recovered("the job completes after recovery", ready, within=15 * 60, every=10)
    run.require("a bundle to download", done is not None)
    await learner.download("c1@learner")
    run.expect("and plays", await learner.try_play("c1@learner") == "ok")
    expect_detection(run, "content.fm.1.2")
