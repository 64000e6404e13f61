"""The publish side of the content service, opened for one experiment run.

An experiment drives the service as an author would, through its HTTP API (an in-process
httpx client on the run's clock), on the run's policies (faults attach to them and
``--mutate`` can remove them), switches and observers. With ``run.backend ==
"postgres+nats+redis"`` the same world runs on the real servers (a fresh PostgreSQL schema
and NATS stream per run).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import mitigate
import mitigate.chaos
from services.kit.embedded_redis import redis_address
from services.kit.experiments import events_since, observers_for, run_runtime
from services.kit.proxied import ToProxy, serve_behind_proxy
from services.kit.runtime import Runtime

from .service import Content, open_content
from .settings import ContentSettings
from .workers import running

__all__ = ["World", "events_since", "observers_for", "open_world"]

TENANT = "acme"
CATALOG = Path(__file__).parent / "catalog.yaml"


@dataclass
class World:
    run: Any
    content: Content
    http: httpx.AsyncClient
    root: Path
    loops: dict[str, Any] = field(default_factory=dict)
    proxy: Any = None
    """On the real clock: the TCP fault proxy between content and the catalog service."""

    @property
    def real_time(self) -> bool:
        return self.proxy is not None

    async def partition_catalog(self, duration: float) -> None:
        """Cut content from the catalog for ``duration`` seconds: in virtual time a
        fault at the catalog call (attempts hang to their timeout); on the real clock a
        black hole on the TCP link, cleared after ``duration``."""
        if self.proxy is None:
            cut = mitigate.chaos.Partition(a="content", b="catalog", hang=30)
            await self.run.inject(cut, duration=duration)
            return
        proxy = self.proxy
        label = f"partition content <-> catalog for {duration:g}s (TCP proxy)"
        self.run.timeline.window(self.clock.now(), None, label)  # the run's fault window
        proxy.blackhole()
        proxy.reset_connections()  # pooled connections go into the hole too

        async def heal() -> None:
            await self.clock.asleep(duration)
            proxy.clear()
            self.run.timeline.close_window(label, self.clock.now())

        self._tasks.append(asyncio.ensure_future(heal()))

    _tasks: list[Any] = field(default_factory=list)

    @property
    def clock(self) -> Any:
        return self.run.clock

    def asset(
        self, name: str, data: bytes | None = None, *, size: int = 0, tenant: str = TENANT
    ) -> str:
        """Put an asset in the tenant's asset store (``size``: a sparse file of zeros)."""
        path = self.content.assets.path(tenant, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        else:
            with open(path, "wb") as f:
                f.truncate(size)
        return name

    def manifest(self, assets: list[str], **extra: Any) -> dict[str, Any]:
        body = {
            "title": "Course",
            "version": "1.0",
            "entry": assets[0],
            "assets": [{"path": a, "source": a} for a in assets],
        }
        body.update(extra)
        return body

    async def draft(self, draft_id: str, manifest: dict[str, Any]) -> httpx.Response:
        return await self.http.put(f"/v1/drafts/{draft_id}", json=manifest)

    async def publish(self, draft_id: str) -> httpx.Response:
        return await self.http.post(f"/v1/drafts/{draft_id}/publish")

    async def settle(
        self, draft_id: str, *, limit: float = 20 * 60, every: float = 5.0
    ) -> dict[str, Any]:
        """Poll the draft (as the author's UI does) until its publish ends."""
        end = self.clock.now() + limit
        while True:
            body: dict[str, Any] = (await self.http.get(f"/v1/drafts/{draft_id}")).json()
            if body.get("state") != "building" or self.clock.now() >= end:
                return body
            await self.clock.asleep(every)

    async def saga_state(self, publish_id: str) -> str:
        body = (await self.http.get(f"/v1/publishes/{publish_id}")).json()
        return str(body.get("state"))

    async def objects(self, prefix: str = "packages/") -> list[str]:
        return await self.content.runtime.objects.list(prefix)

    async def alerts(self, audience: str = "author") -> list[dict[str, Any]]:
        return (await self.http.get("/v1/alerts", params={"audience": audience})).json()  # type: ignore[no-any-return]


def settings_for(run: Any, root: Path, **overrides: Any) -> ContentSettings:
    settings = ContentSettings(
        data_dir=root,
        builder="inline",
        poll=1.0,
        saga_poll=1.0,
        # Each run's store is thrown away: no fsync per commit.
        store=f"sqlite:///{root / 'content.db'}?durability=normal",
    )
    backend = getattr(run, "backend", "embedded") or "embedded"
    if backend != "embedded":
        # The process id first: a test can tell its own runs' schemas from those of other
        # runs on the same server (tests/services/content/test_backend_verify.py).
        unique = f"x{os.getpid()}y{uuid.uuid4().hex[:10]}"
        settings = settings.with_backend(backend).model_copy(  # type: ignore[assignment]
            update={
                "schema_name": f"content_{unique}",
                "stream": f"CONTENT_{unique.upper()}",
                "subject_prefix": f"{unique}.",
            }
        )
    return settings.model_copy(update=overrides)  # type: ignore[return-value]


def redelivery_bus(run: Any) -> dict[str, Any]:
    """Settings overrides for a row whose proof is redelivery after ``ack_wait``.

    NATS JetStream times ``ack_wait`` on the server, in real time, while the run's clock
    is virtual: a 30 s redelivery would arrive after the 15 min saga timeout had passed in
    virtual time. On a run with ``nats`` these rows therefore use the store-backed bus
    (on the run's PostgreSQL, its timers on the run's clock); NATS itself is proven by the
    other rows' publish paths and, for these rows, by their run on the real clock (the
    catalog's ``real_time``), where the server's ack_wait and the run's clock agree.
    """
    uses = getattr(run, "uses", None)
    virtual = isinstance(run.clock, mitigate.VirtualClock)
    if uses is not None and uses("nats") and virtual:
        return {"bus": "inproc"}
    return {}


@dataclass
class NatsLink:
    """On the real clock with NATS: the service's NATS connection runs through mitigate's
    fault proxy with NATS framing, so whole protocol messages can be dropped (publishes
    and acks on the way up, deliveries on the way down), each drop a fault event."""

    proxy: Any
    run: Any

    def drop(self, rate: float, duration: float) -> None:
        """Drop ``rate`` of publishes, deliveries and acks for ``duration`` seconds."""
        proxy = self.proxy
        proxy.drop_messages(rate, direction="upstream", match=lambda f: f.is_publish or f.is_ack)
        proxy.drop_messages(rate, direction="downstream", match=lambda f: f.is_delivery)
        clock, timeline = self.run.clock, self.run.timeline
        label = f"drop {rate:.0%} of NATS publishes, deliveries and acks (TCP proxy)"
        timeline.window(clock.now(), None, label)

        async def heal() -> None:
            await clock.asleep(duration)
            proxy.clear()
            timeline.close_window(label, clock.now())

        task = asyncio.ensure_future(heal())
        self.run.rollback(task.cancel)


async def nats_through_proxy(run: Any) -> tuple[dict[str, Any], NatsLink | None]:
    """Settings overrides and the link for a row that drops NATS messages: on the real
    clock with NATS, the bus URL points at a framing fault proxy in front of the server;
    otherwise :func:`redelivery_bus` (the run's fault points do the dropping)."""
    uses = getattr(run, "uses", None)
    if uses is None or not uses("nats") or isinstance(run.clock, mitigate.VirtualClock):
        return redelivery_bus(run), None
    server = ContentSettings().with_backend(run.backend).bus.removeprefix("nats://")
    host, port = server.rsplit(":", 1)
    observers = mitigate.Observers(observers_for(run))

    def dropped(way: str, frame: Any) -> None:
        kind = "deliver" if frame.is_delivery else "ack" if frame.is_ack else "publish"
        observers.emit(
            mitigate.FaultInjected(
                target=f"bus.{kind}",
                at=run.clock.now(),
                fault="drop",
                detail=f"{frame.op} {frame.subject} dropped {way} by the NATS proxy",
            )
        )

    proxy = mitigate.chaos.FaultProxy(
        host,
        int(port),
        frames=mitigate.chaos.NatsFrames,
        on_drop=dropped,
        random=random.Random(10).random,  # the same drops for the same traffic
    )
    await proxy.start()
    run.rollback(proxy.stop)  # registered first: stops after the service has closed
    return {"bus": f"nats://127.0.0.1:{proxy.port}"}, NatsLink(proxy, run)


async def with_shared_cache(run: Any) -> dict[str, Any]:
    """Settings for workers that share their breakers: a Redis (the real one under
    ``--backend ...redis``, else one embedded for the run) and one namespace."""
    (host, port), stop = redis_address(run)
    run.rollback(stop)
    return {"cache": f"redis://{host}:{port}/0", "breaker_namespace": f"content-{uuid.uuid4().hex}"}


async def open_second_worker(run: Any, world: World) -> World:
    """Another worker process of the same deployment: the same cache and breaker
    namespace as ``world``, but pipelines (and so breakers) of its own, loaded from the
    catalog as a second process would, and none of the run's faults on them."""
    settings = world.content.runtime.settings
    catalog = mitigate.Catalog.load(CATALOG, clock=run.clock, observers=observers_for(run))
    return await open_world(
        run,
        policy=catalog.policy,
        cache=settings.cache,
        breaker_namespace=settings.breaker_namespace,
    )


async def open_world(run: Any, *, policy: Any = None, **overrides: Any) -> World:
    """The content service for this run, its workers running, and an author's client.

    ``policy`` replaces the run's pipelines (a second worker process has breakers of its
    own); settings ``overrides`` go to :func:`settings_for`."""
    root = Path(tempfile.mkdtemp(prefix="content-run-"))
    settings = settings_for(run, root, **overrides)
    runtime = await run_runtime(run, settings, policy=policy)
    real = not isinstance(run.clock, mitigate.VirtualClock)
    to_proxy = ToProxy() if real else None
    content = await open_content(settings, runtime=runtime, catalog_transport=to_proxy)
    proxied = None
    if to_proxy is not None:  # the catalog over a real link, through the fault proxy
        assert content.fake_catalog is not None
        proxied = await serve_behind_proxy(content.fake_catalog.app, run.clock, to_proxy)
    workers = running(content)
    loops = await workers.__aenter__()
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=content.app),
        base_url="http://content.test",
        headers={"x-tenant-id": TENANT},
    )
    world = World(run, content, http, root, loops)
    if proxied is not None:
        world.proxy = proxied.proxy

    async def close() -> None:
        for task in world._tasks:
            task.cancel()
        await http.aclose()
        await workers.__aexit__(None, None, None)
        if proxied is not None:
            await proxied.stop()
        if (getattr(run, "backend", "embedded") or "embedded") != "embedded":
            await _drop_run_backends(runtime)
        await content.aclose()
        shutil.rmtree(root, ignore_errors=True)

    run.rollback(close)
    return world


