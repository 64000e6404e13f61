"""authoring.fm.1.5: a publish is refused while a block references deleted media.

Through the HTTP API: (a) an asset a block references is deleted: the publish is refused
with 409, naming the block; the draft never enters publishing; (b) the media service hangs:
the check fails closed inside its 5 s budget (503 unverifiable), never passes unchecked.
The detection rule ``authoring.rule.publish-refused`` raises its alert."""

from __future__ import annotations

from mitigate.chaos import Latency, Run, experiment
from services.authoring.harness import alerts, open_world


@experiment("authoring.fm.1.5", failure_modes=["authoring.fm.1.5"])
async def missing_media_refused(run: Run) -> None:
    world = await open_world(run)
    world.asset("a.png")
    world.asset("b.png")
    ok = await world.approved_draft(["a.png"])
    await world.publish(ok)
    await run.steady("publish works", await world.settle(ok) == "published")

    draft = await world.approved_draft(["a.png", "b.png"])
    del world.media.assets["b.png"]  # deleted after the author referenced it
    response = await world.publish(draft)
    body = response.json()
    after = await world.draft(draft)
    missing_block = after["blocks"][1]["id"]
    run.expect("refused: 409", response.status_code == 409, response.text)
    run.expect("stable code", body.get("code") == "AUTHORING.MEDIA.MISSING", str(body))
    run.expect("names the block and asset", missing_block in body.get("message", ""), str(body))
    run.expect("draft never enters publishing", after["state"] == "approved", after["state"])
    content = world.service.fakes.content
    bundles = content.ready() if content is not None else []
    run.expect("no bundle for the refused draft", len(bundles) == 1, str(bundles))
    run.expect("alert raised", bool(alerts(run, "authoring.rule.publish-refused")))

    # (b) the media service hangs: fails closed inside the 5 s budget.
    world.asset("b.png")
    start = run.clock.now()
    async with run.fault(Latency("media.check", delay=30)):
        slow = await world.publish(draft)
    took = run.clock.now() - start
    code = slow.json().get("code")
    run.expect("fails closed: 503", slow.status_code == 503, slow.text)
    run.expect("unverifiable code", code == "AUTHORING.MEDIA.UNVERIFIABLE", str(code))
    run.expect("inside the 5 s budget", took <= 5.5, f"{took:.2f}s")
    state = (await world.draft(draft))["state"]
    run.expect("draft unchanged", state == "approved", state)
