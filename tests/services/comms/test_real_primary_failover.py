"""comms.fm.5 on real servers: the primary PostgreSQL is cut while the API is under mixed
load, and a real streaming replica (made by the test on 127.0.0.1) serves the reads.

The service reaches its primary through mitigate's TCP fault proxy and its replica
directly; the cut is the proxy refusing and resetting every connection (real clock). While
it lasts, each round: a new dispatch is accepted into the preflight store (202,
``preflight``), a dispatch read and the list come from the replica (``x-served-by:
replica``), a thread write gets 503 with Retry-After; the refused calls are counted and the
connection-error rule alerts. When the primary is back the preflight drains: every accepted
dispatch is in the primary once and sent once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from services.comms.settings import CommsSettings
from tests.services import pg_pair
from tests.services.comms.real import alerts, reminder, serving
from tests.services.real_servers import run_in_folder

from mitigate.chaos import FaultProxy

RULE = "comms.rule.db-connection-errors"
ROUNDS = 6  # rounds of mixed load while the primary is cut


async def _until(check: Any, limit: float = 30.0) -> bool:
    for _ in range(int(limit / 0.2)):
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


async def _states(http: httpx.AsyncClient, ids: list[str]) -> dict[str, str]:
    listed = (await http.get("/v1/dispatches")).json()
    found = {d["id"]: d["state"] for d in listed}
    return {i: found.get(i, "missing") for i in ids}


async def _mixed_load_round(http: httpx.AsyncClient, n: int, known: str) -> dict[str, Any]:
    made = await http.post("/v1/dispatches", json=reminder(n))
    one = await http.get(f"/v1/dispatches/{known}")
    listed = await http.get("/v1/dispatches")
    other = await http.post("/v1/threads", json={"patient": "p-1"})
    return {"made": made, "one": one, "listed": listed, "other": other}


async def _failover(pair: pg_pair.Pair, root: Path) -> dict[str, Any]:
    proxy = await FaultProxy("127.0.0.1", pair.primary).start()
    fast = "pool_timeout=0.5&connect_timeout=2"  # a refused call fails at once, not in 30 s
    settings = CommsSettings(
        data_dir=root,
        poll=0.2,
        # The owner migrates; the service connects as the app role (RLS binds it).
        store_owner=f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres?{fast}",
        store=f"postgresql://comms_app@127.0.0.1:{proxy.port}/postgres?{fast}",
        replica=f"postgresql://comms_app@127.0.0.1:{pair.standby}/postgres?{fast}",
    )
    rounds: list[dict[str, Any]] = []
    try:
        async with serving(settings) as served:
            http, sms = served.http, served.comms.fakes.sms_primary  # type: ignore[union-attr]
            before = []
            for n in range(3):
                made = await http.post("/v1/dispatches", json=reminder(n))
                assert made.status_code == 202, made.text
                before.append(made.json()["id"])

            async def steady() -> bool:
                return set((await _states(http, before)).values()) == {"sent"}

            assert await _until(steady), await _states(http, before)
            await proxy.down()  # the primary is cut: refused, existing links reset
            for n in range(ROUNDS):
                rounds.append(await _mixed_load_round(http, 100 + n, before[n % 3]))
                await asyncio.sleep(0.5)
            alerted = alerts(served.recorder, RULE)
            await proxy.up()
            accepted = [
                r["made"].json()["id"]
                for r in rounds
                if r["made"].status_code == 202 and r["made"].json()["state"] == "preflight"
            ]

            async def drained_and_sent() -> bool:
                return set((await _states(http, accepted)).values()) == {"sent"}

            sent = await _until(drained_and_sent, limit=60)
            listed = (await http.get("/v1/dispatches")).json()
            return {
                "rounds": rounds,
                "alerted": alerted,
                "refused": len(served.recorder.named("comms.db_connection_error")),
                "accepted": accepted,
                "sent": sent,
                "listed": Counter(d["id"] for d in listed),
                "before": before,
                "delivered": {i: sms.delivered(i) for i in accepted},
            }
    finally:
        await proxy.stop()


def test_the_replica_serves_reads_and_preflight_keeps_writes_while_the_primary_is_cut() -> None:
    pg_pair.require()
    with pg_pair.primary_and_standby() as pair:
        result = run_in_folder("comms-failover-", lambda root: _failover(pair, root))
    for r in result["rounds"]:
        assert r["made"].status_code == 202 and r["made"].json()["state"] == "preflight"
        assert r["one"].status_code == 200, r["one"].text
        assert r["one"].headers["x-served-by"] == "replica"
        assert r["listed"].status_code == 200 and r["listed"].headers["x-served-by"] == "replica"
        assert r["other"].status_code == 503 and r["other"].headers.get("retry-after")
        assert r["other"].json()["code"], r["other"].text  # the error envelope
    assert result["refused"] > 5, "the primary's refused calls are counted"
    assert result["alerted"], "the connection-error rule alerted"
    accepted = result["accepted"]
    assert len(accepted) == ROUNDS
    assert result["sent"], "every accepted dispatch was drained into the primary and sent"
    listed = result["listed"]
    assert all(listed[i] == 1 for i in accepted), "each accepted dispatch is there once"
    assert len(listed) == len(accepted) + len(result["before"])
    assert result["delivered"] == {i: 1 for i in accepted}, "each sent once"
