"""edge.principle.3: state-changing and billing calls are idempotent.

The same mutating request (a counters call, the state change) and the same billed request
(an AI answer, counted against the tenant's daily budget) are sent several times at once
with one Idempotency-Key, as a client retrying on a timeout does; a caller told 409 (the
first is still running) retries. Every caller ends with the same answer, the counter
moved once, one AI request was billed. The key reused with another payload is refused
422 with a conflict code in the error envelope, and changes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from services.edge.harness import World, expect_traceable, open_world

from mitigate.chaos import Run, experiment

COPIES = 5
ADD = {"operations": [{"op": "add", "field": "credits", "amount": 10}]}
OTHER = {"operations": [{"op": "add", "field": "credits", "amount": 99}]}


async def _until_answered(run: Run, http: httpx.AsyncClient, path: str, body: Any, key: str) -> Any:
    """One caller: send, and retry while the first request with the key is in flight."""
    headers = {"idempotency-key": key}
    response = await http.post(path, json=body, headers=headers)
    for _ in range(10):
        if response.status_code != 409:
            break
        await run.wait(1.0)
        response = await http.post(path, json=body, headers=headers)
    return response


async def _at_once(run: Run, http: httpx.AsyncClient, path: str, body: Any, key: str) -> list[Any]:
    calls = [_until_answered(run, http, path, body, key) for _ in range(COPIES)]
    return list(await asyncio.gather(*calls))


async def _billed(world: World) -> int:
    rows = await world.edge.runtime.store.fetch(
        "SELECT COALESCE(SUM(used), 0) FROM edge_ai_usage WHERE tenant = ?", ("acme",)
    )
    return int(rows[0][0])


def _same(answers: list[Any]) -> tuple[bool, str]:
    shapes = [(a.status_code, a.text) for a in answers]
    return answers[0].status_code == 200 and len(set(shapes)) == 1, str(shapes[:2])


@experiment("edge.principle.3")
async def idempotent_calls(run: Run) -> None:
    world = await open_world(run)
    http = world.tenant("acme")
    start = await http.get("/v1/counters/wallet")
    await run.steady("the counter starts empty", start.json().get("counters") == {})

    answers = await _at_once(run, http, "/v1/counters/wallet/apply", ADD, "charge-0001")
    same, detail = _same(answers)
    run.expect(f"{COPIES} concurrent copies: every caller gets the same answer", same, detail)
    state = (await http.get("/v1/counters/wallet")).json()
    run.expect("the counter moved once", state.get("counters") == {"credits": 10}, str(state))

    billed_before = await _billed(world)
    prompt = {"prompt": "summarise my invoices"}
    answered = await _at_once(run, http, "/v1/assistant/answer", prompt, "ask-0001")
    same, detail = _same(answered)
    run.expect(f"{COPIES} concurrent billed calls: one answer for all", same, detail)
    billed = await _billed(world) - billed_before
    run.expect("one AI request billed", billed == 1, f"{billed} billed")

    reused = await http.post(
        "/v1/counters/wallet/apply", json=OTHER, headers={"idempotency-key": "charge-0001"}
    )
    body = reused.json()
    run.expect(
        "the key reused with another payload: 422 with a conflict code, in the envelope",
        reused.status_code == 422
        and body.get("code") == "MITIGATE.IDEMPOTENCY.KEY_REUSED"
        and set(body) == {"code", "message", "traceId"},
        f"{reused.status_code} {reused.text[:160]}",
    )
    state = (await http.get("/v1/counters/wallet")).json()
    run.expect("the refused call changed nothing", state.get("counters") == {"credits": 10})

    replays = run.recorder.named("idempotency.replayed")
    conflicts = run.recorder.named("idempotency.conflict")
    if replays and conflicts:
        run.detected(f"{len(replays)} repeats replayed, {len(conflicts)} refused (events)")
        run.mitigated("idempotency key")
    run.expect(
        "the repeats were recognised (idempotency.replayed events)",
        len(replays) >= 2 * (COPIES - 1),
        f"{len(replays)} replays",
    )
    expect_traceable(run, world)
