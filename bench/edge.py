"""The edge service's overhead per request, against a bare FastAPI app, from one run.

Both servers run as their own uvicorn process on 127.0.0.1 (the edge through
``mitigate serve edge``, embedded backend; the bare app from this file with
``--bare-server``); the load comes from this process over real sockets, bounded: N
requests per route at a fixed concurrency. Routes:

- ``GET /v1/hello``: tenant resolution (registry in the store), the edge middleware (body
  held for the envelope, failure logs), the error envelope, the worker pool;
- ``POST /v1/limits/bench/take`` with a fresh ``Idempotency-Key``: the same plus the
  rate-limiter actor and the idempotency store (a write per request).

The bare app answers the same JSON on the same paths with no middleware. Reported:
requests per second and p99 latency for each, and edge/bare throughput (goal >= 0.6).

Run: uv run python bench/edge.py [--json] [--requests N] [--concurrency C]
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
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving import free_port, serve_bare, start, stop  # noqa: E402

TENANT = {"id": "bench", "plan": "production", "limits": {"requests_per_minute": 10**9}}


def _bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/v1/hello")
    async def hello() -> dict[str, Any]:
        return {"tenant": "bench", "coldStart": False}

    @app.post("/v1/limits/{key}/take")
    async def take(key: str) -> dict[str, Any]:
        return {"allowed": True, "shard": f"bench:{key}#0", "shards": 8, "busyMs": 2.0}

    return app


async def _load(url: str, method: str, path: str, n: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    headers = {"x-tenant-id": "bench"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
        queue = iter(range(n))

        async def worker() -> None:
            for _ in queue:
                extra = {"idempotency-key": uuid.uuid4().hex} if method == "POST" else {}
                start = time.perf_counter()
                response = await http.request(method, path, headers={**headers, **extra})
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")

        for _ in range(concurrency):  # warm the connections
            await http.request("GET", "/v1/hello", headers=headers)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {"rps": n / elapsed, "p99_ms": p99 * 1000.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        return serve_bare(_bare_app(), args.bare_server)

    data = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    (data / "tenants").mkdir(parents=True)
    (data / "tenants" / "bench.json").write_text(json.dumps(TENANT))
    edge_port, bare_port = free_port(), free_port()
    edge_url, bare_url = f"http://127.0.0.1:{edge_port}", f"http://127.0.0.1:{bare_port}"
    env = {**os.environ, "EDGE_DATA_DIR": str(data)}
    edge_argv = [sys.executable, "-m", "mitigate.cli", "serve", "edge", "--port", str(edge_port)]
    bare_argv = [sys.executable, __file__, "--bare-server", str(bare_port)]
    servers = [start(edge_argv, env, edge_url), start(bare_argv, env, bare_url)]
    results: dict[str, Any] = {"requests": args.requests, "concurrency": args.concurrency}
    try:
        for name, method, path in (
            ("read", "GET", "/v1/hello"),
            ("write", "POST", "/v1/limits/bench/take"),
        ):
            edge = asyncio.run(_load(edge_url, method, path, args.requests, args.concurrency))
            bare = asyncio.run(_load(bare_url, method, path, args.requests, args.concurrency))
            results[name] = {"edge": edge, "bare": bare, "ratio": edge["rps"] / bare["rps"]}
    finally:
        for process in servers:
            stop(process)
        shutil.rmtree(data, ignore_errors=True)  # the edge's store and tenant file
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name in ("read", "write"):
            r = results[name]
            print(
                f"{name:5}  edge {r['edge']['rps']:7.0f} req/s p99 {r['edge']['p99_ms']:6.1f} ms"
                f"   bare {r['bare']['rps']:7.0f} req/s p99 {r['bare']['p99_ms']:6.1f} ms"
                f"   ratio {r['ratio']:.2f} (goal >= 0.6)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
