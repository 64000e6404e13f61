"""The content service: publishes per second through its HTTP API, and a 4 GB package build.

1. Publishes per second through the HTTP API (in-process ASGI client, real clock, the saga
   worker, relay and the embedded fake catalog running): PUT the draft, POST publish, until
   every draft is published. Each publish is the full saga of seven steps (build, KMS
   sign, two object puts, catalog registration over HTTP, the built event through the
   outbox and the bus, the catalog's confirmation). Beside it, from the same run, the bare
   saga of bench/sagas.py (three empty steps) on the same store: the ratio says what the
   service's real work costs over the saga bookkeeping. SQLite and PostgreSQL.
2. A package of 500 generated assets of 8 MB each (sparse files: no 4 GB fixture on disk)
   built by the builder subprocess (each asset streamed once through SHA-256 into the
   package index, under its address-space limit): its peak RSS (target < 200 MB) and
   throughput against reading + SHA-256 of the same bytes in this process (target >= 50 %;
   the builder pays a process start and the asset checks through ``asset.fetch``).

Run: uv run python bench/content.py [--json] [--publishes N] [--assets N] [--asset-mb N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DSN = os.environ.get("MITIGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
CATALOG = ROOT / "services" / "content" / "catalog.yaml"


async def _bare_sagas(url: str, n: int, concurrency: int) -> float:
    import mitigate
    from mitigate.durable import open_store

    store = await open_store(url)
    saga = mitigate.Saga(
        "bench.three",
        [
            mitigate.Step("a", lambda ctx: {"a": ctx.input}),
            mitigate.Step("b", lambda ctx: {"b": ctx.results["a"]}),
            mitigate.Step("c", lambda ctx: {"c": ctx.results["b"]}),
        ],
    )
    async with mitigate.SagaWorker(store, [saga], concurrency=concurrency) as worker:
        await worker.execute(saga, 0)
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> str:
            async with sem:
                return (await worker.execute(saga, i)).state

        t0 = time.perf_counter()
        states = await asyncio.gather(*(one(i) for i in range(n)))
        seconds = time.perf_counter() - t0
    await store.aclose()
    assert states.count("completed") == n
    return n / seconds


async def _publishes(store_url: str, n: int, concurrency: int, root: Path) -> float:
    import httpx
    from services.content.service import open_content
    from services.content.settings import ContentSettings
    from services.content.workers import running
    from services.kit.runtime import Runtime

    import mitigate

    settings = ContentSettings(
        data_dir=root,
        store=store_url,
        builder="inline",
        poll=0.02,
        saga_poll=0.02,
        confirm_poll=0.02,
    )
    clock = mitigate.RealClock()
    catalog = mitigate.Catalog.load(CATALOG, clock=clock)
    runtime = await Runtime.open(settings, clock=clock, policy=catalog.policy)
    content = await open_content(settings, runtime=runtime)
    assets = root / "content-assets" / "acme"
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "index.html").write_bytes(b"<h1>lesson</h1>" * 64)
    manifest = {
        "title": "Bench",
        "version": "1.0",
        "entry": "index.html",
        "assets": [{"path": "index.html", "source": "index.html"}],
    }
    transport = httpx.ASGITransport(app=content.app)
    async with (
        running(content),
        httpx.AsyncClient(
            transport=transport, base_url="http://content.test", headers={"x-tenant-id": "acme"}
        ) as http,
    ):
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> str:
            async with sem:
                draft = f"d{i}"
                await http.put(f"/v1/drafts/{draft}", json=manifest)
                assert (await http.post(f"/v1/drafts/{draft}/publish")).status_code == 202
                while True:
                    state = (await http.get(f"/v1/drafts/{draft}")).json()["state"]
                    if state != "building":
                        return str(state)
                    await clock.asleep(0.01)

        await one(-1)  # warm up
        t0 = time.perf_counter()
        states = await asyncio.gather(*(one(i) for i in range(n)))
        seconds = time.perf_counter() - t0
    await content.aclose()
    assert states.count("published") == n, states[:5]
    return n / seconds


def _read_and_hash(files: list[Path]) -> float:
    t0 = time.perf_counter()
    for path in files:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return time.perf_counter() - t0


def _sparse_files(folder: Path, n: int, size: int) -> list[Path]:
    files = []
    for i in range(n):
        path = folder / f"video{i:03}.mp4"
        with open(path, "wb") as f:
            f.truncate(size)  # sparse: generated, not stored
        files.append(path)
    return files


async def _big_build(n: int, size: int, root: Path) -> dict[str, Any]:
    from services.content.adapters.assets import LocalAssets
    from services.content.adapters.builder import ProcessBuilder

    import mitigate

    assets = LocalAssets(root / "assets")
    folder = root / "assets" / "acme"
    folder.mkdir(parents=True, exist_ok=True)
    files = _sparse_files(folder, n, size)
    baseline = _read_and_hash(files)
    catalog = mitigate.Catalog.load(CATALOG, clock=mitigate.RealClock())
    builder = ProcessBuilder(assets, catalog.policy, memory_mb=512)
    pairs = [(p.name, p.name) for p in files]
    t0 = time.perf_counter()
    built = await builder.build("acme", pairs)
    seconds = time.perf_counter() - t0
    assert built.size == n * size
    total = n * size
    return {
        "bytes": total,
        "build_seconds": seconds,
        "read_sha256_seconds": baseline,
        "build_mb_s": total / seconds / 1e6,
        "read_sha256_mb_s": total / baseline / 1e6,
        "ratio": baseline / seconds,
        "peak_rss_mb": built.peak_rss / 2**20,
    }


def _postgres_up() -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", 5432)) == 0


async def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stores = [("sqlite", lambda name: f"sqlite:///{root / name}.db")]
        if _postgres_up():
            stores.append(
                ("postgres", lambda name: f"{DSN}?schema=bench_{name}_{uuid.uuid4().hex[:6]}")
            )
        for label, url in stores:
            bare = await _bare_sagas(url("bare"), args.sagas, args.concurrency)
            publish = await _publishes(
                url("content"), args.publishes, args.concurrency, root / f"svc-{label}"
            )
            rows.append({"name": f"saga.bare.{label}", "per_s": round(bare, 1)})
            rows.append(
                {
                    "name": f"content.publish.{label}",
                    "per_s": round(publish, 1),
                    "vs_bare_saga": round(publish / bare, 3),
                }
            )
        build = await _big_build(args.assets, args.asset_mb << 20, root / "big")
        rows.append({"name": f"build.{args.assets}x{args.asset_mb}MB", **build})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--publishes", type=int, default=200)
    parser.add_argument("--sagas", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--asset-mb", type=int, default=8)
    args = parser.parse_args()
    rows = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        rest = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in row.items()
            if k != "name"
        )
        print(f"{row['name']:<28} {rest}")
    build = rows[-1]
    print(
        f"\nbuild peak RSS {build['peak_rss_mb']:.0f} MB (target < 200), throughput "
        f"{build['ratio']:.0%} of read + SHA-256 (target >= 50%)"
    )


if __name__ == "__main__":
    main()
