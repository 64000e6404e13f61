"""The authoring service assembled: runtime, use cases, the remotes publishing calls, app;
and ``serve`` (what ``uv run mitigate serve authoring`` runs).

The media, catalog and content services are ``settings.*_url``; an empty one is the fake
of that service in this process (embedded), reached through httpx's ASGI transport.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

import mitigate
from mitigate.web import LocalObjects, SignedObjectApp
from services.kit.fakes.catalog import FakeCatalog
from services.kit.http import Remote, asgi_transport
from services.kit.runtime import Runtime
from services.kit.serve import run_service

from .adapters.ai import AiClient, FakeModelServer
from .adapters.cdn import FakeCdn
from .adapters.content_service import FakeContentService
from .adapters.media import FakeMedia, MediaClient
from .app import build_app
from .coauthor import CoAuthor
from .collab.documents import Documents
from .collab.log import DocLog
from .collab.router import CollabRouter
from .collab.server import CollabServer
from .drafts import Drafts
from .previews import ORIGIN, Previews
from .publish import Publisher
from .schema import ensure_schema
from .scorm.jobs import Importer
from .settings import AuthoringSettings
from .workers import running

__all__ = ["Authoring", "Fakes", "open_authoring", "serve"]


@dataclass
class Fakes:
    """The fakes of the services authoring calls, when they run embedded."""

    media: FakeMedia | None = None
    catalog: FakeCatalog | None = None
    content: FakeContentService | None = None
    ai: FakeModelServer | None = None
    ai_local: FakeModelServer | None = None
    cdn: FakeCdn | None = None


@dataclass
class Authoring:
    settings: AuthoringSettings
    runtime: Runtime
    drafts: Drafts
    publisher: Publisher
    remotes: list[Remote]
    fakes: Fakes
    coauthor: CoAuthor | None = None
    previews: Previews | None = None
    importer: Importer | None = None
    collab: list[CollabServer] = field(default_factory=list)
    router: CollabRouter | None = None
    documents: Documents | None = None
    closers: list[Any] = field(default_factory=list)
    origin: Any = None
    app: Any = None

    async def aclose(self) -> None:
        for remote in self.remotes:
            await remote.aclose()
        for close in self.closers:
            await close()
        await self.runtime.aclose()


def _remote(url: str, app: Any, policy: Any) -> Remote:
    transport: httpx.AsyncBaseTransport | None = None
    if not url:
        url, transport = "http://fake.local", asgi_transport(app)
    return Remote(url, policy, transport=transport)


async def open_authoring(
    settings: AuthoringSettings, *, runtime: Runtime | None = None
) -> Authoring:
    """The authoring service on ``runtime`` (opened from ``settings`` when not given)."""
    settings = settings.resolved()  # type: ignore[assignment]
    if runtime is None:
        runtime = await Runtime.open(settings)
    await runtime.migrate(ensure_schema)
    fakes = Fakes(
        media=FakeMedia() if not settings.media_url else None,
        catalog=await FakeCatalog(runtime.store).setup() if not settings.catalog_url else None,
        content=FakeContentService() if not settings.content_url else None,
        ai=FakeModelServer("cloud-model-1") if not settings.ai_url else None,
        ai_local=FakeModelServer("local-model-1") if not settings.ai_local_url else None,
    )
    media = _remote(settings.media_url, fakes.media and fakes.media.app, runtime.policy)
    catalog = _remote(settings.catalog_url, fakes.catalog and fakes.catalog.app, runtime.policy)
    content = _remote(settings.content_url, fakes.content and fakes.content.app, runtime.policy)
    ai = _remote(settings.ai_url, fakes.ai and fakes.ai.app, runtime.policy)
    ai_local = _remote(settings.ai_local_url, fakes.ai_local and fakes.ai_local.app, runtime.policy)
    drafts = Drafts(runtime)
    publisher = Publisher(
        runtime,
        settings,
        drafts=drafts,
        media=MediaClient(media),
        catalog=catalog,
        content=content,
    )
    clock = runtime.clock
    coauthor = CoAuthor(
        runtime,
        settings,
        drafts=drafts,
        cloud=AiClient(ai, target="ai.generate", model="cloud-model-1", clock=clock),
        local=AiClient(ai_local, target="ai.local", model="local-model-1", clock=clock),
    )
    remotes = [media, catalog, content, ai, ai_local]
    service = Authoring(settings, runtime, drafts, publisher, remotes, fakes, coauthor)
    _previews(service)
    service.importer = Importer(runtime, settings, workdir=settings.data_dir)
    _collab(service)
    service.app = build_app(service)
    return service


def _previews(service: Authoring) -> None:
    """The preview CDN client and the signed origin (local files only)."""
    settings, runtime = service.settings, service.runtime
    secret = settings.preview_secret.encode() or secrets.token_bytes(32)
    signer = mitigate.UrlSigner(secret, clock=runtime.clock)
    transport: httpx.AsyncBaseTransport | None = None
    url = settings.cdn_url
    if not url:
        service.fakes.cdn = FakeCdn(runtime.objects, runtime.clock)
        url, transport = "http://cdn.local", asgi_transport(service.fakes.cdn.app)
    client = httpx.AsyncClient(base_url=url, transport=transport, timeout=None)
    service.closers.append(client.aclose)
    service.previews = Previews(runtime, client, signer)
    objects = urlsplit(settings.objects)
    if objects.scheme in ("", "file"):
        root = LocalObjects(objects.netloc + objects.path)
        service.origin = SignedObjectApp(signer, root, prefix=ORIGIN, clock=runtime.clock)


def _collab(service: Authoring) -> None:
    """The collab processes (embedded: in process), their router, the documents API."""
    runtime = service.runtime
    log = DocLog(runtime)
    service.collab = [CollabServer(n, runtime, log) for n in service.settings.collab_processes]
    apps = {server.name: server.app for server in service.collab}

    def client_for(name: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://{name}", transport=asgi_transport(apps[name]))

    service.router = CollabRouter(runtime, list(apps), client_for)
    service.closers.append(service.router.aclose)
    service.documents = Documents(runtime, log, service.router, service.collab)


@contextlib.asynccontextmanager
async def _serving(settings: AuthoringSettings) -> AsyncIterator[Any]:
    service = await open_authoring(settings)
    try:
        async with running(service):
            yield service.app
    finally:
        await service.aclose()


def serve(*, host: str = "127.0.0.1", port: int = 8000, backend: str = "embedded") -> int:
    """Run the authoring service until SIGTERM (the ``mitigate.services`` entry point)."""
    settings = AuthoringSettings().with_backend(backend)
    return run_service(lambda: _serving(settings), host=host, port=port)  # type: ignore[arg-type]
