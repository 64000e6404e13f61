"""theme.fm.2.8: the bus publishes slowly (45 s a batch) while 5 000 outbox rows are
written. The backlog alert fires once more than 1 000 rows have waited for 10 min (not at
9 min) and the lag alert fires; a 2nd and a 3rd relay start and claim disjoint rows; the
backlog drains, every row delivered once and each theme's events in order."""

from __future__ import annotations

import asyncio
import json

from services.theme.harness import alerts, open_world
from services.theme.outbox_events import PUBLISHED

import mitigate
from mitigate.chaos import Latency, Run, experiment

BACKLOG_RULE = "theme.rule.outbox-backlog"
LAG_RULE = "theme.rule.outbox-lag"
ROWS, THEMES = 5000, 1000


@experiment("theme.fm.2.8", failure_modes=["theme.fm.2.8"])
async def outbox_backlog(run: Run) -> None:
    world = await open_world(run, events=True)
    rt = world.theme.runtime
    events = world.theme.themes.events
    seen: list[mitigate.Message] = []

    async def collect(message: mitigate.Message) -> None:
        seen.append(message)

    reader = mitigate.Consumer(
        rt.bus,
        mitigate.ConsumerSpec("experiment-reader", rt.settings.subject(PUBLISHED)),
        collect,
        batch=512,
        clock=run.clock,
    )
    task = asyncio.create_task(reader.run())
    run.rollback(task.cancel)
    run.rollback(reader.stop)

    t0 = run.clock.now()
    drained_at: float | None = None
    async with run.fault(Latency("bus.publish", delay=45.0)):
        for batch in range(ROWS // 100):  # 100 rows a second, as publishes commit
            async with rt.store.transaction() as tx:
                for n in range(100):
                    row = batch * 100 + n
                    theme, revision = f"t{row % THEMES}", row // THEMES + 1
                    await events.published(tx, "acme", theme, revision, f"sha-{row}")
            await run.wait(1.0)
        while run.clock.now() - t0 < 25 * 60:
            await run.wait(15.0)
            if (await events.outbox.backlog()).rows == 0:
                drained_at = run.clock.now() - t0
                break
    samples = [e for e in run.recorder.named("outbox.backlog") if e.at >= t0]
    over = [e.at for e in samples if getattr(e, "backlog", 0) > 1000]
    backlog_alerts = alerts(run, BACKLOG_RULE)
    first_over = over[0] if over else None
    fired_at = backlog_alerts[0].at if backlog_alerts else None
    if backlog_alerts or alerts(run, LAG_RULE):
        run.detected(BACKLOG_RULE if backlog_alerts else LAG_RULE)
    run.expect(
        "the backlog alert fires after 10 min above 1 000 rows, not at 9",
        first_over is not None and fired_at is not None and 600.0 <= fired_at - first_over <= 640.0,
        f"over 1000 from {first_over}, alert at {fired_at}",
    )
    run.expect("the lag p95 > 30 s alert fires", bool(alerts(run, LAG_RULE)))
    scaled = [getattr(e, "relays", 0) for e in run.recorder.named("theme.relays_scaled")]
    run.expect("a 2nd and a 3rd relay start", scaled[:2] == [2, 3], str(scaled))
    counts = {
        relay: rt.registry.get_sample_value("theme_outbox_relay_published_total", {"relay": relay})
        or 0.0
        for relay in ("theme-relay-1", "theme-relay-2", "theme-relay-3")
    }
    run.expect(
        "the relays claimed disjoint rows, each of them some",
        sum(counts.values()) == ROWS and all(v > 0 for v in counts.values()),
        str(counts),
    )
    run.expect(
        "the backlog drains within 13 min",
        drained_at is not None and drained_at <= 13 * 60,
        f"drained at {drained_at}",
    )
    await run.wait(30.0)
    ids = [m.id for m in seen]
    run.expect(
        "every row delivered once", len(set(ids)) == ROWS and len(ids) == ROWS, f"{len(ids)} seen"
    )
    order: dict[str, list[int]] = {}
    for m in seen:
        body = json.loads(m.payload)
        order.setdefault(body["theme"], []).append(body["revision"])
    run.expect(
        "each theme's events in order",
        all(v == sorted(v) for v in order.values()),
        str(next((k for k, v in order.items() if v != sorted(v)), "")),
    )
    run.mitigated("relays scaled out to 3 and drained the backlog")
