"""comms.fm.4: video pool a is unreachable; failed sessions fall back to threads, rooms
move to pool b."""

from __future__ import annotations

from services.comms.harness import alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.sessions-failed"


@experiment("comms.fm.4", failure_modes=["comms.fm.4"])
async def virtual_room_unreachable(run: Run) -> None:
    """Pool a goes down; a patient starts a session every 20 s. The first sessions fail:
    each one gives its patient exactly one message thread; the page comes on the 6th
    failure within 5 min, not the 5th; pool a's breaker then sends room creation to pool
    b and the later sessions open there."""
    world = await open_world(run)
    video = world.fakes.video
    headers = {"x-tenant-id": "clinic-a"}

    async def start(patient: str) -> dict[str, object]:
        answer = await world.http.post("/v1/sessions", json={"patient": patient}, headers=headers)
        return dict(answer.json())

    first = await start("p-0")
    await run.steady("sessions open on pool a", first.get("pool") == "a")

    label = "video pool a unreachable"
    run.timeline.window(run.clock.now(), None, label)
    video.down.add("a")
    results = []
    for n in range(1, 13):
        results.append(await start(f"p-{n}"))
        if n == 5:
            run.expect("no page after the 5th failure", not alerts(run, RULE))
        if n == 6:
            run.expect("paged on the 6th failure", bool(alerts(run, RULE)))
            if alerts(run, RULE):
                run.detected(RULE)
        await run.wait(20)
    run.timeline.close_window(label, run.clock.now())

    failed = [r for r in results if r.get("state") == "failed"]
    run.expect(
        "the first six sessions failed", len(failed) == 6, str([r.get("state") for r in results])
    )
    threads_ok = True
    for n, r in enumerate(results[: len(failed)], start=1):
        threads = (await world.http.get(f"/v1/patients/p-{n}/threads", headers=headers)).json()
        threads_ok &= len(threads) == 1 and threads[0]["id"] == r.get("fallbackThread")
    run.expect(
        "each failed session gave its patient exactly one thread", threads_ok and bool(failed)
    )
    later = results[len(failed) :]
    run.expect(
        "later sessions open on pool b",
        bool(later) and all(r.get("state") == "live" and r.get("pool") == "b" for r in later),
        str(later[:2]),
    )
    run.mitigated("fallback threads; room creation failed over to pool b")
