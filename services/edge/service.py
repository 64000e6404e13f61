"""The edge service assembled: runtime, tenant registry, counters, app; and ``serve``.

``open_edge(settings)`` builds it on the backends the settings name (or on a runtime an
experiment built); ``serve()`` is what ``uv run mitigate serve edge`` runs. A tenant
config set that does not validate is logged and the process never becomes ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import Counter

from services.kit.runtime import Runtime
from services.kit.serve import background, run_service

from .actors import ActorHost
from .adapters.ai_provider import AiClient, FakeAiProvider
from .ai import AiGateway
from .app import build_app
from .chat import ChatSessions
from .domain.embedding import HashEmbedder
from .domain.tenant_config import InvalidConfigError
from .flags import Flags
from .ingest import Ingestion
from .kv import Kv, open_redis
from .kv_lint import lint_catalog
from .limiter import Limiters
from .pool import WorkerPool
from .probing import ProbeCounter
from .rag import Rag
from .schema import ensure_schema
from .settings import EdgeSettings
from .tenants import StoreTenantRegistry, TenantDirectory
from .vectors import VectorIndex

__all__ = ["Edge", "open_edge", "serve"]

log = logging.getLogger("services.edge")


@dataclass
class Edge:
    settings: EdgeSettings
    runtime: Runtime
    directory: TenantDirectory
    registry: StoreTenantRegistry
    probes: ProbeCounter
    errors_total: Counter
    kv: Kv
    flags: Flags
    actors: ActorHost
    chat: ChatSessions
    limiters: Limiters
    ai: Any = None  # the AiGateway, set once its client is open
    index: Any = None  # the VectorIndex
    rag: Any = None
    ingestion: Any = None
    pool: Any = None  # the WorkerPool
    fake_ai: FakeAiProvider | None = None
    shared_hosts: tuple[str, ...] = ("edge.test", "127.0.0.1", "localhost")
    handled: int = 0  # the handler spy: how many requests reached a worker handler
    app: Any = None
    closers: list[Any] = field(default_factory=list)

    async def production_tenants(self) -> list[str]:
        rows = await self.runtime.store.fetch(
            "SELECT id FROM edge_tenants WHERE plan = 'production'", ()
        )
        return [str(r[0]) for r in rows]

    async def keep_warm(self, stop: asyncio.Event) -> None:
        await self.pool.keep_warm(self.production_tenants, stop)

    async def tenant_limit(self, tenant: str, name: str, default: int) -> int:
        """A limit from the tenant's config (``limits``), else ``default``."""
        rows = await self.runtime.store.fetch(
            "SELECT config FROM edge_tenants WHERE id = ?", (tenant,)
        )
        if not rows:
            return default
        limits = json.loads(rows[0][0]).get("limits", {})
        return int(limits.get(name, default))

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()
        await self.runtime.aclose()


async def open_edge(
    settings: EdgeSettings, *, runtime: Runtime | None = None, catalog: Any = None
) -> Edge:
    """The edge service on ``runtime`` (opened from ``settings`` when not given).
    ``catalog``: where the catalog values come from (an experiment's run catalog)."""
    settings = settings.resolved()  # type: ignore[assignment]
    if runtime is None:
        runtime = await Runtime.open(settings)
    refused = lint_catalog(Path(settings.catalog), switches=runtime.switches)
    if refused:  # a strongly consistent operation placed on KV: refuse to start
        raise RuntimeError("catalog refused by the KV lint: " + "; ".join(refused))
    await runtime.migrate(ensure_schema)
    folder = Path(settings.tenants_dir or Path(settings.data_dir) / "tenants")
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    directory = TenantDirectory(runtime, folder)
    source = catalog if catalog is not None else runtime.catalog
    details = source.failure_mode("edge.fm.2.2a").details if source is not None else {}
    probes = ProbeCounter(
        runtime,
        threshold=int(details.get("probing threshold", "20").split()[0]),
        window=float(details.get("probing window seconds", "60")),
        registry=runtime.registry,
    )
    errors = Counter("errors", "Requests answered 5xx", registry=runtime.registry)
    kv = Kv(
        runtime,
        open_redis(settings.kv_url) if settings.kv_url else None,
        prefix=settings.kv_prefix,
        delays=settings.kv_delays,
        registry=runtime.registry,
    )
    registry = StoreTenantRegistry(runtime, directory)
    actors = ActorHost(runtime, registry=runtime.registry)
    shard = source.failure_mode("edge.fm.2.4b").details if source is not None else {}
    cold = source.failure_mode("edge.fm.2.1b").details if source is not None else {}
    cap = source.failure_mode("edge.fm.2.4c").details if source is not None else {}
    chat = ChatSessions(runtime, actors, cap=int(cap.get("maxMessagesPerSession", "100")))
    edge = Edge(
        settings,
        runtime,
        directory,
        registry,
        probes,
        errors,
        kv,
        Flags(runtime, kv),
        actors,
        chat,
        Limiters(
            runtime,
            shards=settings.limiter_shards or int(shard.get("shards", "8")),
            work=float(shard.get("work per call seconds", "0.002")),
            window=60.0,
            registry=runtime.registry,
        ),
    )
    edge.closers.append(kv.aclose)
    edge.fake_ai, ai_client = _ai_client(settings, runtime)
    edge.ai = AiGateway(runtime, ai_client, platform_key=settings.ai_key)
    edge.closers.append(ai_client.aclose)
    edge.index = VectorIndex(runtime, HashEmbedder(), registry=runtime.registry)
    edge.rag = Rag(runtime, edge.index, edge.ai)
    edge.ingestion = Ingestion(runtime, edge.index)
    edge.pool = WorkerPool(
        runtime,
        init=float(cold.get("cold start seconds", "1.2")),
        idle=float(cold.get("idle seconds", "300")),
        min_warm=int(cold.get("min warm per production tenant", "1")),
        registry=runtime.registry,
    )
    try:
        await directory.load()
    except InvalidConfigError as exc:
        log.error("tenant config invalid, not ready: %s", exc)
    if directory.loaded:  # ready only after the production tenants are warm
        await edge.pool.warm(await edge.production_tenants())
    edge.app = build_app(edge)
    return edge


def _ai_client(settings: EdgeSettings, runtime: Runtime) -> tuple[FakeAiProvider | None, AiClient]:
    """The provider at ``ai_url``, or the fake provider server reached in process."""
    if settings.ai_url:
        return None, AiClient(httpx.AsyncClient(base_url=settings.ai_url, timeout=30))
    fake = FakeAiProvider(runtime.clock)
    transport = httpx.ASGITransport(app=fake.app)
    return fake, AiClient(httpx.AsyncClient(transport=transport, base_url="http://ai.fake"))


@contextlib.asynccontextmanager
async def _serving(settings: EdgeSettings) -> AsyncIterator[Any]:
    edge = await open_edge(settings)
    try:
        async with background(edge.ingestion.run, edge.keep_warm):
            yield edge.app
    finally:
        await edge.aclose()


def serve(*, host: str = "127.0.0.1", port: int = 8000, backend: str = "embedded") -> int:
    """Run the edge service until SIGTERM (the ``mitigate.services`` entry point)."""
    settings = EdgeSettings().with_backend(backend)
    return run_service(lambda: _serving(settings), host=host, port=port)  # type: ignore[arg-type]
