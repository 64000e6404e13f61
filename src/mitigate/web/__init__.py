"""ASGI pieces: middleware (tenant, rate limits, error envelope) and routes (keys, objects)."""

from __future__ import annotations

from mitigate.web.errors import ErrorEnvelopeMiddleware, current_trace_id, error_body
from mitigate.web.health import Health

__all__ = [
    "ErrorEnvelopeMiddleware",
    "Health",
    "current_trace_id",
    "error_body",
]
