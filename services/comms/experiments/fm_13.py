"""comms.fm.13: one provider floods the receipt callbacks; it is limited, the others are
not, and every receipt is applied once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from services.comms.adapters.fake_dlr import CallbackSender
from services.comms.harness import alerts, open_world

from mitigate.chaos import Run, experiment

RULE = "comms.rule.receipt-flood"
BASELINE = 5.0  # callbacks per second per provider (catalog: comms.fm.13 details)


def _receipts(tag: str, count: int, references: list[str]) -> list[dict[str, str]]:
    return [
        {
            "receiptId": f"{tag}-{n}",
            "reference": references[n % len(references)],
            "status": "delivered",
        }
        for n in range(count)
    ]


def shared_limit(run: Run) -> dict[str, Any]:
    """Settings that put the receipt limit in the run's real Redis, when it names one."""
    if not run.uses("redis"):
        return {}  # embedded: the in-process limit (same rule, one worker)
    return {"cache": "redis://127.0.0.1:6379/0", "breaker_namespace": f"fm13-{uuid.uuid4().hex}"}


@experiment("comms.fm.13", failure_modes=["comms.fm.13"])
async def receipt_flood(run: Run) -> None:
    """Both SMS providers call back at the 5/s baseline: no alert, no refusal. Then the
    primary fires its receipts at 20x the baseline, each twice: the flood rule fires for
    it (not for the secondary), it gets 429 above its limit and retries later; the
    secondary's callbacks are all accepted; the receipts applied per second stay within
    the primary's limit plus the secondary's baseline; after the flood every distinct
    receipt was applied exactly once. Under ``--backend ...redis`` the limit lives in the
    real Redis (every worker draws on one budget per provider)."""
    world = await open_world(run, **shared_limit(run))
    receipts = world.comms.receipts
    assert receipts is not None
    if run.uses("redis"):
        run.require("the receipt limit is kept in Redis", receipts.limited_in == "redis")
    refs = []
    for n in range(5):
        sent = await world.dispatch(
            category="reminders",
            channel="sms",
            template="appointment-reminder",
            to=f"+1555300{n}",
            vars={"when": "Monday 10:00"},
        )
        refs.append(sent["id"])
    await world.settle(refs)
    primary = CallbackSender("primary", world.http, run.clock)
    secondary = CallbackSender("secondary", world.http, run.clock)
    await asyncio.gather(
        primary.run(_receipts("p0", 100, refs), rate=BASELINE),
        secondary.run(_receipts("s0", 100, refs), rate=BASELINE),
    )
    await run.steady("no alert at the baseline", not alerts(run, RULE))
    await run.steady("no refusal at the baseline", primary.refused + secondary.refused == 0)

    label = "primary fires receipts at 20x the baseline, each twice"
    start = run.clock.now()
    run.timeline.window(start, None, label)
    flood = _receipts("p1", 300, refs)
    calm = _receipts("s1", 100, refs)
    await asyncio.gather(
        primary.run(flood, rate=20 * BASELINE, copies=2),
        secondary.run(calm, rate=BASELINE),
    )
    run.timeline.close_window(label, run.clock.now())
    fired = alerts(run, RULE)
    run.expect(
        "the flood rule fired for the primary only",
        bool(fired) and {a.target for a in fired} == {"receipts.primary"},
        str([(a.target, a.value) for a in fired]),
    )
    if fired:
        run.detected(RULE)
    run.expect("the primary got 429 above its limit", primary.refused > 0, str(primary.refused))
    run.expect("the secondary was not limited", secondary.refused == 0, str(secondary.refused))
    log = await receipts.log()
    during = [at for _, _, at in log if at >= start]
    per_second = Counter(int(at) for at in during)
    busiest = max(per_second.values(), default=0)
    run.expect(
        "receipts applied per second stay bounded (limit + burst + the secondary's baseline)",
        busiest <= 20 + 20 + BASELINE,
        f"busiest second applied {busiest}",
    )
    run.mitigated("per-provider rate limit; receipts deduped by id")
    applied = Counter((p, r) for p, r, _ in log)
    expected = {("primary", r["receiptId"]) for r in flood} | {
        ("secondary", r["receiptId"]) for r in calm
    }
    run.expect(
        "every distinct receipt applied",
        expected <= set(applied),
        f"{len(expected - set(applied))} missing",
    )
    twice = [k for k, n in applied.items() if n > 1]
    run.expect("none applied twice", not twice, f"{len(twice)} applied twice")
