"""A small service and its experiment written against mitigate's public names only.

mypy (strict) checks this file (``[tool.mypy] files``); pytest never runs it. If a public
name is renamed, removed or changes its signature, mypy fails here first.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import JSONResponse

import mitigate
from mitigate.bus import Message
from mitigate.chaos import FaultInjector, Latency, Outage, Run, experiment
from mitigate.durable import Store, open_store
from mitigate.guard import PiiLeakError, Protected, assert_no_protected, redact
from mitigate.observe import PrometheusObserver, Recorder, StructlogObserver
from mitigate.web import ErrorEnvelopeMiddleware, Health, current_trace_id, error_body

# -- the service ------------------------------------------------------------------------

MIGRATIONS = [
    mitigate.Migration(
        1,
        "drafts",
        sqlite=("CREATE TABLE content_drafts (id TEXT PRIMARY KEY, body TEXT NOT NULL)",),
        postgres=("CREATE TABLE content_drafts (id TEXT PRIMARY KEY, body TEXT NOT NULL)",),
    )
]


class Author(BaseModel):
    display: str
    email: Annotated[str, Protected()]


class Published(BaseModel):
    draft: str
    author: Author


class Content:
    """The content service's core: its store, queue, scheduler, health and policies."""

    def __init__(
        self, store: Store, clock: mitigate.Clock, observers: list[mitigate.Observer]
    ) -> None:
        self.store = store
        self.clock = clock
        self.switches = mitigate.Switches()
        self.thumbnails = mitigate.WorkQueue(
            store,
            "content.thumbnails",
            retry=mitigate.Retry(4, base=1.0, cap=60.0),
            max_attempts=5,
            lease=30.0,
            observers=observers,
        )
        self.scheduler = mitigate.Scheduler(clock=clock, observers=observers)
        self.scheduler.every("content.reconcile", 300.0, self.reconcile)
        self.health = Health(clock=clock, timeout=1.0, observers=observers)
        self.health.check("store", self.store_ok)
        self.health.check("queue", self.queue_ok, critical=False)
        self.cdn = mitigate.Pipeline(
            "content.cdn.purge",
            mitigate.Retry(3, schedule=(0.1, 0.5, 2.0)),
            mitigate.Breaker(failures=5, window=30.0, reset=60.0),
            mitigate.Timeout(2.0),
            clock=clock,
            observers=observers,
        )
        self.outbox = mitigate.Outbox(store)

    async def store_ok(self) -> bool:
        rows = await self.store.fetch("SELECT 1")
        return rows == [(1,)]

    async def queue_ok(self) -> bool:
        counts: dict[str, int] = await self.thumbnails.counts()
        return counts["dead"] == 0

    async def reconcile(self) -> None:
        await self.thumbnails.purge_done(older_than=7 * 86400.0)

    async def publish(self, draft: str, author: Author) -> mitigate.Job:
        event = Published(draft=draft, author=author).model_dump()
        if self.switches.enabled("content.pii_guard"):
            assert_no_protected(redact(event, Published), Published, where="content.published")
        async with self.store.transaction() as tx:
            await tx.execute(
                "INSERT INTO content_drafts (id, body) VALUES (?, ?)", (draft, "published")
            )
            await self.outbox.enqueue(tx, "content.published", redact(event, Published))
            return await self.thumbnails.enqueue({"draft": draft}, key=f"thumb:{draft}", tx=tx)

    async def purge(self, url: str) -> bytes:
        async def call() -> bytes:
            return url.encode()

        return await self.cdn.acall(call)

    async def render(self, job: mitigate.Job) -> None:
        payload: Any = job.payload
        if payload.get("draft") is None:
            await self.thumbnails.park(job, "no draft id")


def create_app(content: Content) -> FastAPI:
    api = FastAPI()
    api.add_middleware(ErrorEnvelopeMiddleware)
    api.router.routes.extend(content.health.routes())

    @api.post("/drafts/{draft}/publish")
    async def publish(draft: str) -> JSONResponse:
        try:
            job = await content.publish(draft, Author(display="A", email="a@example.org"))
        except PiiLeakError as leak:
            return JSONResponse(error_body(leak.code, str(leak.paths)), status_code=500)
        return JSONResponse({"job": job.id, "traceId": current_trace_id()})

    return api


async def start(url: str) -> Content:
    clock = mitigate.RealClock()
    recorder = Recorder()
    observers: list[mitigate.Observer] = [recorder, PrometheusObserver(), StructlogObserver()]
    store = await open_store(url, clock=clock)
    version: int = await mitigate.migrate(store, MIGRATIONS, namespace="content")
    assert version >= 1
    content = Content(store, clock, observers)
    stop = asyncio.Event()
    worker = asyncio.create_task(content.thumbnails.run(content.render, worker="w1", stop=stop))
    async with content.scheduler.running():
        ok, details = await content.health.ready()
        live: bool = await content.health.live()
        assert isinstance(details["checks"], dict) and (ok or not live)
    stop.set()
    await worker
    return content


# -- its experiment ---------------------------------------------------------------------


@experiment("content.fm.cdn", failure_modes=["content.fm.cdn"], title="CDN purge fails")
async def cdn_outage(run: Run) -> None:
    store = await open_store("sqlite:///:memory:", clock=run.clock)
    await mitigate.migrate(store, MIGRATIONS, namespace="content")
    content = Content(store, run.clock, run.observers)
    run.rollback(store.aclose)
    await run.steady("purge works", lambda: True)
    async with run.fault(Outage("content.cdn.purge"), duration=30.0):
        outcome = await run.call("purge", content.purge, "https://cdn/x")
        run.expect("purge is refused fast, never hangs", not outcome.ok, repr(outcome))
    async with run.fault(Latency("content.cdn.purge", delay=0.5), duration=5.0):
        await run.call("slow purge", content.purge, "https://cdn/y")
    await run.expect_event("breaker.opened", within=60.0)
    await run.recovered("purge works again", lambda: True, within=120.0)
    run.expect_no_loss()


def injector_usage(injector: FaultInjector) -> None:
    with injector.attached(Outage("content.cdn.purge", start=0.0, duration=10.0)):
        injector.add(Latency("content.db", delay=0.2))


def message_usage() -> Message:
    return Message("content.published", b"{}", id="m1")
