"""The edge service's ASGI app: the platform's app factory, the edge middleware (body held
for the envelope, failure logs) and fail-closed tenant resolution counting refusals per IP."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import mitigate
from services.kit.app import create_app, standard_health

from .api import actors, assistant, documents, flags, limits, ops, sessions, worker
from .middleware import EdgeMiddleware

__all__ = ["ROUTERS", "build_app"]

ROUTERS = [worker.router, flags.router, actors.router, sessions.router, limits.router]
ROUTERS += [assistant.router, documents.router, ops.router]


def build_app(edge: Any) -> FastAPI:
    rt = edge.runtime
    resolver = mitigate.TenantResolver(
        edge.registry, use_host=True, shared_hosts=edge.shared_hosts, clock=rt.clock
    )
    health = standard_health(rt)
    # Ready only once a valid tenant config set is loaded (edge.fm.2.2b).
    health.check("tenant-config", lambda: bool(edge.directory.loaded))
    app = create_app(
        rt,
        ROUTERS,
        title="edge service",
        tenants=resolver,
        health=health,
        on_tenant_reject=edge.probes,
        # edge.principle.3: a repeated Idempotency-Key gets the first answer, one effect.
        idempotency=rt.switches.enabled("edge.switch.idempotency-key"),
        middleware=[(EdgeMiddleware, {"edge": edge})],
    )
    app.state.edge = edge
    return app
