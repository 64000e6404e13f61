"""What a route needs: the assembled service and the request's tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from ..service import Authoring


def authoring(request: Request) -> Authoring:
    service: Authoring = request.app.state.authoring
    return service


def tenant_of(request: Request) -> str:
    tenant = getattr(request.state, "tenant", None)
    return "" if tenant is None else str(tenant.id)
