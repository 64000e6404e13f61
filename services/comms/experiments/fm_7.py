"""comms.fm.7: Redis loses the API's idempotency keys while clients retry; the database
copy answers, nothing is dispatched twice, Redis is warmed again."""

from __future__ import annotations

import uuid
from collections import Counter

import redis.asyncio as aioredis
from services.comms.harness import alerts, open_world
from services.kit.embedded_redis import redis_address

from mitigate.chaos import Run, experiment

RULE = "comms.rule.idempotency-hit-ratio"
CLIENTS = 40
# Real seconds the virtual clock waits, idle, before jumping while a Redis reply is on its
# way over the socket (a jump would time the call out).
REAL_SERVER_PACE = 0.25


@experiment("comms.fm.7", failure_modes=["comms.fm.7"])
async def redis_evicts_idempotency_keys(run: Run) -> None:
    """40 clients each POST a dispatch with an Idempotency-Key and retry it (the answer
    was lost): Redis answers every retry. Then Redis loses every key of the service (the
    eviction: its keys deleted) while the clients retry again: the hit ratio falls under
    90 % and alerts; each retry gets its first answer from the database copy, and Redis
    is warm again for the next round. 40 keys, 40 dispatches, each its own."""
    (host, port), stop = redis_address(run)
    run.rollback(stop)
    if hasattr(run.clock, "autojump_threshold"):
        run.clock.autojump_threshold = max(run.clock.autojump_threshold, REAL_SERVER_PACE)
    prefix = f"comms:idem:{uuid.uuid4().hex[:8]}:"  # the real Redis is shared: our keys only
    world = await open_world(
        run, workers=False, cache=f"redis://{host}:{port}/0", idempotency_prefix=prefix
    )
    admin = aioredis.Redis(host=host, port=port)

    async def forget() -> None:  # leave the shared Redis as found
        async for key in admin.scan_iter(match=prefix + "*"):
            await admin.delete(key)
        await admin.aclose()

    run.rollback(forget)

    async def round_of_posts() -> list[tuple[int, str, bool]]:
        answers = []
        for n in range(CLIENTS):
            answer = await world.http.post(
                "/v1/dispatches",
                json={
                    "category": "reminders",
                    "channel": "sms",
                    "template": "appointment-reminder",
                    "to": f"+1555{n:07d}",
                    "vars": {"when": "Monday 10:00"},
                },
                headers={"x-tenant-id": "clinic-a", "idempotency-key": f"remind-{n}"},
            )
            replayed = answer.headers.get("idempotent-replayed") == "true"
            answers.append((answer.status_code, answer.json().get("id", ""), replayed))
        return answers

    def tiers() -> Counter[str]:
        return Counter(
            getattr(e, "tier", "") for e in run.recorder.named("comms.idempotency_lookup")
        )

    async def keys() -> int:
        return len([k async for k in admin.scan_iter(match=prefix + "*")])

    first = await round_of_posts()
    ids = [i for _, i, _ in first]
    await run.steady("every first request accepted", all(s == 202 for s, _, _ in first))
    retried = await round_of_posts()
    await run.steady("retries replayed from Redis", [i for _, i, _ in retried] == ids)
    await run.steady("Redis answered every retry", tiers() == Counter(redis=CLIENTS))
    await run.steady("no alert while Redis holds the keys", not alerts(run, RULE))

    label = "Redis evicts the idempotency keys"
    run.timeline.window(run.clock.now(), None, label)
    async for key in admin.scan_iter(match=prefix + "*"):
        await admin.delete(key)
    run.expect("Redis lost every key", await keys() == 0)
    after = await round_of_posts()
    run.timeline.close_window(label, run.clock.now())
    run.expect(
        "each retry got its first answer back (replayed, same dispatch)",
        [(s, i, r) for s, i, r in after] == [(202, i, True) for i in ids],
        str(after[:3]),
    )
    run.expect("the database answered the retries", tiers()["database"] == CLIENTS, str(tiers()))
    fired = alerts(run, RULE)
    run.expect("the hit-ratio alert fired", bool(fired), str(fired))
    if fired:
        run.detected(RULE)
    run.expect("Redis warmed again", await keys() == CLIENTS)
    again = await round_of_posts()
    run.expect("the next retries hit Redis", tiers()["redis"] == 2 * CLIENTS, str(tiers()))
    run.expect("and are replayed too", [i for _, i, _ in again] == ids)
    run.mitigated("idempotency keys found in the database, Redis warmed")

    listed = (await world.http.get("/v1/dispatches", headers={"x-tenant-id": "clinic-a"})).json()
    run.expect("zero duplicate dispatches: one per key", len(listed) == CLIENTS, str(len(listed)))
    run.expect("each the first answer's", sorted(d["id"] for d in listed) == sorted(ids))
