"""The comms service under a receipt-callback flood: what it absorbs at 20x a provider's
limit, beside a bare endpoint, from one run.

Both servers run as their own uvicorn process on 127.0.0.1 (the comms service through
``mitigate serve comms``, embedded backend; the bare app from this file with
``--bare-server``: the same route and body model, no limit, no store). From this process
one provider's delivery receipts are offered at 20x its limit (the comms catalog's 20
callbacks/s: 400/s) for ``--seconds`` (10 by default), each receipt a new id, open loop
(a request is sent on schedule whether or not earlier ones were answered), at most 64 in
flight. Reported for each server: callbacks answered per second, p50 and p99 latency;
for comms, how many it accepted (applied) and refused with 429, and whether the accepted
stayed within the limit (20/s plus the burst of 20). Ratio: comms/bare answered per
second and p99. Run: uv run python bench/comms_flood.py [--json] [--seconds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import free_port, serve_bare, start, stop

LIMIT, BURST = 20, 20  # the comms settings' receipt_rate and receipt_burst
FLOOD = 20 * LIMIT  # callbacks per second offered
IN_FLIGHT = 64


class Receipt(BaseModel):  # the bare app's body: parsed as the service parses it
    receipt_id: str = Field(alias="receiptId")
    reference: str
    status: str


def _bare_app() -> Any:
    app = FastAPI()

    @app.post("/v1/receipts/{provider}")
    async def receipt(provider: str, body: Receipt) -> dict[str, Any]:
        return {"receiptId": body.receipt_id, "applied": True}

    return app


async def _flood(url: str, seconds: float) -> dict[str, Any]:
    total = int(FLOOD * seconds)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        await http.post("/v1/receipts/warmup", json=_receipt(-1))  # connections, imports

        async def one(n: int) -> None:
            async with gate:
                began = time.perf_counter()
                answer = await http.post("/v1/receipts/primary", json=_receipt(n))
                latencies.append(time.perf_counter() - began)
                statuses[answer.status_code] += 1

        t0 = time.perf_counter()
        tasks = []
        for n in range(total):  # open loop: each on its schedule
            delay = t0 + n / FLOOD - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "offered_per_s": FLOOD,
        "answered_per_s": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000,
        "accepted": statuses[200],
        "refused_429": statuses[429],
        "other": sum(v for k, v in statuses.items() if k not in (200, 429)),
        "seconds": elapsed,
    }


def _receipt(n: int) -> dict[str, str]:
    return {"receiptId": f"r-{n}", "reference": f"d-{n % 100}", "status": "delivered"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        return serve_bare(_bare_app(), args.bare_server)

    data = Path(tempfile.mkdtemp(prefix="comms-flood-"))
    comms_port, bare_port = free_port(), free_port()
    comms_url, bare_url = f"http://127.0.0.1:{comms_port}", f"http://127.0.0.1:{bare_port}"
    env = {**os.environ, "COMMS_DATA_DIR": str(data)}
    comms_argv = [sys.executable, "-m", "mitigate.cli", "serve", "comms", "--port", str(comms_port)]
    bare_argv = [sys.executable, __file__, "--bare-server", str(bare_port)]
    servers = [start(comms_argv, env, comms_url), start(bare_argv, env, bare_url)]
    try:
        comms = asyncio.run(_flood(comms_url, args.seconds))
        bare = asyncio.run(_flood(bare_url, args.seconds))
    finally:
        for process in servers:
            stop(process)
        shutil.rmtree(data, ignore_errors=True)
    ceiling = LIMIT * comms["seconds"] + BURST + LIMIT  # the limit, its burst, one second's slack
    results = {
        "comms": comms,
        "bare": bare,
        "ratio_answered": comms["answered_per_s"] / bare["answered_per_s"],
        "ratio_p99": comms["p99_ms"] / bare["p99_ms"],
        "accepted_within_limit": comms["accepted"] <= ceiling,
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name in ("comms", "bare"):
            r = results[name]
            print(
                f"{name:5}  answered {r['answered_per_s']:6.0f}/s of {FLOOD} offered"
                f"  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms"
                f"  accepted {r['accepted']}  429 {r['refused_429']}  other {r['other']}"
            )
        print(
            f"ratio comms/bare: answered {results['ratio_answered']:.2f}"
            f"  p99 {results['ratio_p99']:.2f}"
            f"  accepted within the limit: {results['accepted_within_limit']}"
        )
    return 0 if comms["other"] == 0 and results["accepted_within_limit"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
