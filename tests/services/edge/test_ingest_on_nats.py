"""edge.fm.2.6b on the real servers and the real clock: ingestion through NATS JetStream.

The edge service runs as a process (``mitigate serve edge --backend postgres+nats``) in a
PostgreSQL schema and a JetStream stream of its own. Documents are submitted through its
HTTP API while the vector index is down: its table is renamed away on the real
PostgreSQL for 16 s, so every upsert fails there (not a fault in the code path). The
consumer naks each failed delivery and JetStream redelivers it on the catalog's schedule
(10 s, then 20 s); a document too long to embed goes to the DLQ at once. After the
index is back the 10 are indexed; after the fix the poison one is replayed from the DLQ
(through the outbox and JetStream again) and indexed. Indexed + DLQ = submitted, each
document indexed once, every message on the stream. The catalog row itself (a 10 min
outage, 40 min in all) verifies in virtual time; this run is its real-server twin
(about 40 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
import pytest
from services.edge.harness import write_tenants
from services.edge.ingest import CONSUMER
from tests.conftest import NATS_URL, require_nats, require_postgres
from tests.services.real_servers import drop_schema_and_stream, stream_messages
from tests.services.serving import serve

OUTAGE = 16.0  # the first delivery and the 10 s redelivery fail, the 30 s one succeeds
GOOD = 10
ACME = {"x-tenant-id": "acme"}
OPS = {"x-ops-token": "local-operator"}


def _sql(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _until(what: str, check: Any, seconds: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds}s: {what}")
        time.sleep(every)


async def _consumer_info(stream: str) -> Any:
    nc = await nats.connect(NATS_URL)
    try:
        return await nc.jetstream().consumer_info(stream, CONSUMER)
    finally:
        await nc.close()


@pytest.mark.integration
def test_ingestion_rides_out_an_index_outage_on_jetstream(tmp_path: Path) -> None:
    dsn = require_postgres()
    require_nats()
    unique = f"t{uuid.uuid4().hex[:8]}"
    schema, stream = f"edge_{unique}", f"EDGE_{unique.upper()}"
    env = {
        "EDGE_SCHEMA_NAME": schema,
        "EDGE_STREAM": stream,
        "EDGE_SUBJECT_PREFIX": f"{unique}.",
        "EDGE_KV_PREFIX": f"edge:{unique}:",
    }
    write_tenants(tmp_path / "data" / "tenants")
    started = time.monotonic()
    texts = {f"doc-{i}": f"lesson {i} notes on fractions" for i in range(GOOD)}
    texts["poison"] = " ".join(["word"] * 3000)  # over the embedding model's 2000 words
    try:
        with (
            serve("edge", tmp_path, "postgres+nats", env) as served,
            httpx.Client(base_url=served.url, timeout=10) as http,
        ):
            assert http.get("/readyz").status_code == 200

            def status() -> dict[str, Any]:
                response = http.get("/ops/ingest", headers=OPS)
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                return body

            assert status()["bus"] == "NatsBus"
            # The index goes down: its table is gone from the real PostgreSQL.
            _sql(dsn, f'ALTER TABLE "{schema}".edge_vectors RENAME TO edge_vectors_down')
            down_at = time.monotonic()
            accepted = [
                http.put(f"/v1/documents/{doc}", json={"text": text}, headers=ACME).status_code
                for doc, text in texts.items()
            ]
            again = http.put("/v1/documents/doc-0", json={"text": texts["doc-0"]}, headers=ACME)
            assert accepted == [202] * (GOOD + 1) and again.status_code == 202

            dead = _until(
                "the poison document in the DLQ while the index is down",
                lambda: _sql(dsn, f'SELECT msg_id, reason FROM "{schema}".mitigate_dlq'),
                OUTAGE,
            )
            assert [m for m, _ in dead] == [f"acme:poison:{_digest(texts['poison'])}"]
            assert "3000 words" in dead[0][1]
            info = asyncio.run(_consumer_info(stream))
            assert info.delivered.stream_seq == GOOD + 1  # all delivered, none acked yet
            assert info.num_ack_pending == GOOD, info  # the 10 wait for their redelivery

            time.sleep(max(0.0, down_at + OUTAGE - time.monotonic()))
            _sql(dsn, f'ALTER TABLE "{schema}".edge_vectors_down RENAME TO edge_vectors')
            up_at = time.monotonic()
            settled = _until(
                "the buffered documents indexed after the index is back",
                lambda: (s := status())["indexed"] == GOOD and s,
                45,
            )
            recovered = time.monotonic() - up_at
            assert settled["indexed"] + len(settled["dlq"]) == GOOD + 1
            consumer = settled["queue"]["consumer"]
            # each of the 10 failed on its first delivery and on the 10 s redelivery
            assert consumer["failed"] >= 2 * GOOD + 1, consumer
            assert consumer["handled"] == GOOD and consumer["dead_lettered"] == 1, consumer

            fixed = http.put("/ops/ingest/embedder", json={"max_tokens": 5000}, headers=OPS)
            replayed = http.post("/ops/ingest/dlq/replay", headers=OPS)
            assert fixed.status_code == replayed.status_code == 200
            assert replayed.json()["replayed"] == [settled["dlq"][0]["job"]]
            final = _until(
                "the replayed document indexed, the DLQ empty",
                lambda: (s := status())["indexed"] == GOOD + 1 and s["dlq"] == [] and s,
                20,
            )
            assert final["queue"]["outbox"] == {"pending": 0, "sent": GOOD + 2, "dead": 0}
            assert served.stop() == 0

        rows = _sql(
            dsn, f'SELECT doc_id, body, COUNT(*) FROM "{schema}".edge_vectors GROUP BY 1, 2'
        )
        assert {doc: (body, n) for doc, body, n in rows} == {d: (t, 1) for d, t in texts.items()}
        # Every document crossed JetStream: 11 submitted (the repeat was one outbox row)
        # plus the replay, under its own Nats-Msg-Id; the consumer settled all of them.
        on_stream = asyncio.run(stream_messages(stream))
        assert sorted(body["id"] for _, body in on_stream) == sorted([*texts, "poison"])
        assert len({msg_id for msg_id, _ in on_stream}) == GOOD + 2
        info = asyncio.run(_consumer_info(stream))
        assert (info.num_pending, info.num_ack_pending) == (0, 0), info
    finally:
        asyncio.run(drop_schema_and_stream(schema, stream))
    elapsed = time.monotonic() - started
    print(f"index down {OUTAGE:.0f}s, indexed {recovered:.1f}s after it came back, {elapsed:.1f}s")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
