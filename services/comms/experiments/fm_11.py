"""comms.fm.11: a template bug copies patient data into push payloads; none leaves."""

from __future__ import annotations

from collections import Counter

from services.comms.harness import alerts, open_world

from mitigate.chaos import Run, experiment

BUGGY = (
    '{"notification": {"title": "New message", "body": "You have a new message."},'
    ' "data": {"category": "$category", "dispatchId": "$dispatch_id",'
    ' "patientName": "$patient_name", "messageText": "$message_text"}}'
)
FIXED = (
    '{"notification": {"title": "New message", "body": "You have a new message."},'
    ' "data": {"category": "$category", "dispatchId": "$dispatch_id"}}'
)
SECRET = {"patient_name": "Ada Lovelace", "message_text": "your biopsy results are in"}


@experiment("comms.fm.11", failure_modes=["comms.fm.11"])
async def push_phi_leak(run: Run) -> None:
    """A deploy ships a new-message push template that copies the patient's name and the
    message text into the payload. The pre-send assertion stops the first payload (the
    provider never sees it), the category halts on push so later dispatches are not even
    rendered, an incident notice is raised; other categories keep sending. After the
    template is fixed and the category resumed, the blocked dispatches are resent once."""
    world = await open_world(run)
    push = world.fakes.push
    ok = await world.dispatch(
        category="messages", channel="push", template="new-message", to="tok-0", vars=SECRET
    )
    await world.settle([ok["id"]])
    await run.steady("push sends", (await world.view(ok["id"]))["state"] == "sent")

    label = "template bug: patient data in the push payload"
    run.timeline.window(run.clock.now(), None, label)
    world.deploy("push", "new-message", BUGGY)
    ids = []
    for n in range(5):
        sent = await world.dispatch(
            category="messages",
            channel="push",
            template="new-message",
            to=f"tok-{n}",
            vars=SECRET,
        )
        ids.append(sent["id"])
    other = await world.dispatch(
        category="reminders",
        channel="push",
        template="appointment-reminder",
        to="tok-9",
        vars={"when": "Monday 10:00"},
    )
    await world.settle([*ids, other["id"]], limit=60)
    leaked = [m for m in push.received if "Ada Lovelace" in str(m) or "biopsy" in str(m)]
    run.expect("no protected data reached the provider", not leaked, f"{len(leaked)} payloads")
    run.expect("the pre-send assertion alerted", bool(alerts(run, "comms.rule.push-pii-blocked")))
    if alerts(run, "comms.rule.push-pii-blocked"):
        run.detected("comms.rule.push-pii-blocked")
    states = Counter((await world.states(ids)).values())
    run.expect(
        "every payload was stopped (blocked, or held by the halted category)",
        states["blocked"] >= 1 and states["blocked"] + states["halted"] == len(ids),
        str(states),
    )
    later = []
    for n in range(3):
        sent = await world.dispatch(
            category="messages",
            channel="push",
            template="new-message",
            to=f"tok-l{n}",
            vars=SECRET,
        )
        later.append(sent["id"])
    await world.settle(later, limit=60)
    states = Counter((await world.states(later)).values())
    run.expect(
        "once halted, later dispatches of the category are not rendered at all",
        states == Counter({"halted": len(later)}),
        str(states),
    )
    ids += later
    run.mitigated("pre-send PII assertion; category halted on push")
    halts = (await world.ops.get("/ops/halts")).json()
    run.expect(
        "the category is halted on push",
        [(h["channel"], h["category"]) for h in halts] == [("push", "messages")],
        str(halts),
    )
    notices = (await world.ops.get("/ops/notices")).json()
    run.expect(
        "an incident notice was raised",
        any(n["code"] == "COMMS.PUSH.PII_BLOCKED" for n in notices),
        str(notices),
    )
    run.expect("other categories keep sending", (await world.view(other["id"]))["state"] == "sent")

    world.deploy("push", "new-message", FIXED)  # the template is rotated
    run.timeline.close_window(label, run.clock.now())
    await world.ops.delete("/ops/halts/push/messages")
    for state in ("blocked", "halted"):
        await world.ops.post("/ops/dispatches/replay", json={"state": state})
    await world.settle(ids, limit=60)
    states = Counter((await world.states(ids)).values())
    run.expect(
        "the kept dispatches were resent", states == Counter({"sent": len(ids)}), str(states)
    )
    tokens = Counter(m["token"] for m in push.received if m["data"].get("dispatchId") in ids)
    run.expect("each once", sorted(tokens.values()) == [1] * len(ids), str(tokens))
    leaked = [m for m in push.received if "Ada Lovelace" in str(m) or "biopsy" in str(m)]
    run.expect("and without protected data", not leaked)
