"""authoring.chaos.4 on real servers: a PostgreSQL primary fails over to its streaming
standby while an editor streams block writes (real clock, the TCP fault proxy between the
service and the database).

The primary is cut (the proxy refuses and resets every connection), stopped hard, the
standby promoted and the proxy switched to it. Writes in the gap fail fast and are not
acknowledged; the editor resends every unacknowledged write with its operation id. On the
promoted standby: every acknowledged write is there, every write is there once."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psycopg
from services.authoring.service import open_authoring
from services.authoring.settings import AuthoringSettings
from tests.services import pg_pair

from mitigate.chaos import FaultProxy


async def _failover_run(pair: pg_pair.Pair, root: Path) -> dict[str, Any]:
    proxy = await FaultProxy("127.0.0.1", pair.primary).start()
    settings = AuthoringSettings(
        data_dir=root, store=f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
    )
    service = await open_authoring(settings)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app),
        base_url="http://authoring.test",
        headers={"x-tenant-id": "acme"},
    )
    acked: set[str] = set()
    pending: list[str] = []
    refused_in_gap = 0
    gap_times: list[float] = []
    loop = asyncio.get_running_loop()  # real seconds, for the gap's timings only
    try:
        draft = (await http.post("/v1/drafts", json={"title": "Course"})).json()["id"]

        async def write(op: str) -> int:
            body = {"kind": "text", "body": {"op": op}, "operationId": op}
            response = await http.post(f"/v1/drafts/{draft}/blocks", json=body)
            if response.status_code == 201:
                acked.add(op)
                if op in pending:
                    pending.remove(op)
            elif op not in pending:
                pending.append(op)
            return response.status_code

        for n in range(20):  # before the failover
            await write(f"op-{n}")
        await proxy.down()  # the primary is cut
        for n in range(20, 30):  # the gap: each fails inside its 300 ms budget
            start = loop.time()
            if await write(f"op-{n}") != 201:
                refused_in_gap += 1
            gap_times.append(loop.time() - start)
        await asyncio.to_thread(pair.promote)
        proxy.upstream = ("127.0.0.1", pair.standby)
        await proxy.up()
        for n in range(30, 40):  # after: the pool's stale connections meet the retry
            await write(f"op-{n}")
        for _ in range(20):  # the editor resends what was never acknowledged
            if not pending:
                break
            for op in list(pending):
                await write(op)
            await asyncio.sleep(0.2)
    finally:
        await http.aclose()
        await service.aclose()
        await proxy.stop()
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pair.standby}/postgres") as conn:
        rows = conn.execute(
            "SELECT body FROM authoring.authoring_blocks WHERE draft_id = %s", (draft,)
        ).fetchall()
    stored = [json.loads(body)["op"] for (body,) in rows]
    return {
        "acked": acked,
        "pending": pending,
        "stored": stored,
        "gap": refused_in_gap,
        "gap_times": gap_times,
    }


def test_no_acknowledged_write_lost_across_a_failover() -> None:
    pg_pair.require()
    root = Path(tempfile.mkdtemp(prefix="authoring-failover-"))
    try:
        with pg_pair.primary_and_standby() as pair:
            result = asyncio.run(_failover_run(pair, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    stored, acked = result["stored"], result["acked"]
    assert result["gap"] == 10, "writes during the cut must be refused, not acknowledged"
    # The 300 ms budget bounds each refused write (measured ~0.30 s), with room for load.
    assert max(result["gap_times"]) < 1.0, result["gap_times"]
    assert acked <= set(stored), f"acknowledged writes lost: {sorted(acked - set(stored))}"
    assert result["pending"] == [], f"never stored: {result['pending']}"
    assert sorted(set(stored)) == sorted(f"op-{n}" for n in range(40))
    assert len(stored) == len(set(stored)), "a resent write was stored twice"
