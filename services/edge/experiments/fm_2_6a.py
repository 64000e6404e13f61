"""edge.fm.2.6a: vector queries fail; the answer comes without retrieval, with a warning.

Documents are indexed; an answer cites them. The index fails twice (answered with sources
after retries), then on every query: the answer is produced without retrieval and says
internal documents were not consulted; vectorize_queries_total counts the errors and the
alert fires.
"""

from __future__ import annotations

from services.edge.harness import alerts, expect_traceable, open_world
from services.edge.rag import NOT_CONSULTED

from mitigate.chaos import Failure, Run, experiment

DOCS = {
    "refunds": "Refunds are issued within 14 days of a course purchase.",
    "certificates": "Certificates are emailed when a learner passes the final quiz.",
    "offline": "Offline bundles expire after 30 days without a sync.",
}


@experiment("edge.fm.2.6a", failure_modes=["edge.fm.2.6a"])
async def vector_query_fails(run: Run) -> None:
    world = await open_world(run, workers=True)
    http = world.tenant("acme")
    for doc_id, text in DOCS.items():
        await http.put(f"/v1/documents/{doc_id}", json={"text": text})
    for _ in range(60):
        if (await world.edge.ingestion.status())["indexed"] == len(DOCS):
            break
        await run.wait(5)
    question = {"question": "when are refunds issued?"}
    first = (await http.post("/v1/assistant/ask", json=question)).json()
    await run.steady(
        "answers cite the documents",
        first.get("sources", [None])[0] == "refunds" and not first.get("warning"),
    )

    async with run.fault(Failure("vector.query", times=2, error=ConnectionError)):
        retried = (await http.post("/v1/assistant/ask", json=question)).json()
    run.expect(
        "two failed queries: answered with sources after retries",
        bool(retried.get("sources")) and not retried.get("warning"),
        str(retried),
    )

    async with run.fault(Failure("vector.query", error=ConnectionError)):
        degraded = await http.post("/v1/assistant/ask", json=question)
    body = degraded.json()
    run.expect(
        "index down: an answer, not an error",
        degraded.status_code == 200 and bool(body.get("answer")),
        degraded.text[:200],
    )
    run.expect(
        "the answer warns that internal documents were not consulted",
        body.get("warning") == NOT_CONSULTED and body.get("sources") == [],
        str(body),
    )
    metrics = (await world.client().get("/metrics")).text
    run.expect(
        "vectorize_queries_total counts the error",
        'vectorize_queries_total{status="error"} 1.0' in metrics,
    )
    run.expect("the query-error alert fired", bool(alerts(run, "edge.rule.vector-query-errors")))
    after = (await http.post("/v1/assistant/ask", json=question)).json()
    run.expect("after recovery answers cite documents again", bool(after.get("sources")))
    expect_traceable(run, world, required=False)
