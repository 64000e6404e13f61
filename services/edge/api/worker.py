"""The worker's own routes: a greeting that proves resolution reached a handler, and two
diagnostic routes that fail on purpose (edge.fm.2.1a: the envelope, also mid-stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from ._service import edge_of, require_ops, tenant_of

router = APIRouter(tags=["worker"])


@router.get("/v1/hello")
async def hello(request: Request) -> dict[str, Any]:
    """Answer for the resolved tenant (counts in the handler spy); ``coldStart`` says
    whether this request paid a worker instance's initialisation."""
    edge = edge_of(request)
    edge.handled += 1
    cold = await edge.pool.serve(tenant_of(request), request.state.tenant.plan)
    return {"tenant": tenant_of(request), "coldStart": cold}


class DiagnosticError(RuntimeError):
    """Raised on purpose by the diagnostic routes."""


# Operator-only and outside the API document: they exist to prove the envelope.
@router.get("/v1/diagnostics/fail", include_in_schema=False)
async def fail(request: Request) -> dict[str, str]:
    """Raise an unhandled error (its message must never reach the client)."""
    require_ops(request)
    edge_of(request).handled += 1
    raise DiagnosticError("diagnostic failure: internal detail db=secret-host")


@router.get("/v1/diagnostics/fail-streaming", include_in_schema=False)
async def fail_streaming(request: Request) -> StreamingResponse:
    """Start a streamed body, then raise while producing it."""
    require_ops(request)
    edge_of(request).handled += 1

    async def body() -> AsyncIterator[bytes]:
        yield b'{"part": 1, '
        raise DiagnosticError("diagnostic failure mid-stream: internal detail")

    return StreamingResponse(body(), media_type="application/json")
