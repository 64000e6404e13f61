"""The authoring service's collaborative editing (one run, real clock, SQLite).

1. Updates per second merged by a room with 20 concurrent editors: 20 editors (the
   service's collab client over the in-process WebSocket of services/kit/asgi_ws.py) each
   send N block edits to one collab process; each update is applied to the room's pycrdt
   document, appended to the event log, acknowledged and broadcast to the 19 others.
   Beside it, pycrdt applying the same updates to one document directly.
2. Snapshot cost at 60 s for a 5,000-block draft: encoding the document and writing the
   snapshot row, and rebuilding the room from it.
3. Reconnect-to-synced after the collab process is killed: 20 editors of one draft, each
   holding an unsent edit; the process serving it is killed; the time until every editor
   has rejoined the survivor with its edit acknowledged.

Run: uv run python bench/authoring.py [--json] [--editors N] [--updates N] [--blocks N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def _world(root: Path, processes: int) -> tuple[Any, list[Any], Any]:
    import httpx
    from services.authoring.collab.log import DocLog
    from services.authoring.collab.router import CollabRouter
    from services.authoring.collab.server import CollabServer
    from services.authoring.schema import ensure_schema
    from services.authoring.settings import AuthoringSettings
    from services.kit.runtime import Runtime

    settings = AuthoringSettings(data_dir=root, store=f"sqlite:///{root / 'bench.db'}")
    runtime = await Runtime.open(settings)
    await ensure_schema(runtime.store)
    log = DocLog(runtime)
    servers = [CollabServer(f"collab-{n}", runtime, log) for n in range(processes)]
    apps = {s.name: s.app for s in servers}

    def client_for(name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url="http://c", transport=httpx.ASGITransport(apps[name]))

    return runtime, servers, CollabRouter(runtime, list(apps), client_for)


def _editor(user: str, draft: str, servers: list[Any], router: Any, clock: Any) -> Any:
    from services.authoring.collab.client import CollabClient
    from services.kit.asgi_ws import AsgiWebSocket

    by_name = {s.name: s for s in servers}

    async def connect(name: str) -> Any:
        return await AsgiWebSocket.connect(by_name[name].app, f"/v1/collab/{draft}")

    return CollabClient(
        user, draft, locate=lambda: router.route(draft), connect=connect, clock=clock
    )


async def merged_per_second(editors: int, updates: int) -> dict[str, Any]:
    from pycrdt import Doc
    from services.authoring.collab.log import blocks_of

    root = Path(tempfile.mkdtemp(prefix="bench-authoring-"))
    runtime, servers, router = await _world(root, 1)
    try:
        clients = [_editor(f"e{i}", "d1", servers, router, runtime.clock) for i in range(editors)]
        for client in clients:
            await client.join()

        async def type_all(client: Any) -> None:
            for n in range(updates):
                await client.edit(f"{client.name}-{n}", f"paragraph {n} " * 8)

        t0 = time.perf_counter()
        await asyncio.gather(*(type_all(c) for c in clients))
        for client in clients:
            await client.settled(limit=600)
        room_s = time.perf_counter() - t0
        total = editors * updates
        # The same edits as pycrdt updates, applied to one document directly.
        produced: list[bytes] = []
        for i in range(editors):
            doc: Doc[Any] = Doc()
            blocks = blocks_of(doc)
            for n in range(updates):
                before = doc.get_state()
                blocks[f"e{i}-{n}"] = f"paragraph {n} " * 8
                produced.append(doc.get_update(before))
        target: Doc[Any] = Doc()
        blocks_of(target)
        t1 = time.perf_counter()
        for update in produced:
            target.apply_update(update)
        direct_s = time.perf_counter() - t1
        same = all(c.blocks() == dict(blocks_of(target)) for c in clients)
        for client in clients:
            await client.close()
        return {
            "editors": editors,
            "updates": total,
            "room_updates_per_s": round(total / room_s),
            "pycrdt_direct_updates_per_s": round(total / direct_s),
            "room_s": round(room_s, 3),
            "all_clients_converged": same,
        }
    finally:
        await router.aclose()
        await runtime.aclose()
        shutil.rmtree(root, ignore_errors=True)


async def snapshot_cost(blocks: int) -> dict[str, Any]:
    from pycrdt import Doc
    from services.authoring.collab.log import blocks_of

    root = Path(tempfile.mkdtemp(prefix="bench-authoring-"))
    runtime, servers, router = await _world(root, 1)
    try:
        doc: Doc[Any] = Doc()
        content = blocks_of(doc)
        for n in range(blocks):
            content[f"b{n:05d}"] = f"block {n}: " + "lorem ipsum " * 10
        log = servers[0].log
        t0 = time.perf_counter()
        state = doc.get_update()
        encode_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        await log.snapshot("d1", blocks, state)
        write_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        rebuilt = await log.rebuild("d1")
        rebuild_s = time.perf_counter() - t2
        return {
            "blocks": blocks,
            "snapshot_bytes": len(state),
            "encode_ms": round(encode_s * 1000, 1),
            "write_ms": round(write_s * 1000, 1),
            "rebuild_ms": round(rebuild_s * 1000, 1),
            "rebuilt_blocks": len(rebuilt.blocks()),
        }
    finally:
        await router.aclose()
        await runtime.aclose()
        shutil.rmtree(root, ignore_errors=True)


async def reconnect_to_synced(editors: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-authoring-"))
    runtime, servers, router = await _world(root, 2)
    try:
        clients = [_editor(f"e{i}", "d1", servers, router, runtime.clock) for i in range(editors)]
        for client in clients:
            await client.join()
            await client.edit(f"{client.name}-0", "before")
        for client in clients:
            await client.settled(limit=60)
        host = next(s for s in servers if s.name == clients[0].server)
        for client in clients:
            client.edit_local(f"{client.name}-pending", "unsent")
        t0 = time.perf_counter()
        host.kill()
        settled = [await c.settled(limit=60) for c in clients]
        took = time.perf_counter() - t0
        for client in clients:
            await client.close()
        return {"editors": editors, "all_settled": all(settled), "seconds": round(took, 3)}
    finally:
        await router.aclose()
        await runtime.aclose()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--editors", type=int, default=20)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=5000)
    args = parser.parse_args()
    results = {
        "merge": asyncio.run(merged_per_second(args.editors, args.updates)),
        "snapshot": asyncio.run(snapshot_cost(args.blocks)),
        "reconnect": asyncio.run(reconnect_to_synced(args.editors)),
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, values in results.items():
            print(name, " ".join(f"{k}={v}" for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
