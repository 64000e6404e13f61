"""comms.fm.20: writes to the recording store are denied; ingest retries, parks, keeps
the source."""

from __future__ import annotations

from services.comms.harness import alerts, open_world

from mitigate.chaos import Failure, Run, experiment

RULE = "comms.rule.recording-failed"
HEADERS = {"x-tenant-id": "clinic-a"}


@experiment("comms.fm.20", failure_modes=["comms.fm.20"])
async def recording_ingest(run: Run) -> None:
    """(a) The first three writes to the recording store are denied: recording.failed
    alerts, the ingest retries with backoff and succeeds once permission returns; the
    source is deleted only after the copy. (b) Writes are denied throughout: the job is
    parked (dead) with the provider's source kept; after the fix a replay ingests it."""
    world = await open_world(run)
    video = world.fakes.video

    async def session(patient: str) -> str:
        started = await world.http.post("/v1/sessions", json={"patient": patient}, headers=HEADERS)
        session_id = str(started.json()["id"])
        await world.http.post(f"/v1/sessions/{session_id}/end", headers=HEADERS)
        return session_id

    async def job(session_id: str) -> dict[str, object]:
        jobs = (await world.ops.get("/ops/recordings")).json()
        return next((j for j in jobs if j["session"] == session_id), {})

    calm = await session("p-0")
    await run.wait(30)
    await run.steady("a recording is ingested", (await job(calm)).get("state") == "ingested")

    async with run.fault(Failure("objects.disk.write", error=PermissionError, times=3)):
        brief = await session("p-1")
        await run.wait(15 * 60)
    found = await job(brief)
    run.expect("recording.failed alerted", bool(alerts(run, RULE)))
    if alerts(run, RULE):
        run.detected(RULE)
    run.expect(
        "retries with backoff succeeded once permission returned",
        found.get("state") == "ingested" and found.get("attempts") == 4,
        str(found),
    )
    delays = [
        float(getattr(e, "delay", 0))
        for e in run.recorder.named("retry.scheduled", "recording.ingest")
    ]
    run.expect("with backoff between attempts", delays[:3] == [10.0, 30.0, 60.0], str(delays))
    stored = await world.comms.runtime.objects.exists(f"recordings/clinic-a/{brief}.webm")
    run.expect(
        "the copy is stored and the source deleted",
        stored and "clinic-a-p-1" not in video.recordings,
    )

    async with run.fault(Failure("objects.disk.write", error=PermissionError)):
        lasting = await session("p-2")
        await run.wait(15 * 60)
        found = await job(lasting)
        run.expect("denied throughout: the job is parked", found.get("state") == "dead", str(found))
        run.expect("the source recording is kept", "clinic-a-p-2" in video.recordings)
    run.mitigated("retries with backoff; parked with the source kept")
    await world.ops.post(f"/ops/recordings/{lasting}/replay")
    await run.wait(30)
    found = await job(lasting)
    run.expect("a replay after the fix ingests it", found.get("state") == "ingested", str(found))
