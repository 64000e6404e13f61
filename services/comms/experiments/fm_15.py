"""comms.fm.15: an erasure misses the dispatch log; the reconciliation finds and replays."""

from __future__ import annotations

from services.comms.harness import alerts, open_world

from mitigate.chaos import Drop, Run, experiment

RULE = "comms.rule.erasure-residue"
HOUR = 3600.0


@experiment("comms.fm.15", failure_modes=["comms.fm.15"])
async def gdpr_erasure_partial(run: Run) -> None:
    """Two patients have dispatches, a session thread and read receipts. Erasing the first
    loses its delivery to the dispatch-log consumer. The next hourly reconciliation finds
    the residue in the dispatch log, alerts and replays the erasure; the run after finds
    nothing; the other patient's data is untouched."""
    world = await open_world(run)
    erasures = world.comms.erasures
    assert erasures is not None
    headers = {"x-tenant-id": "clinic-a"}
    subjects = {"ada": ["ada", "+15550111"], "bob": ["bob", "+15550222"]}
    for patient, (pid, phone) in subjects.items():
        sent = await world.dispatch(
            category="reminders",
            channel="sms",
            template="appointment-reminder",
            to=phone,
            vars={"when": "Monday 10:00"},
        )
        await world.settle([sent["id"]])
        await world.http.post(
            "/v1/threads/t-" + patient + "/reads", json={"participant": pid}, headers=headers
        )
    world.fakes.video.down.add("a")
    world.fakes.video.down.add("b")
    for pid, _ in subjects.values():  # failed sessions leave a thread per patient
        await world.http.post("/v1/sessions", json={"patient": pid}, headers=headers)
    before_bob = await erasures.residue("clinic-a", subjects["bob"])
    await run.steady("both patients have data in every store", len(before_bob) == 5)

    async with run.fault(Drop("erasure.dispatch-log", times=1)):
        done = await world.ops.post(
            "/ops/erasures", json={"tenant": "clinic-a", "identifiers": subjects["ada"]}
        )
        run.expect("the erasure was accepted", done.status_code == 202, done.text)
        left = await erasures.residue("clinic-a", subjects["ada"])
        run.expect("the dispatch log missed it", set(left) == {"dispatch-log"}, str(left))
        await run.wait(HOUR + 60)  # the hourly reconciliation runs
    fired = alerts(run, RULE)
    run.expect("the reconciliation found the residue and alerted", bool(fired), str(fired))
    if fired:
        run.detected(RULE)
    left = await erasures.residue("clinic-a", subjects["ada"])
    run.expect("the replay erased it", not left, str(left))
    await run.wait(HOUR)
    report = (await world.ops.post("/ops/erasures/reconcile")).json()
    run.expect("the following run finds nothing", report == [], str(report))
    run.expect(
        "the other patient is untouched",
        await erasures.residue("clinic-a", subjects["bob"]) == before_bob,
    )
    run.mitigated("erasure replayed by the reconciliation job")
