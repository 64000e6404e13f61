"""The comms service: dispatches per second end to end, beside bare baselines; SMS failover.

One run, real clock, embedded backends (SQLite, in-process bus), the fake SMS gateways
reached over HTTP through httpx's ASGI transport (in process, no socket):

1. **End to end**: N SMS dispatches POSTed through the HTTP API (32 at once), the dispatch
   worker running (template render, the ``sms.primary`` pipeline, the gateway adapter,
   the state change with its outbox event), timed until every one is ``sent``.
2. **Bare insert**: N inserts of the same dispatch row into a fresh SQLite store of the
   same kind: what storing the request alone costs.
3. **Direct provider calls**: N POSTs straight to the fake gateway (same transport).
4. **Failover**: (1) again with the primary gateway refusing every message (5xx), so each
   is sent by the secondary after the primary's 3 retries. Their waits (1 s, 5 s, 15 s)
   are set to 0 for this run: what is measured is the mechanism (four refused calls,
   then the next gateway), not the backoff the catalog chooses to wait.

A warm-up run of 50 dispatches comes first (imports, first renders); (1) and (4) then run
twice, interleaved, and the best of each counts (the machine is shared). Ratios are
against the bare baselines of the same run. Run:
uv run python bench/comms.py [--json] [--dispatches N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CATALOG = ROOT / "services" / "comms" / "catalog.yaml"
CONCURRENCY = 32


def _reminder(n: int) -> dict[str, Any]:
    return {
        "category": "reminders",
        "channel": "sms",
        "template": "appointment-reminder",
        "to": f"+1555{n:07d}",
        "vars": {"when": "Monday 10:00"},
    }


def _catalog(clock: Any, *, primary_retries: bool) -> Any:
    import mitigate

    doc = yaml.safe_load(CATALOG.read_text())
    if not primary_retries:  # the same 3 retries, without the waits between them
        doc["policies"]["sms.primary"]["retry"]["backoff"] = "0s, 0s, 0s"
    return mitigate.Catalog.from_text(yaml.safe_dump(doc), clock=clock)


async def _end_to_end(n: int, root: Path, *, refuse_primary: bool) -> float:
    import httpx
    from services.comms.service import open_comms
    from services.comms.settings import CommsSettings
    from services.comms.workers import running
    from services.kit.runtime import Runtime

    import mitigate

    settings = CommsSettings(
        data_dir=root,
        store=f"sqlite:///{root / 'comms.db'}?durability=normal",
        poll=0.02,
        send_concurrency=CONCURRENCY,
    )
    clock = mitigate.RealClock()
    catalog = _catalog(clock, primary_retries=not refuse_primary)
    runtime = await Runtime.open(settings, clock=clock, policy=catalog.policy)
    comms = await open_comms(settings, runtime=runtime, detector=catalog.detector)
    assert comms.fakes is not None
    if refuse_primary:
        comms.fakes.sms_primary.fault_for = lambda reference: "5xx"
    transport = httpx.ASGITransport(app=comms.app)
    headers = {"x-tenant-id": "clinic-a"}
    async with (
        running(comms),
        httpx.AsyncClient(transport=transport, base_url="http://comms.test") as http,
    ):
        gate = asyncio.Semaphore(CONCURRENCY)

        async def post(i: int) -> str:
            async with gate:
                answer = await http.post("/v1/dispatches", json=_reminder(i), headers=headers)
                assert answer.status_code == 202, answer.text
                return str(answer.json()["id"])

        t0 = time.perf_counter()
        ids = set(await asyncio.gather(*(post(i) for i in range(n))))
        while (await http.get("/v1/dispatches?state=queued", headers=headers)).json():
            await clock.asleep(0.01)
        seconds = time.perf_counter() - t0
        rows = await comms.runtime.store.fetch(
            "SELECT COUNT(*) FROM comms_dispatches WHERE state = 'sent'"
        )
        assert int(rows[0][0]) == len(ids) == n, (rows, len(ids))
    secondary = comms.fakes.sms_secondary
    await comms.aclose()
    if refuse_primary:
        assert all(secondary.delivered(i) == 1 for i in ids), "every message via the secondary"
    return n / seconds


async def _bare_inserts(n: int, root: Path) -> float:
    import mitigate

    store = await mitigate.open_store(f"sqlite:///{root / 'bare.db'}?durability=normal")
    await store.execute(
        "CREATE TABLE d (id TEXT PRIMARY KEY, tenant TEXT, category TEXT, channel TEXT,"
        " template TEXT, recipient TEXT, vars TEXT, state TEXT, created_at REAL)"
    )
    t0 = time.perf_counter()
    for i in range(n):
        body = _reminder(i)
        await store.execute(
            "INSERT INTO d VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
            (
                f"d-{i}",
                "clinic-a",
                body["category"],
                body["channel"],
                body["template"],
                body["to"],
                json.dumps(body["vars"]),
                float(i),
            ),
        )
    seconds = time.perf_counter() - t0
    await store.aclose()
    return n / seconds


async def _direct_provider(n: int) -> float:
    import httpx
    from services.comms.adapters.fake_sms import FakeSmsGateway

    import mitigate

    gateway = FakeSmsGateway("primary", mitigate.RealClock())
    transport = httpx.ASGITransport(app=gateway.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sms.fake") as http:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def send(i: int) -> None:
            async with gate:
                answer = await http.post(
                    "/v1/messages",
                    json={"to": f"+1555{i:07d}", "body": "hi", "reference": f"r-{i}"},
                    headers={"idempotency-key": f"r-{i}"},
                )
                assert answer.status_code == 201, answer.text

        t0 = time.perf_counter()
        await asyncio.gather(*(send(i) for i in range(n)))
        seconds = time.perf_counter() - t0
    return n / seconds


async def measure(n: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-comms-") as tmp:
        root = Path(tmp)
        (root / "warm").mkdir()
        await _end_to_end(50, root / "warm", refuse_primary=False)  # imports, first renders
        runs: dict[bool, list[float]] = {False: [], True: []}
        for turn in range(2):  # interleaved, best of two: the machine is shared
            for refuse in (False, True):
                folder = root / f"{turn}-{refuse}"
                folder.mkdir()
                runs[refuse].append(await _end_to_end(n, folder, refuse_primary=refuse))
        e2e, failover = max(runs[False]), max(runs[True])
        bare = await _bare_inserts(n, root)
    direct = await _direct_provider(n)
    return [
        {"name": "dispatches end to end", "per_s": e2e},
        {"name": "bare insert", "per_s": bare, "ratio_e2e_to_this": e2e / bare},
        {"name": "direct provider calls", "per_s": direct, "ratio_e2e_to_this": e2e / direct},
        {
            "name": "end to end, primary refusing",
            "per_s": failover,
            "ratio_to_e2e": failover / e2e,
            "overhead_per_dispatch_ms": (1 / failover - 1 / e2e) * 1000,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dispatches", type=int, default=500)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.dispatches))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        rest = "  ".join(f"{k}={v:.3g}" for k, v in row.items() if k != "name")
        print(f"{row['name']:<32} {rest}")


if __name__ == "__main__":
    main()
