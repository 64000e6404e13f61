"""authoring.fallback.4: a publish step that fails beyond its retries is compensated and
the draft returns to an editable state.

The content service refuses every bundle (after the catalog registered the version): the
bundling step retries 5 times, then the saga compensates in reverse: no bundle, the
catalog registration withdrawn, the draft back in ``approved`` (the catalog's choice,
editable) with the reason, an author alert naming the runbook. The draft can be edited and
published again."""

from __future__ import annotations

from mitigate.chaos import Failure, Run, experiment
from services.authoring.harness import alerts, bundle_of, events_since, open_world

RUNBOOK = "runbooks/authoring/publish-saga.md"


@experiment("authoring.fallback.4")
async def failed_step_compensates(run: Run) -> None:
    world = await open_world(run)
    world.asset("a.png")
    ok = await world.approved_draft(["a.png"])
    await world.publish(ok)
    await run.steady("publish works", await world.settle(ok) == "published")

    draft = await world.approved_draft(["a.png"])
    t0 = run.clock.now()
    async with run.fault(Failure("content.bundle")):
        response = await world.publish(draft)
        publish_id = response.json()["publishId"]
        state = await world.settle(draft)
    bundle = bundle_of(publish_id)
    saga = await world.saga_state(publish_id)
    retries = events_since(run, "retry.scheduled", "publish.step", t0)
    run.expect("only after the step's 5 retries", len(retries) == 5, str(len(retries)))
    run.expect("the saga compensated", saga == "compensated", saga)
    run.expect("the draft is back in approved", state == "approved", state)
    body = await world.draft(draft)
    run.expect("with the failure reason", bool(body.get("error")), str(body))
    run.expect("catalog registration withdrawn", await world.catalog_status(bundle) == "withdrawn")
    run.expect("no bundle left", world.bundles().get(bundle, {}).get("state") != "ready")
    mine = [a for a in await world.author_alerts() if a["subject"] == draft]
    run.expect("author alert names the runbook", [a["runbook"] for a in mine] == [RUNBOOK])
    run.expect("alert raised", bool(alerts(run, "authoring.rule.publish-compensated")))

    edit = await world.http.post(f"/v1/drafts/{draft}/blocks", json={"kind": "text"})
    run.expect("the draft is editable again", edit.status_code == 201, edit.text)
    (await world.http.post(f"/v1/drafts/{draft}/approve")).raise_for_status()
    await world.publish(draft)
    run.expect(
        "and publishes once the content service is back", await world.settle(draft) == "published"
    )
