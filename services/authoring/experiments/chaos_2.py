"""authoring.chaos.2: a failure injected at each publish saga step, one publish per step,
and one publish whose compensation itself fails twice.

Step k fails for good: the steps before it are compensated in reverse, step k's partial
effect is undone, the steps after it never start; afterwards the catalog, the bundles and
the draft are as they were before the publish (draft approved, editable). A failing
compensation is retried until it succeeds."""

from __future__ import annotations

from mitigate.chaos import Failure, Run, experiment
from services.authoring.harness import alerts, bundle_of, open_world


@experiment("authoring.chaos.2", failure_modes=["authoring.fm.1.1"])
async def fail_each_saga_step(run: Run) -> None:
    world = await open_world(run)
    world.asset("a.png")
    content = world.service.fakes.content
    catalog = world.service.fakes.catalog
    assert content is not None and catalog is not None
    ok = await world.approved_draft(["a.png"])
    await world.publish(ok)
    await run.steady("publish works", await world.settle(ok) == "published")

    # publish.step is called once per step: register (1st), bundle (2nd), done (3rd).
    for index, step in enumerate(("register", "bundle", "done")):
        draft = await world.approved_draft(["a.png"])
        before_bundles = content.requests
        async with run.fault(Failure("publish.step", after=index)):
            response = await world.publish(draft)
            state = await world.settle(draft)
        publish_id = response.json()["publishId"]
        bundle = bundle_of(publish_id)
        saga = await world.saga_state(publish_id)
        run.expect(f"({step}) compensated", saga == "compensated", saga)
        run.expect(f"({step}) draft approved", state == "approved", state)
        registered = await world.catalog_status(bundle)
        run.expect(
            f"({step}) catalog as before (nothing live)",
            registered in (None, "withdrawn"),
            str(registered),
        )
        run.expect(f"({step}) no bundle", world.bundles().get(bundle, {}).get("state") != "ready")
        if step == "register":
            run.expect("(register) later steps never start", content.requests == before_bundles)
    run.expect("alert raised", bool(alerts(run, "authoring.rule.publish-compensated")))

    # A compensation that fails twice is retried until it takes effect.
    draft = await world.approved_draft(["a.png"])
    content.refuse = 422
    async with run.fault(Failure("publish.compensate", times=2)):
        response = await world.publish(draft)
        state = await world.settle(draft)
    content.refuse = 0
    publish_id = response.json()["publishId"]
    saga = await world.saga_state(publish_id)
    retried = run.recorder.named("retry.scheduled", "publish.compensate")
    run.expect("the failing compensation was retried", len(retried) >= 2, str(len(retried)))
    run.expect("then compensated", saga == "compensated", saga)
    run.expect("draft approved", state == "approved", state)
    registered = await world.catalog_status(bundle_of(publish_id))
    run.expect("catalog withdrawn", registered == "withdrawn", str(registered))
