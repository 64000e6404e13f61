"""The app factory every service uses: FastAPI with the error envelope, trace ids, tenant
and idempotency middleware, ``/healthz``, ``/readyz`` and ``/metrics``.

A service calls :func:`create_app` with its runtime and its routers; routes reach the
runtime through ``request.app.state.runtime`` (see :func:`runtime_of`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

import mitigate
from mitigate.web import ErrorEnvelopeMiddleware, Health

from .envelope import install_error_handlers
from .problems import ProblemEnvelopeMiddleware
from .runtime import Runtime

__all__ = ["EXEMPT", "create_app", "key_scope", "runtime_of", "standard_health"]

# Paths that need no tenant: probes, metrics, the API document, well-known documents, and
# objects behind signed URLs (the URL's signature is the authority; a CDN sends no tenant).
EXEMPT = (
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/.well-known/",
    "/ops/",
    "/objects/",
)


def key_scope(
    *, tenanted: bool, exempt: tuple[str, ...] = EXEMPT
) -> Callable[[MutableMapping[str, Any]], str]:
    """How the idempotency middleware separates clients: the tenant and credential when
    there are any (mitigate's default); else the operator token's hash (``/ops/`` routes
    send ``x-ops-token``, no tenant); else one shared anonymous scope for paths that need no
    tenant (every caller of those is the same kind of caller). Never empty where a request
    can arrive without a tenant, so an ``Idempotency-Key`` there is honoured, not refused."""

    def scope_key(scope: MutableMapping[str, Any]) -> str:
        found = mitigate.web.tenant_scope(scope)
        if found:
            return found
        for name, value in scope.get("headers") or ():
            if name == b"x-ops-token" and value:
                return "ops:" + hashlib.sha256(bytes(value)).hexdigest()[:32]
        path = str(scope.get("path", ""))
        if not tenanted or path.startswith(exempt):
            return "anonymous"
        return ""  # unreachable behind the tenant middleware, which refuses such requests

    return scope_key


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def standard_health(runtime: Runtime) -> Health:
    """Readiness checks on the runtime's backends."""
    health = Health(clock=runtime.clock, timeout=5.0, observers=runtime.observers)

    async def store() -> bool:
        await runtime.store.fetch("SELECT 1")
        return True

    async def objects() -> bool:
        await runtime.objects.exists("readyz-probe")
        return True

    health.check("store", store)
    health.check("objects", objects)
    client = getattr(runtime.bus, "client", None)
    if client is not None:
        health.check("bus", lambda: bool(client.is_connected))
    if runtime.cache is not None:
        health.check("cache", runtime.cache.ping, critical=False)
    return health


def create_app(
    runtime: Runtime,
    routers: Iterable[APIRouter],
    *,
    title: str,
    version: str = "1",
    tenants: Any = None,
    idempotency: bool = True,
    idempotency_store: Any = None,
    health: Health | None = None,
    on_tenant_reject: Callable[[str], Any] | None = None,
    middleware: Iterable[tuple[type, dict[str, Any]]] = (),
    inner_middleware: Iterable[tuple[type, dict[str, Any]]] = (),
    exempt: tuple[str, ...] = (),
) -> FastAPI:
    """The ASGI app of one service.

    ``tenants``: a :class:`mitigate.TenantResolver` (requests outside :data:`EXEMPT` must
    name a known tenant); ``on_tenant_reject(client_ip)`` is told of each refusal (a
    per-address counter); ``exempt``: more path prefixes that need no tenant, beside
    :data:`EXEMPT` (a provider's callbacks: the provider knows no tenant; the service
    finds it from what the callback names). ``middleware``: ``(class, options)`` pairs
    placed just inside the envelope, outside tenant resolution (the first pair is the
    outermost of them). ``inner_middleware``: pairs placed inside tenant resolution, next
    to the routes (they see ``scope["state"]["tenant"]``). ``idempotency``: unsafe
    requests may carry ``Idempotency-Key``; a repeat gets the first answer (keys kept in
    the service's store, or in ``idempotency_store``: a ``mitigate.TieredIdempotencyStore``
    over Redis, say); its refusals (409 in flight, 422 key reused, 400 bad key) answer in
    the error envelope like every other error.
    """
    no_tenant = (*EXEMPT, *exempt)
    app = FastAPI(title=title, version=version)
    app.state.runtime = runtime
    install_error_handlers(app)
    health = health or standard_health(runtime)

    @app.get("/healthz", tags=["platform"])
    async def healthz() -> JSONResponse:
        """Liveness: the process answers."""
        ok, body = await health.live_details()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/readyz", tags=["platform"])
    async def readyz() -> JSONResponse:
        """Readiness: every critical dependency (store, bus, objects) answers."""
        ok, body = await health.ready()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["platform"], response_class=Response)
    async def metrics() -> Response:
        registry: CollectorRegistry = runtime.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)

    # Middleware, innermost first: idempotency sees resolved tenants; the envelope wraps all.
    for cls, options in reversed(list(inner_middleware)):
        app.add_middleware(cls, **options)
    if idempotency:
        app.add_middleware(
            mitigate.IdempotencyMiddleware,
            store=idempotency_store
            or mitigate.DatabaseIdempotencyStore(runtime.store, clock=runtime.clock),
            required=False,
            clock=runtime.clock,
            scope_key=key_scope(tenanted=tenants is not None, exempt=no_tenant),
            observers=runtime.observers,
        )
        # Its refusals are RFC 9457 problems; clients get the one envelope shape.
        app.add_middleware(ProblemEnvelopeMiddleware)
    if tenants is not None:
        from mitigate.web import TenantMiddleware

        app.add_middleware(
            TenantMiddleware, resolver=tenants, exempt=no_tenant, on_reject=on_tenant_reject
        )
    for cls, options in reversed(list(middleware)):
        app.add_middleware(cls, **options)
    app.add_middleware(ErrorEnvelopeMiddleware)
    return app
