"""comms.fm.14: one patient's rooms keep failing all day; one thread, not hundreds."""

from __future__ import annotations

from services.comms.harness import alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.fallback-storm"
DAY = 86_400.0


@experiment("comms.fm.14", failure_modes=["comms.fm.14"])
async def fallback_loop(run: Run) -> None:
    """The patient's room fails on every pool; the patient's app retries every 2 s for
    10 minutes. The fallback-storm rule fires; the patient has one thread that day, every
    later failure posted to it; another patient is unaffected; the next day the first
    failure opens a fresh thread (the breaker resets)."""
    world = await open_world(run)
    headers = {"x-tenant-id": "clinic-a"}
    video = world.fakes.video

    async def start(patient: str) -> dict[str, object]:
        answer = await world.http.post("/v1/sessions", json={"patient": patient}, headers=headers)
        return dict(answer.json())

    await run.wait(8 * 3600 - run.clock.wall() % DAY)  # 08:00 UTC
    ok = await start("calm")
    await run.steady("sessions open", ok.get("state") == "live")

    label = "patient p-loop's rooms fail on every pool"
    run.timeline.window(run.clock.now(), None, label)
    video.failing_rooms.add("clinic-a-p-loop")
    attempts = 0
    while attempts < 300:
        await start("p-loop")
        attempts += 1
        await run.wait(2)
    fired = alerts(run, RULE)
    run.expect("the fallback-storm rule fired", bool(fired), str([a.value for a in fired]))
    if fired:
        run.detected(RULE)
    threads = (await world.http.get("/v1/patients/p-loop/threads", headers=headers)).json()
    run.expect("one thread for the patient that day", len(threads) == 1, f"{len(threads)} threads")
    run.expect(
        "every failure reached the patient in it",
        bool(threads) and threads[0]["messages"] == attempts,
        str(threads[:1]),
    )
    run.mitigated("per-patient breaker: later failures reuse the day's thread")

    await run.wait(DAY - (run.clock.wall() % DAY) + 9 * 3600)  # 09:00 UTC the next day
    await start("p-loop")
    threads = (await world.http.get("/v1/patients/p-loop/threads", headers=headers)).json()
    run.expect(
        "the next day the breaker resets: a fresh thread",
        len(threads) == 2 and threads[1]["day"] == threads[0]["day"] + 1,
        str(threads),
    )
    run.timeline.close_window(label, run.clock.now())
