"""The theme service's bundle reads and publishes, against a bare FastAPI app, from one run.

Every server runs as its own uvicorn process on 127.0.0.1 (the theme service through
``mitigate serve theme``, embedded backend; the bare app from this file with
``--bare-server``); the load comes from this process over real sockets, bounded: N
requests at a fixed concurrency. Measured:

- ``GET /v1/themes/brand/read`` (the BFF reader: active publication, cache, SHA-256
  check) with the cache on Redis (127.0.0.1:6379), with Redis down (the cache URL names a
  closed port: the breaker opens and reads go to origin; the seed promises p95 <= 250 ms),
  and without a cache (the in-process one); beside the bare app serving the same bytes;
- publishes: ``PUT`` a theme then ``POST .../publish`` (validation, bundle build, upload,
  the flip with its outbox row and purge job), beside a bare POST;
- both again with the service on PostgreSQL (127.0.0.1:5432, when it answers): its tables
  under FORCED row-level security, connected as ``theme_app``, the tenant set on every
  transaction (what tenant isolation costs), the in-process cache.

Reported: requests per second, p95, and the ratio to the bare app.

Run: uv run python bench/theme.py [--json] [--requests N] [--publishes N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, serve_bare, start, stop  # noqa: E402

PG_SCHEMA = f"theme_bench_{os.getpid()}"  # its own schema on PostgreSQL, dropped after

HEADERS = {"x-tenant-id": "acme"}
DOCUMENT = {
    "name": "Harbour",
    "colors": {"primary": "#0a3d62", "background": "#ffffff", "text": "#1e272e"},
    "locales": ["en", "fr"],
    "defaultLocale": "en",
    "copy": {"en": {"book": "Book now"}, "fr": {"book": "Réserver"}},
    "ctas": [{"id": "hero-cta", "locale": "fr", "key": "book"}],
    "blocks": [{"id": "intro", "html": "<p>Welcome <strong>aboard</strong></p>"}],
}
BUNDLE = json.dumps(DOCUMENT).encode()


def _bare_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI()

    @app.get("/v1/themes/{theme_id}/read", response_class=Response)
    async def read(theme_id: str) -> Any:
        return Response(BUNDLE, media_type="application/json")

    @app.post("/v1/themes/{theme_id}/publish")
    async def publish(theme_id: str) -> dict[str, Any]:
        return {"theme": theme_id, "revision": 1, "sha256": "0" * 64, "size": len(BUNDLE)}

    return app


def _summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    return {"rps": len(latencies) / elapsed, "p95_ms": p95 * 1000.0}


async def _reads(url: str, n: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30, headers=HEADERS) as http:
        queue = iter(range(n))

        async def worker() -> None:
            for _ in queue:
                start = time.perf_counter()
                response = await http.get("/v1/themes/brand/read")
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"read: {response.status_code} {response.text}")

        for _ in range(concurrency):  # warm the connections (and the cache)
            await http.get("/v1/themes/brand/read")
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return _summary(latencies, time.perf_counter() - t0)


async def _publishes(url: str, n: int, concurrency: int, bare: bool) -> dict[str, float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=HEADERS) as http:
        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                start = time.perf_counter()
                if not bare:
                    saved = await http.put(f"/v1/themes/p{i}", json={**DOCUMENT, "name": f"P{i}"})
                    if saved.status_code != 200:
                        raise RuntimeError(f"save: {saved.status_code} {saved.text}")
                response = await http.post(f"/v1/themes/p{i}/publish")
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"publish: {response.status_code} {response.text}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return _summary(latencies, time.perf_counter() - t0)


def _serve_theme(cache: str, backend: str = "embedded") -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "THEME_DATA_DIR": tempfile.mkdtemp(prefix="theme-bench-"),
        "THEME_CACHE": cache,
        "THEME_SCHEMA_NAME": PG_SCHEMA,
    }
    argv = [sys.executable, "-m", "mitigate.cli", "serve", "theme", "--port", str(port)]
    argv += ["--backend", backend]
    process = start(argv, env, url)
    saved = httpx.put(f"{url}/v1/themes/brand", json=DOCUMENT, headers=HEADERS, timeout=30)
    published = httpx.post(f"{url}/v1/themes/brand/publish", headers=HEADERS, timeout=30)
    if saved.status_code != 200 or published.status_code != 200:
        stop(process)
        raise RuntimeError(f"setup: {saved.text} {published.text}")
    return process, url


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _drop_pg_schema() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--publishes", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bare-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        return serve_bare(_bare_app(), args.bare_server)

    bare_port = free_port()
    bare_url = f"http://127.0.0.1:{bare_port}"
    bare = start(
        [sys.executable, __file__, "--bare-server", str(bare_port)], dict(os.environ), bare_url
    )
    results: dict[str, Any] = {"requests": args.requests, "concurrency": args.concurrency}
    # (name, cache, backend): the embedded store, then PostgreSQL with the tables under
    # FORCED row-level security and the service connected as theme_app.
    variants = [("in-process cache", "none", "embedded")]
    if _listening(6379):
        variants.insert(0, ("redis up", "redis://127.0.0.1:6379/15", "embedded"))
    variants.append(("redis down", f"redis://127.0.0.1:{free_port()}/0", "embedded"))
    if _listening(5432):
        variants.append(("postgres RLS", "none", "postgres"))
    try:
        base = asyncio.run(_reads(bare_url, args.requests, args.concurrency))
        results["bare read"] = base
        bare_pubs = asyncio.run(_publishes(bare_url, args.publishes, 4, bare=True))
        for name, cache, backend in variants:
            process, url = _serve_theme(cache, backend)
            try:
                measured = asyncio.run(_reads(url, args.requests, args.concurrency))
                if cache == "none":
                    pubs = asyncio.run(_publishes(url, args.publishes, 4, bare=False))
                    results[f"publish, {backend}"] = {
                        "theme": pubs,
                        "bare": bare_pubs,
                        "ratio": pubs["rps"] / bare_pubs["rps"],
                    }
            finally:
                stop(process)
                if backend == "postgres":
                    _drop_pg_schema()
            results[f"read, {name}"] = {**measured, "ratio": measured["rps"] / base["rps"]}
    finally:
        stop(bare)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"bare read            {base['rps']:7.0f} req/s  p95 {base['p95_ms']:6.1f} ms")
    for name, _, _ in variants:
        r = results[f"read, {name}"]
        print(
            f"read, {name:15} {r['rps']:7.0f} req/s  p95 {r['p95_ms']:6.1f} ms"
            f"  ratio {r['ratio']:.3f}"
        )
    for backend in sorted({backend for _, _, backend in variants}):
        p = results[f"publish, {backend}"]
        print(
            f"publish ({backend:8}) {p['theme']['rps']:6.1f} /s  p95 {p['theme']['p95_ms']:6.1f} ms"
            f"   bare {p['bare']['rps']:7.0f} /s  ratio {p['ratio']:.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