async def _drop_run_backends(runtime: Runtime) -> None:
    """Leave the real servers as the run found them: its NATS stream and its PostgreSQL
    schema (both named uniquely for the run by :func:`settings_for`) are removed."""
    delete_stream = getattr(runtime.bus, "delete_stream", None)
    if delete_stream is not None:
        await delete_stream()
    drop_schema = getattr(runtime.store, "drop_schema", None)
    if drop_schema is not None:
        await drop_schema()


def first_call(run: Any, target: str, since: float) -> dict[str, Any]:
    """How the first call of ``target`` after ``since`` went: its attempts, the retry delays
    it took, when it started and when it gave up (``None`` when it did not)."""
    starts = events_since(run, "attempt.started", target, since)
    if not starts:
        return {"attempts": 0, "delays": [], "start": None, "gave_up": None}
    t0 = starts[0].at
    ends = [
        e.at
        for name in ("retry.exhausted", "budget.exhausted", "attempt.succeeded")
        for e in events_since(run, name, target, t0)
    ]
    end = min(ends) if ends else None
    attempts = [e for e in starts if end is None or e.at <= end]
    # One call's attempts are numbered 1, 2, ...: stop where numbering restarts.
    call = [attempts[0]]
    for e in attempts[1:]:
        if e.attempt <= call[-1].attempt:
            break
        call.append(e)
    last = call[-1].at
    delays = [e.delay for e in events_since(run, "retry.scheduled", target, t0) if e.at <= last]
    gave_up = [
        e.at
        for name in ("retry.exhausted", "budget.exhausted")
        for e in events_since(run, name, target, t0)
    ]
    return {
        "attempts": len(call),
        "delays": delays,
        "start": t0,
        "last_start": last,
        "gave_up": min(gave_up) if gave_up else None,
    }
