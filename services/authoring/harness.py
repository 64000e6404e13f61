"""The authoring service opened for one experiment run, driven through its HTTP API.

An in-process httpx client on the run's clock, the run's policies (faults attach to them
and ``--mutate`` removes them), switches and observers; the media, catalog and content
services are the embedded fakes.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import mitigate
from services.kit.asgi_ws import AsgiWebSocket
from services.kit.experiments import alerts, events_since, run_runtime

from .collab.client import CollabClient
from .service import Authoring, open_authoring
from .settings import AuthoringSettings
from .workers import running

__all__ = [
    "World",
    "alerts",
    "bundle_of",
    "events_since",
    "import_done",
    "open_world",
    "step_attempts",
    "upload",
]

TENANT = "acme"


@dataclass
class World:
    run: Any
    service: Authoring
    http: httpx.AsyncClient

    @property
    def media(self) -> Any:
        return self.service.fakes.media

    def asset(self, name: str, status: str = "ready") -> str:
        self.media.assets[name] = status
        return name

    async def approved_draft(self, media: list[str]) -> str:
        """A draft with one image block per media ref, approved for publishing."""
        draft = (await self.http.post("/v1/drafts", json={"title": "Course"})).json()["id"]
        for ref in media:
            body = {"kind": "image", "body": {"alt": ref}, "media": [ref]}
            response = await self.http.post(f"/v1/drafts/{draft}/blocks", json=body)
            response.raise_for_status()
        (await self.http.post(f"/v1/drafts/{draft}/approve")).raise_for_status()
        return str(draft)

    async def publish(self, draft: str) -> httpx.Response:
        return await self.http.post(f"/v1/drafts/{draft}/publish")

    async def draft(self, draft: str) -> dict[str, Any]:
        return (await self.http.get(f"/v1/drafts/{draft}")).json()  # type: ignore[no-any-return]

    async def settle(self, draft: str, *, limit: float = 20 * 60, every: float = 5.0) -> str:
        """Poll the draft (as the author's UI does) until its publish ends; its state."""
        end = self.run.clock.now() + limit
        while True:
            state = str((await self.draft(draft))["state"])
            if state != "publishing" or self.run.clock.now() >= end:
                return state
            await self.run.clock.asleep(every)

    async def new_draft(self) -> str:
        return str((await self.http.post("/v1/drafts", json={"title": "Course"})).json()["id"])

    async def ai_block(self, draft: str, prompt: str, *, consent: bool = False) -> httpx.Response:
        body = {"prompt": prompt, "consent": consent}
        return await self.http.post(f"/v1/drafts/{draft}/ai-blocks", json=body)

    async def saga_state(self, publish_id: str) -> str:
        body = (await self.http.get(f"/v1/publishes/{publish_id}")).json()
        return str(body.get("state"))

    async def author_alerts(self) -> list[dict[str, Any]]:
        return (await self.http.get("/v1/alerts")).json()  # type: ignore[no-any-return]

    async def catalog_status(self, bundle: str) -> str | None:
        """The catalog's record of a bundle's CourseVersion (None: never registered)."""
        assert self.service.fakes.catalog is not None
        found = await self.service.fakes.catalog.get(bundle)
        return None if found is None else str(found["status"])

    def server(self, name: str | None) -> Any:
        """The collab process called ``name``."""
        return next(s for s in self.service.collab if s.name == name)

    def editor(self, user: str, draft: str) -> CollabClient:
        """A collab client as the editor runs it: it asks the service where to connect
        and opens a WebSocket to that collab process."""

        async def locate() -> str | None:
            body = {"user": user, "hold": False}
            response = await self.http.post(f"/v1/drafts/{draft}/editor", json=body)
            session = response.json()
            return str(session["server"]) if session.get("mode") == "collab" else None

        async def connect(server: str) -> AsgiWebSocket:
            return await AsgiWebSocket.connect(self.server(server).app, f"/v1/collab/{draft}")

        client = CollabClient(user, draft, locate=locate, connect=connect, clock=self.run.clock)
        self.run.rollback(client.close)
        return client

    async def document(self, draft: str) -> dict[str, Any]:
        """The draft's document as the store has it (snapshot + event log)."""
        return (await self.http.get(f"/v1/drafts/{draft}/document")).json()  # type: ignore[no-any-return]

    def bundles(self) -> dict[str, dict[str, Any]]:
        assert self.service.fakes.content is not None
        return self.service.fakes.content.bundles


def bundle_of(publish_id: str) -> str:
    """The bundle (and catalog package) id a publish uses."""
    return f"bdl-{publish_id[:16]}"


async def open_world(run: Any, *, real_io: bool = False, **overrides: Any) -> World:
    """The service for this run. ``real_io``: the run waits on real work (the import
    worker process), so virtual time jumps only after 50 ms of real quiet, as beside a
    real server (docs/verify.md), not while the worker's progress is still coming."""
    if real_io and isinstance(run.clock, mitigate.VirtualClock):
        run.clock.autojump_threshold = max(run.clock.autojump_threshold, 0.05)
    root = Path(tempfile.mkdtemp(prefix="authoring-run-"))
    settings = AuthoringSettings(
        data_dir=root,
        saga_poll=1.0,
        store=f"sqlite:///{root / 'authoring.db'}?durability=normal",
        **overrides,
    )
    runtime = await run_runtime(run, settings)
    service = await open_authoring(settings, runtime=runtime)
    workers = running(service)
    await workers.__aenter__()
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app),
        base_url="http://authoring.test",
        headers={"x-tenant-id": TENANT},
    )

    async def close() -> None:
        await http.aclose()
        await workers.__aexit__(None, None, None)
        await service.aclose()
        shutil.rmtree(root, ignore_errors=True)

    run.rollback(close)
    return World(run, service, http)


def step_attempts(run: Any, since: float) -> list[Any]:
    """The ``publish.step`` attempts of the first step call after ``since`` (attempt
    numbers restart at 1 with each call)."""
    starts = events_since(run, "attempt.started", "publish.step", since)
    call: list[Any] = []
    for event in starts:
        if call and event.attempt <= call[-1].attempt:
            break
        call.append(event)
    return call


async def upload(world: World, stream: Any, tenant: str = TENANT) -> httpx.Response | None:
    """POST a SCORM zip stream; ``None`` when the upload broke off (the client gave up)."""
    headers = {"x-tenant-id": tenant, "content-type": "application/zip"}
    try:
        return await world.http.post("/v1/imports", content=stream, headers=headers)
    except Exception:
        return None


async def import_done(
    world: World, job: str, tenant: str = TENANT, *, limit: float = 30 * 60
) -> dict[str, Any]:
    """Poll an import (as the importer's UI does, every second) until it ends."""
    end = world.run.clock.now() + limit
    while True:
        url = f"/v1/imports/{job}"
        body: dict[str, Any] = (await world.http.get(url, headers={"x-tenant-id": tenant})).json()
        if body.get("state") in ("imported", "failed", "rejected") or world.run.clock.now() > end:
            return body
        await world.run.clock.asleep(1.0)
