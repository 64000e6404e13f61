"""theme.fm.2.5: two publishes of one theme race to the flip. Publish A of revision 2 is
slow to upload; meanwhile revision 3 is saved and published B and commits first. A's
flip meets the unique index and rolls back: 409 PUBLISH_CONFLICT, A's object deleted, one
active publication at every instant (revision 1 until B commits, then 3)."""

from __future__ import annotations

import asyncio

from services.theme.harness import alerts, open_world, sample_document

import mitigate.chaos
from mitigate.chaos import Run, experiment

RULE = "theme.rule.publish-conflict"


@experiment("theme.fm.2.5", failure_modes=["theme.fm.2.5"])
async def publish_race(run: Run) -> None:
    world = await open_world(run)
    http = world.http
    first = await http.put("/v1/themes/race", json=sample_document(name="One"))
    one = await http.post("/v1/themes/race/publish")
    await run.steady("revision 1 is published", one.status_code == 200)
    two = await http.put(
        "/v1/themes/race", json=sample_document(name="Two"), headers={"if-match": '"1"'}
    )
    run.require("revision 2 saved", two.status_code == 200 and first.status_code == 200)

    # Only the upload that starts inside this window is slow (5 s, under the 10 s cut).
    await run.inject(mitigate.chaos.Latency(target="bundle.upload", delay=5.0), duration=1.0)
    slow = asyncio.ensure_future(http.post("/v1/themes/race/publish"))
    await run.wait(2.0)
    active = await world.publications("race")
    run.expect(
        "while A uploads, revision 1 is still the one active publication",
        [r for r in active if r[1] == 1] == [(1, 1)],
        str(active),
    )
    three = await http.put(
        "/v1/themes/race", json=sample_document(name="Three"), headers={"if-match": '"2"'}
    )
    run.require("revision 3 saved", three.status_code == 200, three.text)
    won = await http.post("/v1/themes/race/publish")
    run.require("B publishes revision 3", won.status_code == 200, won.text)
    lost = await slow
    body = lost.json()
    run.expect(
        "A gets 409 PUBLISH_CONFLICT",
        lost.status_code == 409 and body.get("code") == "PUBLISH_CONFLICT",
        f"{lost.status_code} {body}",
    )
    active = [r for r in await world.publications("race") if r[1] == 1]
    run.expect("exactly one active publication: revision 3", active == [(3, 1)], str(active))
    objects = await world.theme.runtime.objects.list("bundles/")
    current = await http.get("/v1/themes/race/publication")
    kept = {r["objectKey"] for r in [current.json()]} if current.status_code == 200 else set()
    conflicts = run.recorder.named("theme.publish_conflict")
    reaped = {getattr(e, "reaped", "") for e in conflicts}
    run.expect(
        "A's uploaded object was deleted",
        len(conflicts) == 1 and "" not in reaped and not reaped & set(objects),
        f"{reaped} {objects}",
    )
    run.expect("the active bundle's object is there", kept <= set(objects) and bool(kept))
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised", len(fired) >= 1, str(len(fired)))
    if fired:
        run.detected(RULE)
