"""comms.fm.19: a dispatch names a template the running version lacks; it fails closed."""

from __future__ import annotations

from services.comms.harness import alerts, open_world

from mitigate.chaos import Run, experiment

REMINDER = '{"body": "Reminder: your appointment is on $when. Reply STOP to opt out."}'


@experiment("comms.fm.19", failure_modes=["comms.fm.19"])
async def template_not_found(run: Run) -> None:
    """The deployed version lacks the SMS appointment-reminder template (deploy mismatch):
    the dispatch is held, nothing reaches the provider, template_not_found alerts and an
    internal-ops notice is written; once the template is deployed the dispatch is sent
    exactly once, with its text; other templates are unaffected."""
    world = await open_world(run, without=("sms/appointment-reminder",))
    sms = world.fakes.sms_primary
    other = await world.dispatch(
        category="alerts",
        channel="sms",
        template="critical-alert",
        to="+15550001",
        vars={"topic": "your results"},
    )
    await world.settle([other["id"]])
    await run.steady("other templates send", (await world.view(other["id"]))["state"] == "sent")

    held = await world.dispatch(
        category="reminders",
        channel="sms",
        template="appointment-reminder",
        to="+15550002",
        vars={"when": "Monday 10:00"},
    )
    await world.settle([held["id"]], limit=30)
    view = await world.view(held["id"])
    run.expect("the dispatch is held", view["state"] == "held", str(view))
    run.expect("nothing reached the provider", sms.delivered(held["id"]) == 0)
    run.expect(
        "template_not_found alert raised", bool(alerts(run, "comms.rule.template-not-found"))
    )
    if alerts(run, "comms.rule.template-not-found"):
        run.detected("comms.rule.template-not-found")
    notices = (await world.ops.get("/ops/notices")).json()
    run.expect(
        "an internal-ops notice names the dispatch",
        any(
            n["subject"] == held["id"] and n["code"] == "COMMS.TEMPLATE.NOT_FOUND" for n in notices
        ),
        str(notices),
    )

    await run.wait(600)  # the deploy that ships the template comes later
    run.expect("still held, not dropped", (await world.view(held["id"]))["state"] == "held")
    world.deploy("sms", "appointment-reminder", REMINDER)
    await world.settle([held["id"]], limit=30)
    await world.ops.post("/ops/dispatches/replay", json={"state": "held"})  # an eager operator
    await run.wait(30)
    view = await world.view(held["id"])
    run.expect("sent after the deploy", view["state"] == "sent", str(view))
    texts = [m["body"] for m in sms.messages if m["reference"] == held["id"]]
    run.expect("sent exactly once", len(texts) == 1, str(texts))
    run.mitigated("fail closed: held, then sent once after the deploy")
    run.expect(
        "with the template's text, never blank",
        texts == ["Reminder: your appointment is on Monday 10:00. Reply STOP to opt out."],
        str(texts),
    )
