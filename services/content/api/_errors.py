"""Map the device side's errors to the error envelope ({code, message})."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from mitigate.web import error_body

from ..devices import ContentError, DeviceSide


def side(request: Request) -> DeviceSide:
    value: DeviceSide = request.app.state.devices
    return value


def tenant_of(request: Request) -> str | None:
    """The tenant the platform's middleware resolved (None when the app has none)."""
    tenant = getattr(request.state, "tenant", None)
    return None if tenant is None else str(tenant.id)


def check_tenant(request: Request, device_id: str | None) -> None:
    """A device of another tenant does not exist for this request (no cross-tenant reads)."""
    tenant = tenant_of(request)
    device = side(request).devices.get(device_id or "")
    if tenant is not None and device is not None and device.tenant != tenant:
        raise ContentError(
            "CONTENT.DEVICE.UNKNOWN", f"device {device_id}: not registered; register it", 404
        )


def check_operator(request: Request) -> None:
    token = side(request).ops_token
    if token and request.headers.get("x-ops-token", "") != token:
        raise ContentError("CONTENT.OPS.FORBIDDEN", "operator token missing or wrong", 403)


async def answer(
    request: Request,
    call: Callable[[], Awaitable[Any] | Any],
    status: int = 200,
    *,
    device: str | None = None,
    operator: bool = False,
) -> JSONResponse:
    """Run one use case (for ``device``, only inside its tenant; ``operator``: only with
    the operator token), write what it changed (even when it then refused), and answer."""
    try:
        if operator:
            check_operator(request)
        check_tenant(request, device)
        result = call()
        if hasattr(result, "__await__"):
            result = await result
    except ContentError as err:
        return JSONResponse(error_body(err.code, str(err)), err.status)
    finally:
        await side(request).flush()
    return JSONResponse(result, status)
