"""The edge service opened for one experiment run, driven through its HTTP API.

The run's clock, policies (faults attach to them; ``--mutate`` can remove them), switches
and observers (the catalog's detector among them, so the service's own events raise the
catalog's alerts). Tenants come from config files written into the run's folder; the
failure log records the service writes are captured for the checks of traceability.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import mitigate
from services.kit.runtime import AllOn, Runtime

from .actors import log as actor_log
from .ai import log as ai_log
from .middleware import log as request_log
from .service import Edge, open_edge
from .settings import EdgeSettings

__all__ = ["TENANTS", "World", "alerts", "open_world", "write_tenants"]

TENANTS: dict[str, dict[str, Any]] = {
    "acme": {
        "id": "acme",
        "plan": "production",
        "hosts": ["acme.example.com"],
        "api_keys": ["key-acme-1"],
        "limits": {"requests_per_minute": 1000},
    },
    "globex": {
        "id": "globex",
        "plan": "free",
        "hosts": ["globex.example.com"],
        "api_keys": ["key-globex-1"],
    },
}


def write_tenants(folder: Path, tenants: dict[str, Any] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.json"):
        path.unlink()
    for name, config in (TENANTS if tenants is None else tenants).items():
        text = config if isinstance(config, str) else json.dumps(config)
        (folder / f"{name}.json").write_text(text)


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class World:
    run: Any
    edge: Edge
    root: Path
    logs: Captured
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def clock(self) -> Any:
        return self.run.clock

    @property
    def tenants_dir(self) -> Path:
        return self.root / "tenants"

    def client(self, ip: str = "203.0.113.7", **headers: str) -> httpx.AsyncClient:
        """A caller at address ``ip``; an unhandled error reaches it as over the network."""
        transport = httpx.ASGITransport(
            app=self.edge.app, raise_app_exceptions=False, client=(ip, 40000)
        )
        http = httpx.AsyncClient(transport=transport, base_url="http://edge.test", headers=headers)
        self.clients.append(http)
        return http

    def tenant(self, tenant: str = "acme") -> httpx.AsyncClient:
        return self.client(**{"x-tenant-id": tenant})

    def ops(self) -> httpx.AsyncClient:
        return self.client(**{"x-ops-token": self.edge.settings.ops_token})

    def failure_records(self) -> list[logging.LogRecord]:
        return [r for r in self.logs.records if r.levelno >= logging.WARNING]


def settings_for(run: Any, root: Path, **overrides: Any) -> EdgeSettings:
    settings = EdgeSettings(
        data_dir=root,
        tenants_dir=str(root / "tenants"),
        store=f"sqlite:///{root / 'edge.db'}?durability=normal",
    )
    backend = getattr(run, "backend", "embedded") or "embedded"
    unique = f"x{uuid.uuid4().hex[:10]}"
    # Each run's KV keys are its own on a shared Redis. The bus is polled once a second
    # (a publish wakes its consumer at once): a 40 min run in virtual time stays cheap.
    updates: dict[str, Any] = {"kv_prefix": f"edge:{unique}:", "poll": 1.0}
    if backend != "embedded":
        updates |= settings.with_backend(backend).model_dump(include={"store", "bus", "cache"})
        updates["schema_name"] = f"edge_{unique}"
        updates["stream"] = f"EDGE_{unique.upper()}"
        updates["subject_prefix"] = f"{unique}."
        if isinstance(run.clock, mitigate.VirtualClock):
            # JetStream times a nak's redelivery delay on the server, in real seconds,
            # while the run's clock jumps: ingestion's 10 s..5 min schedule would never
            # line up. In virtual time the bus is the store-backed one (same contract,
            # on the run's PostgreSQL); NATS is proven on the real clock
            # (tests/services/edge/test_ingest_on_nats.py).
            updates["bus"] = "inproc"
    return settings.model_copy(update={**updates, **overrides})


async def open_world(
    run: Any, *, tenants: dict[str, Any] | None = None, workers: bool = False, **overrides: Any
) -> World:
    """The edge service for this run with its tenant configs written and loaded;
    ``workers``: the ingestion worker and the keep-warm loop run beside it."""
    if overrides.get("kv"):
        await pace_for_real_server(run, overrides["kv"])
    root = Path(tempfile.mkdtemp(prefix="edge-run-"))
    write_tenants(root / "tenants", tenants)
    settings = settings_for(run, root, **overrides)
    catalog = getattr(run, "catalog", None)
    detector = [catalog.detector] if catalog is not None else []
    runtime = await Runtime.open(
        settings,
        clock=run.clock,
        policy=run.policy,
        switches=getattr(run, "switches", None) or AllOn(),
        observers=[*run.observers, *detector],
        injector=run.injector,
    )
    logs = Captured()
    request_log.addHandler(logs)
    actor_log.addHandler(logs)
    ai_log.addHandler(logs)
    edge = await open_edge(settings, runtime=runtime, catalog=catalog)
    world = World(run, edge, root, logs)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(edge.ingestion.run(stop))] if workers else []
    if workers:
        tasks.append(asyncio.create_task(edge.keep_warm(stop)))

    async def close() -> None:
        stop.set()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        request_log.removeHandler(logs)
        actor_log.removeHandler(logs)
        ai_log.removeHandler(logs)
        for http in world.clients:
            await http.aclose()
        delete_stream = getattr(runtime.bus, "delete_stream", None)
        if delete_stream is not None:  # the run's own NATS stream
            await delete_stream()
        drop_schema = getattr(runtime.store, "drop_schema", None)
        if drop_schema is not None and settings.store.startswith("postgres"):
            await drop_schema()
        await edge.aclose()
        shutil.rmtree(root, ignore_errors=True)

    run.rollback(close)
    return world


# Real seconds the virtual clock waits, idle, before jumping while a KV reply is on its way
# over a real socket (loopback Redis answers in well under a millisecond; this leaves room
# for a machine shared by several test runs).
REAL_SERVER_PACE = 0.25


async def pace_for_real_server(run: Any, url: str) -> None:
    """KV rows use the real Redis even on the embedded backend: the virtual clock must not
    jump past a reply in flight (it would time a healthy call out), so it waits longer
    before jumping; one round trip first, so the connection is not made inside a call."""
    clock = run.clock
    if hasattr(clock, "autojump_threshold"):
        clock.autojump_threshold = max(clock.autojump_threshold, REAL_SERVER_PACE)
    from .kv import open_redis

    client = open_redis(url)
    try:
        await client.ping()
    finally:
        await client.aclose()


def alerts(run: Any, rule: str) -> list[Any]:
    """The ``alert.raised`` events of one detection rule in this run."""
    return [e for e in run.recorder.named("alert.raised") if getattr(e, "rule", "") == rule]


def expect_traceable(run: Any, world: World, *, required: bool = True) -> None:
    """edge principle 4: every failure log record carries requestId and tenantId (or the
    explicit unresolved marker); a record without them fails the run. ``required``: the
    run must have produced failure records (else none is fine)."""
    records = world.failure_records()
    missing = [
        r.getMessage()
        for r in records
        if not getattr(r, "requestId", "") or not getattr(r, "tenantId", "")
    ]
    run.expect(
        "every failure log record carries requestId and tenantId",
        (bool(records) or not required) and not missing,
        f"{len(records)} records, without ids: {missing[:3]}",
    )
