"""comms.fm.11: a template bug copies patient data into push payloads; none leaves."""

from __future__ import annotations

import json
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
SCAN_RULE = "comms.rule.log-pii-found"
SECRET = {"patient_name": "Ada Lovelace", "message_text": "your biopsy results are in"}


@experiment("comms.fm.11", failure_modes=["comms.fm.11"])
async def push_phi_leak(run: Run) -> None:
    """A deploy ships a new-message push template that copies the patient's name and the
    message text into the payload. The pre-send assertion stops the first payload (the
    provider never sees it), the category halts on push so later dispatches are not even
    rendered, an incident notice is raised; other categories keep sending. After the
    template is fixed and the category resumed, the blocked dispatches are resent once.
    The bug also wrote a log line with the patient's name and phone: the periodic PII scan
    of the service's logs finds it on its next run, alerts, and redacts it in place."""
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

    # The same bug also logged the payload: a log line with the patient's name and phone.
    log = world.comms.log_scan
    assert log is not None
    planted = {"event": "push.debug", "patientName": "Ada Lovelace", "note": "call +15550123"}
    with (log.folder / "comms.jsonl").open("a") as out:
        out.write(json.dumps(planted) + "\n")
    await run.wait(world.comms.settings.log_scan_every + 60)  # the scanner's next run
    found = alerts(run, SCAN_RULE)
    run.expect("the log scanner found the planted line and alerted", bool(found), str(found))
    if found:
        run.detected(SCAN_RULE)
    text = (log.folder / "comms.jsonl").read_text()
    run.expect(
        "the line was redacted in place",
        "Ada Lovelace" not in text and "+15550123" not in text and "push.debug" in text,
    )
    notices = (await world.ops.get("/ops/notices")).json()
    run.expect(
        "an internal-ops notice names the log line",
        any(n["code"] == "COMMS.LOG.PII" for n in notices),
        str(notices),
    )
    run.mitigated("periodic PII scan of the service's logs")
