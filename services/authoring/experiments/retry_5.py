"""authoring.retry.5: the SCORM import step schedule, 3 retries at 5 s, 30 s, 2 min
inside a 10 min budget.

The step fails 3 times, then succeeds: retried after 5 s, 30 s and 2 min, imported on the
4th attempt. Always failing: the import is marked failed after 3 retries, well inside
10 min, with the reason in its status; the uploaded zip is kept and, once the fault is
gone, the import is re-driven and imports."""

from __future__ import annotations

from mitigate.chaos import Failure, Run, experiment
from services.authoring.harness import alerts, events_since, import_done, open_world, upload
from services.authoring.scorm.zipstream import ZipStream

MIB = 1 << 20


@experiment("authoring.retry.5")
async def import_step_schedule(run: Run) -> None:
    world = await open_world(run, real_io=True)

    async def start() -> str:
        answer = await upload(world, ZipStream(2 * MIB))
        assert answer is not None and answer.status_code == 202, answer
        return str(answer.json()["id"])

    body = await import_done(world, await start())
    await run.steady("imports work", body["state"] == "imported")

    t0 = run.clock.now()
    async with run.fault(Failure("import.step", times=3, error=OSError("store unavailable"))):
        body = await import_done(world, await start())
    delays = [e.delay for e in events_since(run, "retry.scheduled", "import.step", t0)]
    run.expect("retries after 5 s, 30 s, 2 min", delays == [5.0, 30.0, 120.0], str(delays))
    run.expect("imported on the 4th attempt", body["state"] == "imported", str(body))
    tries = len(events_since(run, "attempt.started", "import.step", t0))
    run.expect("4 attempts", tries == 4, str(tries))

    t1 = run.clock.now()
    async with run.fault(Failure("import.step", error=OSError("store unavailable"))):
        job = await start()
        body = await import_done(world, job)
    failed = events_since(run, "import.failed", "import.step", t1)
    took = (failed[0].at - t1) if failed else None
    run.expect("marked failed", body["state"] == "failed", str(body))
    tries = len(events_since(run, "attempt.started", "import.step", t1))
    run.expect("after 3 retries", tries == 4, str(tries))
    run.expect("well inside 10 min", took is not None and took < 600, str(took))
    run.expect("the status shows the reason", "store unavailable" in str(body.get("reason")))
    run.expect("the uploaded zip is kept", body.get("zipKept") is True)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.import-failed")))
    again = await world.http.post(f"/v1/imports/{job}/retry")
    run.expect("re-driven", again.status_code == 200, again.text)
    body = await import_done(world, job)
    run.expect("and imported", body["state"] == "imported", str(body))
