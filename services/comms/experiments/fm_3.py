"""comms.fm.3: one tenant's reminder emails bounce at 6 %: throttled, then disabled for
that tenant only; 5 % elsewhere changes nothing. Real SMTP to a fake MTA."""

from __future__ import annotations

import itertools
from collections import Counter

from services.comms.harness import World, alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.email-bounce-ratio"
A, B = "clinic-a", "clinic-b"


def _address(tenant: str, n: int) -> str:
    # clinic-a: 3 in every 50 bounce (6 %); clinic-b: the last of every 20 (never above 5 %)
    bad = n % 50 in (47, 48, 49) if tenant == A else n % 20 == 19
    return f"{'nobody' if bad else 'patient'}-{n}@{tenant}.test"


async def _email(world: World, tenant: str, category: str, to: str) -> str:
    sent = await world.dispatch(
        tenant,
        category=category,
        channel="email",
        template="appointment-reminder",
        to=to,
        vars={"when": "Monday 10:00"},
    )
    return str(sent["id"])


@experiment("comms.fm.3", failure_modes=["comms.fm.3"])
async def email_bounce_spike(run: Run) -> None:
    """Every 10 s one reminder email per tenant (and an alert email for clinic-a every
    50 s), over a real SMTP session each. clinic-a's reminders bounce at 6 %, clinic-b's
    at exactly 5 %. The bounce-ratio rule fires for clinic-a's reminders only; the
    category is throttled (one email per 30 s) and then disabled for clinic-a; its later
    reminders are suppressed, visible, and sent after an operator enables it again;
    clinic-b and clinic-a's alerts are never limited."""
    world = await open_world(run)
    mta = world.fakes.mta
    assert mta is not None
    first = await _email(world, A, "alerts", "patient-0@clinic-a.test")
    await world.settle([first])
    await run.steady("email delivers over SMTP", (await world.view(first, A))["state"] == "sent")

    label = "clinic-a reminder addresses bounce at 6 %"
    start = run.clock.now()
    run.timeline.window(start, None, label)
    ids: dict[str, list[str]] = {A: [], B: [], "alerts": []}
    for n in range(160):
        ids[A].append(await _email(world, A, "reminders", _address(A, n)))
        ids[B].append(await _email(world, B, "reminders", _address(B, n)))
        if n % 5 == 0:
            ids["alerts"].append(await _email(world, A, "alerts", f"patient-{n}@clinic-a.test"))
        await run.wait(10)
    await world.settle(ids[A], limit=3600)
    run.timeline.close_window(label, run.clock.now())

    fired = alerts(run, RULE)
    targets = {a.target for a in fired}
    run.expect(
        "the bounce-ratio rule paged for clinic-a's reminders only",
        targets == {"email.clinic-a.reminders"},
        str([(a.target, round(a.value, 4)) for a in fired]),
    )
    if fired:
        run.detected(RULE)
    changes = [
        (e.at, getattr(e, "state", ""))
        for e in run.recorder.named("comms.email_category_changed", "email.clinic-a.reminders")
    ]
    run.expect(
        "throttled first, then disabled",
        [s for _, s in changes] == ["throttled", "disabled"],
        str(changes),
    )
    if len(changes) == 2:
        sends = sorted(  # when each send was let through, between throttle and disable
            float(getattr(e, "began", 0.0))
            for e in run.recorder.named("email.outcome", "email.clinic-a.reminders")
            if changes[0][0] < e.at <= changes[1][0]
        )
        gaps = [b - a for a, b in itertools.pairwise(sends)]
        run.expect(
            "while throttled, one email per 30 s",
            len(sends) >= 10 and min(gaps, default=0) >= 30,
            f"{len(sends)} sends, gaps {sorted(set(gaps))[:5]}",
        )
    control = (await world.ops.get(f"/ops/email-controls/{A}/reminders")).json()
    run.expect("disabled for clinic-a", control["state"] == "disabled", str(control))
    states_a = Counter((await world.states(ids[A], A)).values())
    run.expect(
        "later reminders suppressed, none dropped",
        states_a["suppressed"] > 0
        and sum(states_a.values()) == len(ids[A])
        and "queued" not in states_a,
        str(states_a),
    )
    await world.settle(ids[B], tenant=B, limit=600)
    states_b = Counter((await world.states(ids[B], B)).values())
    run.expect(
        "clinic-b at exactly 5 % is not limited",
        states_b == Counter({"sent": 152, "bounced": 8}),
        str(states_b),
    )
    other = (await world.ops.get(f"/ops/email-controls/{B}/reminders")).json()
    run.expect("clinic-b's reminders stay open", other["state"] == "open", str(other))
    await world.settle(ids["alerts"], limit=600)
    states_alerts = Counter((await world.states(ids["alerts"], A)).values())
    run.expect(
        "clinic-a's alerts are unaffected",
        states_alerts == Counter({"sent": len(ids["alerts"])}),
        str(states_alerts),
    )
    run.mitigated("category throttled, then disabled for that tenant")

    delivered_before = len(mta.delivered)
    enabled = await world.ops.delete(f"/ops/email-controls/{A}/reminders")
    replay = await world.ops.post("/ops/dispatches/replay", json={"state": "suppressed"})
    run.expect("an operator enables the category", enabled.status_code == 200, enabled.text)
    await world.settle(ids[A], limit=3600)
    states_a = Counter((await world.states(ids[A], A)).values())
    run.expect(
        "suppressed reminders are sent after the re-enable",
        "suppressed" not in states_a and "queued" not in states_a,
        f"{states_a}; replay {replay.text}",
    )
    run.expect("they reached the mail server", len(mta.delivered) > delivered_before)
