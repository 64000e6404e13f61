"""Map the device side's errors to the error envelope ({code, message})."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from ..devices import ContentError, DeviceSide


def side(request: Request) -> DeviceSide:
    value: DeviceSide = request.app.state.devices
    return value


async def answer(
    request: Request, call: Callable[[], Awaitable[Any] | Any], status: int = 200
) -> JSONResponse:
    """Run one use case, write what it changed (even when it then refused), and answer."""
    try:
        result = call()
        if hasattr(result, "__await__"):
            result = await result
    except ContentError as err:
        return JSONResponse({"code": err.code, "message": str(err)}, err.status)
    finally:
        await side(request).flush()
    return JSONResponse(result, status)
