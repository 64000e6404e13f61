"""comms.fm.2: push delivery feedback stops; stale dispatches become unknown, late
receipts still land."""

from __future__ import annotations

from collections import Counter

from services.comms.harness import World, alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.push-feedback-age"
MINUTE = 60.0


async def _pushes(world: World, count: int, tag: str) -> list[str]:
    ids = []
    for n in range(count):
        sent = await world.dispatch(
            category="reminders",
            channel="push",
            template="appointment-reminder",
            to=f"tok-{tag}{n}",
            vars={"when": "Monday 10:00"},
        )
        ids.append(sent["id"])
    return ids


async def _states(world: World, ids: list[str]) -> Counter[str]:
    return Counter((await world.states(ids)).values())


@experiment("comms.fm.2", failure_modes=["comms.fm.2"])
async def push_feedback_stall(run: Run) -> None:
    """(a) The feed stalls on its subscription: no alert at 9 min; past 10 min the rule
    fires and the forced refresh (a new subscription) brings the receipts: delivered.
    (b) The provider's feedback pauses: past 10 min the dispatches are marked unknown
    (not delivered, not left sent); when it resumes the late receipts move them to
    delivered."""
    world = await open_world(run)
    push = world.fakes.push
    calm = await _pushes(world, 3, "c")
    await run.wait(2 * MINUTE)
    await run.steady("receipts settle dispatches", await _states(world, calm) == {"delivered": 3})

    label = "push feedback stalled on its subscription"
    run.timeline.window(run.clock.now(), None, label)
    push.stall()
    stalled = await _pushes(world, 5, "s")
    await run.wait(9 * MINUTE)
    run.expect("no alert at 9 min", not alerts(run, RULE))
    run.expect("still waiting at 9 min", await _states(world, stalled) == {"sent": 5})
    await run.wait(2 * MINUTE)
    run.expect("the feedback-age rule fired past 10 min", len(alerts(run, RULE)) == 1)
    if alerts(run, RULE):
        run.detected(RULE)
    run.expect(
        "the forced refresh brought the receipts",
        await _states(world, stalled) == {"delivered": 5},
        str(await _states(world, stalled)),
    )
    run.timeline.close_window(label, run.clock.now())
    push.resume()
    await run.wait(2 * MINUTE)

    label = "push provider feedback paused"
    run.timeline.window(run.clock.now(), None, label)
    push.pause()
    paused = await _pushes(world, 5, "p")
    await run.wait(12 * MINUTE)
    run.expect("the rule fired again for the pause", len(alerts(run, RULE)) == 2)
    states = await _states(world, paused)
    run.expect("stale dispatches marked unknown", states == {"unknown": 5}, str(states))
    run.mitigated("feed refreshed; stale dispatches marked unknown")
    push.resume()
    run.timeline.close_window(label, run.clock.now())
    await run.wait(2 * MINUTE)
    states = await _states(world, paused)
    run.expect("late receipts move unknown to delivered", states == {"delivered": 5}, str(states))
    every = await _states(world, [*calm, *stalled, *paused])
    run.expect("every dispatch has a final state", every == {"delivered": 13}, str(every))
