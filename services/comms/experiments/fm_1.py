"""comms.fm.1: the primary SMS gateway fails; reminders fail over, each sent once."""

from __future__ import annotations

from collections import Counter

from services.comms.harness import World, alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.sms-error-rate"


async def _reminders(world: World, count: int, tag: str) -> list[str]:
    ids = []
    for n in range(count):
        sent = await world.dispatch(
            category="reminders",
            channel="sms",
            template="appointment-reminder",
            to=f"+1555{tag}{n:04d}",
            vars={"when": "Monday 10:00"},
        )
        ids.append(sent["id"])
    return ids


@experiment("comms.fm.1", failure_modes=["comms.fm.1"])
async def sms_provider_outage(run: Run) -> None:
    """First 19 % of the primary's requests fail (evenly spread): no alert. Then for
    10 minutes the primary refuses half of the reminders (503 every time) and, for one in
    ten, takes the message but answers too late (a timeout: outcome unknown). The error
    rate rule fires; refused reminders move to the secondary after retries with backoff;
    timed-out ones are looked up at the primary and not sent again; every reminder is
    delivered exactly once across both gateways."""
    world = await open_world(run)
    primary, secondary = world.fakes.sms_primary, world.fakes.sms_secondary

    primary.flaky_rate = 0.19
    calm = await _reminders(world, 150, "1")
    await world.settle(calm)
    run.expect(
        "at 19 % the error-rate rule stays quiet",
        not alerts(run, RULE),
        f"primary requests {primary.requests}, refused {primary.refused}",
    )
    run.expect(
        "the flaky phase is absorbed by retries on the primary",
        all(primary.delivered(i) == 1 for i in calm) and not secondary.messages,
    )
    primary.flaky_rate = 0.0
    await run.wait(6 * 60)  # the 5-minute window empties

    order: dict[str, int] = {}

    def fault(reference: str) -> str | None:
        n = order.setdefault(reference, len(order))
        if n % 10 == 1:
            return "hang"
        return "5xx" if n % 2 == 0 else None

    primary.fault_for = fault
    start = run.clock.now()
    run.timeline.window(start, None, "primary SMS gateway: 5xx on half, timeouts on 1 in 10")
    outage = await _reminders(world, 150, "2")
    await world.settle(outage, limit=10 * 60)
    primary.fault_for = lambda reference: None
    run.timeline.close_window(
        "primary SMS gateway: 5xx on half, timeouts on 1 in 10", run.clock.now()
    )
    fired = alerts(run, RULE)
    run.expect("the error-rate rule fired above 20 %", bool(fired), str([a.value for a in fired]))
    if fired:
        run.detected("comms.rule.sms-error-rate")

    states = Counter((await world.states(outage)).values())
    run.expect("every reminder was sent", states == Counter({"sent": len(outage)}), str(states))
    totals = {i: primary.delivered(i) + secondary.delivered(i) for i in outage}
    doubles = [i for i, n in totals.items() if n > 1]
    missing = [i for i, n in totals.items() if n == 0]
    run.expect("no reminder sent twice across gateways", not doubles, f"{len(doubles)} doubled")
    run.expect("no reminder lost", not missing, f"{len(missing)} missing")
    run.mitigated("failover to the secondary gateway; status query on timeout")
    hung = [i for i in outage if order.get(i, -1) % 10 == 1]
    run.expect(
        "timed-out sends were looked up at the primary, not re-sent elsewhere",
        bool(hung) and all(secondary.delivered(i) == 0 and primary.delivered(i) == 1 for i in hung),
    )
    run.expect(
        "refused reminders failed over to the secondary",
        sum(1 for i in outage if secondary.delivered(i)) >= 60,
        f"{len(secondary.messages)} via the secondary",
    )
    scheduled = run.recorder.named("retry.scheduled", "sms.primary")
    delays = [float(getattr(e, "delay", 0.0)) for e in scheduled if e.at >= start]
    run.expect(
        "with backoff between attempts on the primary",
        bool(delays) and min(delays) >= 1.0 and max(delays) > min(delays),
        str(sorted(set(delays))),
    )
