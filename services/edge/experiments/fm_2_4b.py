"""edge.fm.2.4b: a hot limiter actor is sharded by key hash.

One tenant sends 1500 requests in one second (100 callers) through its limiter. Through
one actor the calls queue far past the 50 ms per-call budget and the alert fires. Sharded
into the catalog's N actors, per-call time stays under the budget, the burst finishes
several times sooner, and the tokens granted stay within the limit plus N - 1.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.edge.harness import alerts, expect_traceable, open_world

from mitigate.chaos import Run, experiment

BURST = 1500
LIMIT = 1000  # acme's requests_per_minute
BUDGET_MS = 50.0


async def _burst(run: Run, world: Any, key: str) -> tuple[list[Any], float]:
    http = world.tenant("acme")
    start = run.clock.now()

    async def one(i: int) -> Any:
        await run.clock.asleep(i / BURST)
        return await http.post(f"/v1/limits/{key}/take", headers={"x-caller": f"c{i % 100}"})

    answers = await asyncio.gather(*(one(i) for i in range(BURST)))
    return list(answers), run.clock.now() - start


def _busy(answers: list[Any]) -> list[float]:
    return [float(a.json()["busyMs"]) for a in answers if a.status_code == 200]


@experiment("edge.fm.2.4b", failure_modes=["edge.fm.2.4b"])
async def hot_limiter(run: Run) -> None:
    shards = int(run.catalog.failure_mode("edge.fm.2.4b").details["shards"])
    single = await open_world(run, limiter_shards=1)  # the fault: one global limiter actor
    answers, took_single = await _burst(run, single, "api")
    worst = max(_busy(answers), default=0.0)
    run.expect(f"one actor: calls exceed {BUDGET_MS:g} ms", worst > BUDGET_MS, f"{worst:.0f} ms")
    run.expect("the limiter CPU alert fired", bool(alerts(run, "edge.rule.limiter-cpu")))

    await run.wait(120)  # a fresh window
    world = await open_world(run)
    answers, took = await _burst(run, world, "api")
    granted = sum(1 for a in answers if a.status_code == 200)
    refused = [a for a in answers if a.status_code != 200]
    used = {a.json()["shard"] for a in answers if a.status_code == 200}
    worst = max(_busy(answers), default=0.0)
    run.expect(f"sharded into {shards} actors", len(used) == shards, str(sorted(used)))
    run.expect(f"sharded: every call under {BUDGET_MS:g} ms", worst <= BUDGET_MS, f"{worst:.1f} ms")
    rate, rate_single = BURST / took, BURST / took_single
    run.expect(
        "throughput scales: sharded serves the burst at least 2.5 times faster",
        rate >= 2.5 * rate_single,
        f"{rate:.0f}/s vs {rate_single:.0f}/s",
    )
    run.expect(
        f"the global limit holds within N - 1 = {shards - 1} tokens",
        LIMIT - shards < granted <= LIMIT + shards - 1,
        f"{granted} granted",
    )
    run.expect(
        "the rest are refused with 429 and the envelope",
        all(
            a.status_code == 429 and a.json().get("code") == "EDGE.LIMIT.EXCEEDED" for a in refused
        ),
    )
    expect_traceable(run, world, required=False)
