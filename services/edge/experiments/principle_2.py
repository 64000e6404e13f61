"""edge.principle.2: optional features degrade, the core keeps serving.

The catalog's optional dependencies fail in turn, for good (not a blip the retries hide):
KV, the cache of feature flags (reads and writes), and the vector index (retrieval, the
"advanced search" role). Flags answer 2xx from the source of truth marked
``servedFrom: source``, a flag write says ``kv: write-failed``, the assistant answers
without retrieval with its warning; the core endpoints (hello, counters) keep answering
2xx throughout. No total outage.
"""

from __future__ import annotations

import httpx
from services.edge.harness import World, alerts, expect_traceable, open_world
from services.edge.rag import NOT_CONSULTED
from services.kit.embedded_redis import redis_address

from mitigate.chaos import Failure, Run, experiment

QUESTION = {"question": "when are refunds issued?"}


async def _core_serves(run: Run, http: httpx.AsyncClient, during: str) -> None:
    hello = await http.get("/v1/hello")
    count = await http.post(
        "/v1/counters/visits/apply", json={"operations": [{"op": "add", "field": "n", "amount": 1}]}
    )
    run.expect(
        f"{during}: the core endpoints answer 2xx",
        hello.status_code == 200 and count.status_code == 200,
        f"hello {hello.status_code}, counters {count.status_code} {count.text[:120]}",
    )


async def _indexed(run: Run, world: World, http: httpx.AsyncClient) -> None:
    await http.put("/v1/documents/refunds", json={"text": "Refunds are issued within 14 days."})
    for _ in range(60):
        if (await world.edge.ingestion.status())["indexed"] == 1:
            break
        await run.wait(5)


@experiment("edge.principle.2")
async def degrade_gracefully(run: Run) -> None:
    redis, stop_redis = redis_address(run)  # the real one under --backend ...redis
    run.rollback(stop_redis)
    world = await open_world(run, workers=True, kv=f"redis://{redis[0]}:{redis[1]}/0")
    http = world.tenant("acme")
    put = await http.put("/v1/flags/beta", json={"value": "on"})
    got = await http.get("/v1/flags/beta", params={"location": "origin"})
    await run.steady(
        "flags are written to and read from KV",
        put.json().get("kv") == "written" and got.json().get("servedFrom") == "kv",
    )
    await _indexed(run, world, http)
    first = (await http.post("/v1/assistant/ask", json=QUESTION)).json()
    await run.steady("answers cite the documents", first.get("sources") == ["refunds"])

    kv_down = [Failure("kv.get", error=ConnectionError), Failure("kv.put", error=ConnectionError)]
    async with run.fault(kv_down[0]), run.fault(kv_down[1]):
        read = await http.get("/v1/flags/beta", params={"location": "origin"})
        run.expect(
            "KV down: the flag answers 2xx from the source, marked so",
            read.status_code == 200
            and read.json().get("servedFrom") == "source"
            and read.json().get("value") == "on",
            f"{read.status_code} {read.text[:160]}",
        )
        wrote = await http.put("/v1/flags/beta", json={"value": "off"})
        run.expect(
            "KV down: a flag write is stored and says KV was not updated",
            wrote.status_code == 200 and wrote.json().get("kv") == "write-failed",
            f"{wrote.status_code} {wrote.text[:160]}",
        )
        await _core_serves(run, http, "KV down")
    run.expect("the KV read alert fired", bool(alerts(run, "edge.rule.kv-read-failures")))

    async with run.fault(Failure("vector.query", error=ConnectionError)):
        asked = await http.post("/v1/assistant/ask", json=QUESTION)
        body = asked.json()
        run.expect(
            "index down: an answer without retrieval, with its warning",
            asked.status_code == 200
            and bool(body.get("answer"))
            and body.get("warning") == NOT_CONSULTED
            and body.get("sources") == [],
            f"{asked.status_code} {asked.text[:160]}",
        )
        await _core_serves(run, http, "index down")
    run.expect("the query-error alert fired", bool(alerts(run, "edge.rule.vector-query-errors")))

    after = (await http.post("/v1/assistant/ask", json=QUESTION)).json()
    flag = (await http.get("/v1/flags/beta", params={"location": "origin"})).json()
    run.expect(
        "after recovery: retrieval and the last flag write are back",
        after.get("sources") == ["refunds"] and flag.get("value") == "off",
        f"{after.get('sources')} {flag}",
    )
    expect_traceable(run, world, required=False)
