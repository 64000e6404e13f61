"""The tenant registry's PostgreSQL taken away for real (TCP fault proxy): every request
is refused with 503 REGISTRY_UNAVAILABLE and reaches no handler; when PostgreSQL is back
the same requests are served."""

from __future__ import annotations

import asyncio
import uuid

from services.edge.harness import open_world
from tests.conftest import require_postgres
from tests.services.edge.virtual_run import VirtualRun

import mitigate
from mitigate.chaos import FaultProxy


async def _scenario(dsn: str) -> None:
    host_port = dsn.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    async with FaultProxy(host, int(port)) as proxy:
        run = VirtualRun(mitigate.RealClock())  # a real server, in real time
        store = dsn.replace(host_port, f"127.0.0.1:{proxy.port}")
        world = await open_world(run, store=store, schema_name=f"edge_r{uuid.uuid4().hex[:8]}")
        try:
            http = world.tenant("acme")
            assert (await http.get("/v1/hello")).status_code == 200
            handled = world.edge.handled
            await proxy.down()
            for _ in range(3):
                refused = await http.get("/v1/hello")
                assert refused.status_code == 503, refused.text
                assert refused.json()["code"] == "MITIGATE.TENANT.REGISTRY_UNAVAILABLE"
            assert world.edge.handled == handled
            await proxy.up()
            for _ in range(50):  # the pool reconnects
                if (await http.get("/v1/hello")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await http.get("/v1/hello")).status_code == 200
        finally:
            await proxy.up()
            drop = getattr(world.edge.runtime.store, "drop_schema", None)
            if drop is not None:
                await drop()
            await run.close()


def test_registry_postgres_down_refuses_everything() -> None:
    asyncio.run(_scenario(require_postgres()))
