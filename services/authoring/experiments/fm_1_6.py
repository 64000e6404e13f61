"""authoring.fm.1.6: a large SCORM import cannot exhaust memory.

(a) A 2 GB zip (a generated stream) is rejected as soon as it passes 500 MiB, having read
at most the cap and one chunk: 413 "rejected — too large", nothing kept. (b) A tenant
whose cap is raised to 1 GiB imports 501 MiB. (c) A 400 MiB zip imports with the worker's
peak RSS far under its size, progress events all along. (d) An import that reads the
archive whole (a planted regression) is killed by the worker's 256 MiB limit, failed
with that reason and its zip kept; re-driven once fixed, it imports."""

from __future__ import annotations

from mitigate.chaos import Run, experiment
from services.authoring.harness import TENANT, alerts, import_done, open_world, upload
from services.authoring.scorm.zipstream import CHUNK, ZipStream

MIB = 1 << 20
CAP = 500 * MIB


@experiment("authoring.fm.1.6", failure_modes=["authoring.fm.1.6"])
async def large_scorm_import(run: Run) -> None:
    world = await open_world(run, real_io=True, import_caps={"initech": 1 << 30})
    importer = world.service.importer
    assert importer is not None
    small = await upload(world, ZipStream(3 * MIB))
    assert small is not None
    done = await import_done(world, small.json()["id"])
    await run.steady("a small SCORM zip imports", done["state"] == "imported")

    # (a) 2 GB: cut off at the cap, nothing written.
    huge = ZipStream(2 << 30, stop_after=CAP + 8 * CHUNK)
    answer = await upload(world, huge)
    status = None if answer is None else answer.status_code
    run.expect("2 GB rejected", status == 413, str(status))
    message = "" if answer is None else str(answer.json().get("message"))
    run.expect('the importer sees "rejected — too large"', "rejected — too large" in message)
    run.expect("read at most the cap and one chunk", huge.pulled <= CAP + CHUNK, str(huge.pulled))
    left = sorted(p.name for p in importer.spool.iterdir())
    run.expect("the rejected upload left nothing", left == [], str(left))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.import-too-large")))

    # (b) A tenant with a raised cap imports above 500 MiB.
    raised = await upload(world, ZipStream(CAP + MIB), tenant="initech")
    ok_b = raised is not None and raised.status_code == 202
    run.expect("above 500 MiB accepted under the tenant's cap", ok_b)
    if ok_b and raised is not None:
        body = await import_done(world, raised.json()["id"], "initech")
        run.expect("and imported", body["state"] == "imported", str(body))

    # (c) 400 MiB: imported in bounded memory, with progress.
    big = await upload(world, ZipStream(400 * MIB))
    ok_c = big is not None and big.status_code == 202
    run.expect("400 MiB accepted", ok_c)
    if ok_c and big is not None:
        job = big.json()["id"]
        body = await import_done(world, job)
        run.expect("400 MiB imported", body["state"] == "imported", str(body))
        peak = int(body.get("peakRss") or 0)
        run.expect("peak RSS under 64 MiB", 0 < peak < 64 * MIB, f"{peak / MIB:.1f} MiB")
        progress = [
            e for e in run.recorder.named("import.progress") if getattr(e, "job", "") == job
        ]
        run.expect("progress events throughout", len(progress) >= 50, str(len(progress)))
        keys = await world.service.runtime.objects.list(f"imports/{TENANT}/{job}/")
        run.expect("its files are in the object store", len(keys) == 8, str(len(keys)))

    # (d) The archive read whole: killed by the limit, failed with a reason, not lost.
    importer.whole = True
    bad = await upload(world, ZipStream(300 * MIB))
    assert bad is not None and bad.status_code == 202, bad
    job = bad.json()["id"]
    body = await import_done(world, job)
    importer.whole = False
    run.expect("killed by the memory limit", body["state"] == "failed", str(body))
    run.expect("reported with its reason", "memory limit" in str(body.get("reason")))
    run.expect("not retried (same zip, same end)", body.get("attempts") == 1, str(body))
    run.expect("its zip kept", body.get("zipKept") is True)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.import-worker-killed")))
    again = await world.http.post(f"/v1/imports/{job}/retry")
    run.expect("re-driven", again.status_code == 200, again.text)
    body = await import_done(world, job)
    run.expect("imported once fixed", body["state"] == "imported", str(body))
