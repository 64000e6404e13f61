"""theme.fm.2.22: the event bus refuses publishes for a resource limit (the stream at its
max_msgs with discard-new, the seed's Pub/Sub quota). Publishes of themes keep working;
the refusals are classified as resource exhausted and page; the relay backs off and
retries; once the limit is raised the backlog drains, each event delivered once, in
order per theme."""

from __future__ import annotations

import asyncio
import json

from services.theme.harness import alerts, open_world, sample_document
from services.theme.outbox_events import PUBLISHED

import mitigate
from mitigate.chaos import Failure, Run, experiment

RULE = "theme.rule.bus-exhausted"
FULL = 300.0


@experiment("theme.fm.2.22", failure_modes=["theme.fm.2.22"])
async def bus_quota(run: Run) -> None:
    world = await open_world(run, workers=True, events=True)
    http = world.http
    rt = world.theme.runtime
    seen: list[mitigate.Message] = []

    async def collect(message: mitigate.Message) -> None:
        seen.append(message)

    reader = mitigate.Consumer(
        rt.bus,
        mitigate.ConsumerSpec("experiment-reader", rt.settings.subject(PUBLISHED)),
        collect,
        clock=run.clock,
    )
    task = asyncio.create_task(reader.run())
    run.rollback(task.cancel)
    run.rollback(reader.stop)

    await http.put("/v1/themes/a", json=sample_document())
    await http.post("/v1/themes/a/publish")
    await run.wait(5.0)
    await run.steady("a publish announces itself", len(seen) == 1)

    refused = mitigate.PublishRejectedError(
        "bus.publish", "stream at max_msgs (discard new), err_code 10077", exhausted=True
    )
    t0 = run.clock.now()
    published: list[int] = []
    seen_alert = False
    async with run.fault(Failure("bus.publish", error=refused), duration=FULL):
        for n in range(5):
            theme = "b" if n % 2 else "c"
            document = sample_document(name=f"Brand {n}")
            current = await http.get(f"/v1/themes/{theme}")
            headers = {"if-match": current.headers["etag"]} if current.status_code == 200 else {}
            await http.put(f"/v1/themes/{theme}", json=document, headers=headers)
            published.append((await http.post(f"/v1/themes/{theme}/publish")).status_code)
            await run.wait(20.0)
            if not seen_alert and alerts(run, RULE):
                seen_alert = True
                run.detected(RULE)
        during = len(seen)
    fired = alerts(run, RULE)
    run.expect(f"{RULE} raised alert.raised (page)", len(fired) >= 1, str(len(fired)))
    if fired and not seen_alert:
        run.detected(RULE)
    run.expect(
        "publishes keep working while the bus refuses", published == [200] * 5, str(published)
    )
    run.expect("nothing got through while the stream was full", during == 1, str(during))
    failed = [e for e in run.recorder.named("outbox.publish_failed") if e.at >= t0]
    delays = [round(float(getattr(e, "delay", 0.0)), 2) for e in failed]
    run.expect(
        "the relay backed off (growing delays, not a tight loop)",
        len(failed) >= 3 and delays[:3] == sorted(delays[:3]) and len(failed) < FULL,
        f"{len(failed)} failed rounds, delays {delays[:8]}",
    )

    await run.wait(90.0)  # the limit is raised: the relay's next round drains the backlog
    ids = [m.id for m in seen]
    run.expect(
        "every event delivered once after the limit was raised",
        len(ids) == 6 and len(set(ids)) == 6,
        str(ids),
    )
    counts = await world.theme.themes.events.outbox.counts()
    run.expect(
        "no outbox row lost or left behind",
        counts["pending"] == 0 and counts["dead"] == 0,
        str(counts),
    )
    revisions = [
        json.loads(m.payload)["revision"] for m in seen if json.loads(m.payload)["theme"] == "c"
    ]
    run.expect("one theme's events in order", revisions == sorted(revisions), str(revisions))
    run.mitigated("outbox kept the events; the relay backed off and drained after the limit")
