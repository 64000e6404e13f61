"""edge.principle.3: a state-changing call repeated with one Idempotency-Key (also
concurrently) has a single effect and identical answers; the key reused with another
payload is refused with a conflict code."""

from __future__ import annotations

import asyncio

from services.edge.harness import open_world
from tests.services.edge.virtual_run import VirtualRun

ADD = {"operations": [{"op": "add", "field": "credits", "amount": 10}]}


async def _scenario() -> None:
    run = VirtualRun()
    world = await open_world(run)
    try:
        http = world.tenant("acme")
        key = {"idempotency-key": "charge-0001"}
        answers = await asyncio.gather(
            *(http.post("/v1/counters/billing/apply", json=ADD, headers=key) for _ in range(5))
        )
        statuses = sorted(a.status_code for a in answers)
        done = [a for a in answers if a.status_code == 200]
        assert done and all(a.json() == done[0].json() for a in done), statuses
        assert all(a.status_code in (200, 409) for a in answers), statuses
        again = await http.post("/v1/counters/billing/apply", json=ADD, headers=key)
        assert again.status_code == 200 and again.json() == done[0].json()
        state = (await http.get("/v1/counters/billing")).json()
        assert state["counters"] == {"credits": 10}, state
        other = {"operations": [{"op": "add", "field": "credits", "amount": 99}]}
        refused = await http.post("/v1/counters/billing/apply", json=other, headers=key)
        assert refused.status_code in (409, 422), refused.text
        assert refused.json()["code"] and refused.json()["traceId"]
        assert (await http.get("/v1/counters/billing")).json()["counters"] == {"credits": 10}
    finally:
        await run.close()


def test_one_effect_per_idempotency_key() -> None:
    asyncio.run(_scenario())
