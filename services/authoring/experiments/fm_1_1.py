"""authoring.fm.1.1: the publish saga fails after cataloging, before bundling.

(a) the content service refuses the bundle (permanent, 422) after the catalog registered
the CourseVersion: no retry, compensation at once; (b) the saga worker stops mid-step
(bundling hangs) and a second worker takes the saga over from its row in the store and
finishes it; (c) bundling hangs: the 15 min saga timeout compensates. After each failure:
no CourseVersion without a bundle, the saga terminal, the draft back in approved with
its reason, an author alert naming ``runbooks/authoring/publish-saga.md``.
"""

from __future__ import annotations

from mitigate.chaos import Failure, Latency, Run, experiment
from services.authoring.harness import alerts, bundle_of, open_world
from services.authoring.workers import running

RUNBOOK = "runbooks/authoring/publish-saga.md"


@experiment("authoring.fm.1.1", failure_modes=["authoring.fm.1.1"])
async def saga_half_failure(run: Run) -> None:
    world = await open_world(run)
    world.asset("a.png")
    content = world.service.fakes.content
    assert content is not None
    ok = await world.approved_draft(["a.png"])
    await world.publish(ok)
    await run.steady("publish works", await world.settle(ok) == "published")

    async def rolled_back(label: str, draft: str, publish_id: str) -> None:
        bundle = bundle_of(publish_id)
        saga = await world.saga_state(publish_id)
        body = await world.draft(draft)
        run.expect(f"({label}) saga terminal: compensated", saga == "compensated", saga)
        run.expect(f"({label}) draft approved", body["state"] == "approved", body["state"])
        run.expect(f"({label}) with its reason", bool(body.get("error")), str(body))
        catalog = await world.catalog_status(bundle)
        run.expect(f"({label}) no CourseVersion without a bundle", catalog in (None, "withdrawn"))
        run.expect(f"({label}) no bundle", world.bundles().get(bundle, {}).get("state") != "ready")
        mine = [a["runbook"] for a in await world.author_alerts() if a["subject"] == draft]
        run.expect(f"({label}) author alert names the runbook", mine == [RUNBOOK], str(mine))

    # (a0) transient: the content service fails twice, then answers: retried, published.
    a0 = await world.approved_draft(["a.png"])
    async with run.fault(Failure("content.bundle", times=2)):
        await world.publish(a0)
        state = await world.settle(a0)
    run.expect("(a0) a transient failure is retried: published", state == "published", state)

    # (d) a dependency hangs on every call: each attempt is cut by its timeout, the step's
    # retries run out and the saga compensates well before the 15 min timeout.
    for target in ("catalog.register", "content.bundle"):
        d = await world.approved_draft(["a.png"])
        t1 = run.clock.now()
        async with run.fault(Latency(target, delay=3 * 3600)):
            response = await world.publish(d)
            await world.settle(d, limit=30 * 60)
        took = run.clock.now() - t1
        run.expect(f"(d) {target} hangs: compensated before 15 min", took < 10 * 60, f"{took}s")
        await rolled_back(f"d {target}", d, response.json()["publishId"])

    # (a) bundling refused for good after the CourseVersion was registered.
    a = await world.approved_draft(["a.png"])
    content.refuse = 422
    t0 = run.clock.now()
    response = await world.publish(a)
    await world.settle(a)
    content.refuse = 0
    run.expect("(a) compensated at once, no retry", run.clock.now() - t0 < 30)
    run.expect("(a) alert raised", bool(alerts(run, "authoring.rule.publish-compensated")))
    await rolled_back("a", a, response.json()["publishId"])

    # (b) the worker stops while bundling hangs; a second worker resumes from the row.
    b = await world.approved_draft(["a.png"])
    first = world.service.publisher.worker
    async with run.fault(Latency("content.bundle", delay=20, times=1)):
        response = await world.publish(b)
        await run.wait(10)  # registered, bundling in flight
        await first.aclose()
    second = world.service.publisher.__class__(
        world.service.runtime,
        world.service.settings,
        drafts=world.service.drafts,
        media=world.service.publisher.media,
        catalog=world.service.publisher.catalog,
        content=world.service.publisher.content,
    )
    world.service.publisher = second
    async with running(world.service):
        state = await world.settle(b)
        saga = await world.saga_state(response.json()["publishId"])
        run.expect("(b) the second worker finishes the saga", saga == "completed", saga)
        run.expect("(b) published", state == "published", state)
        bundle = bundle_of(response.json()["publishId"])
        registered = await world.catalog_status(bundle)
        run.expect("(b) registered once, with its bundle", registered == "pending", str(registered))
        run.expect("(b) one bundle", world.bundles().get(bundle, {}).get("state") == "ready")

        # (c) the bundling step hangs (past its attempts): the 15 min saga timeout compensates.
        c = await world.approved_draft(["a.png"])
        t2 = run.clock.now()
        slow = Latency("catalog.register", delay=4)
        hang = Latency("publish.step", delay=3 * 3600, after=1)
        async with run.fault(slow), run.fault(hang):
            response = await world.publish(c)
            await world.settle(c, limit=30 * 60)
        ended = run.clock.now() - t2
        run.expect("(c) ended by the 15 min timeout", 15 * 60 <= ended <= 15 * 60 + 30, f"{ended}s")
        run.expect("(c) timeout alert raised", bool(alerts(run, "authoring.rule.saga-timeout")))
        await rolled_back("c", c, response.json()["publishId"])
