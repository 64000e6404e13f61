"""ASGI middleware that resolves the tenant before any handler runs, failing closed.

A request whose tenant cannot be resolved is answered by the middleware itself (400,
404 or 503 with the envelope ``{"code", "message", "traceId"}``); the application is
never called. A resolved
tenant is put in ``scope["state"]["tenant"]`` (``request.state.tenant`` in Starlette)
and in :data:`current_tenant` for code that sets the database tenant per transaction.
``on_reject(client_ip)`` lets a blocker count resolution failures per address.

>>> import asyncio, httpx
>>> from starlette.applications import Starlette
>>> from starlette.responses import PlainTextResponse
>>> from starlette.routing import Route
>>> from mitigate.guard.tenancy import StaticTenantRegistry, Tenant, TenantResolver
>>> registry = StaticTenantRegistry(); registry.add(Tenant("acme"))
>>> async def hello(request):
...     return PlainTextResponse(f"hello {request.state.tenant.id}")
>>> resolver = TenantResolver(registry, shared_hosts=["api"])
>>> app = TenantMiddleware(Starlette(routes=[Route("/", hello)]), resolver)
>>> async def get(headers):
...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
...                                  base_url="http://api") as client:
...         r = await client.get("/", headers=headers)
...         return r.status_code, r.text
>>> asyncio.run(get({"x-tenant-id": "acme"}))
(200, 'hello acme')
>>> asyncio.run(get({}))[0]
400

.. versionadded:: 0.1
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Awaitable, Callable, Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mitigate.guard.errors import TenantError
from mitigate.guard.tenancy import Tenant, TenantResolver
from mitigate.web.errors import error_body

__all__ = ["TenantMiddleware", "current_tenant"]

#: The tenant of the request being handled (None outside a request).
current_tenant: contextvars.ContextVar[Tenant | None] = contextvars.ContextVar(
    "mitigate_current_tenant", default=None
)


class TenantMiddleware:
    """Resolve the tenant of every HTTP and WebSocket request; refuse what does not resolve.

    ``exempt`` paths (health checks, the key document) skip resolution. They match
    exactly: ``/healthz`` exempts neither ``/healthz/x`` nor ``/healthzadmin``. An entry
    ending in ``/`` exempts that subtree on purpose (``/objects/`` exempts
    ``/objects/a.bin``, not ``/objects``).
    """

    def __init__(
        self,
        app: ASGIApp,
        resolver: TenantResolver,
        *,
        exempt: Iterable[str] = (),
        on_reject: Callable[[str], Awaitable[object] | object] | None = None,
    ) -> None:
        self.app = app
        self.resolver = resolver
        paths = tuple(exempt)
        self.exempt = frozenset(p for p in paths if not p.endswith("/"))
        self.exempt_trees = tuple(p for p in paths if p.endswith("/"))
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        exempt = path in self.exempt or (
            bool(self.exempt_trees) and path.startswith(self.exempt_trees)
        )
        if scope["type"] not in ("http", "websocket") or exempt:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        ip = client[0] if client else ""
        try:
            tenant = await self.resolver.resolve(headers, host=headers.get("host"), client=ip)
        except TenantError as error:
            if self.on_reject is not None:
                outcome = self.on_reject(ip)
                if inspect.isawaitable(outcome):
                    await outcome
            await _refuse(scope, receive, send, error)
            return
        scope.setdefault("state", {})["tenant"] = tenant
        token = current_tenant.set(tenant)
        try:
            await self.app(scope, receive, send)
        finally:
            current_tenant.reset(token)


async def _refuse(scope: Scope, receive: Receive, send: Send, error: TenantError) -> None:
    if scope["type"] == "websocket":
        # Close the handshake (HTTP 403 from the server); the code says why.
        await send({"type": "websocket.close", "code": 1008, "reason": error.code})
        return
    response = JSONResponse(
        error_body(error.code, str(error)),
        status_code=error.status,
        headers={"cache-control": "no-store"},
    )
    await response(scope, receive, send)
