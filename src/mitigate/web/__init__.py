"""ASGI pieces: middleware (tenant, rate limits, idempotency, error envelope), health probes,
and routes (key document, signed objects). Everything a service uses is re-exported here
(``from mitigate.web import ...``).

.. versionadded:: 0.1
"""

from __future__ import annotations

from mitigate.web.errors import (
    INTERNAL_CODE,
    ErrorEnvelopeMiddleware,
    current_trace_id,
    error_body,
    status_of,
)
from mitigate.web.health import CheckFn, Health
from mitigate.web.idempotency import IdempotencyMiddleware, authorization_scope, tenant_scope
from mitigate.web.keys import (
    WELL_KNOWN_PATH,
    KeyDocumentSource,
    async_http_fetcher,
    http_fetcher,
    key_document_route,
)
from mitigate.web.ratelimit import (
    FAILURE_STATUSES,
    Limiter,
    RateLimitMiddleware,
    TenantRateLimitMiddleware,
    query_or_bearer_token,
    token_hash,
)
from mitigate.web.signed_urls import (
    LocalObjects,
    ObjectInfo,
    ObjectSource,
    SignedObjectApp,
    parse_range,
)
from mitigate.web.tenancy import TenantMiddleware, current_tenant

__all__ = [
    "FAILURE_STATUSES",
    "INTERNAL_CODE",
    "WELL_KNOWN_PATH",
    "CheckFn",
    "ErrorEnvelopeMiddleware",
    "Health",
    "IdempotencyMiddleware",
    "KeyDocumentSource",
    "Limiter",
    "LocalObjects",
    "ObjectInfo",
    "ObjectSource",
    "RateLimitMiddleware",
    "SignedObjectApp",
    "TenantMiddleware",
    "TenantRateLimitMiddleware",
    "async_http_fetcher",
    "authorization_scope",
    "current_tenant",
    "current_trace_id",
    "error_body",
    "http_fetcher",
    "key_document_route",
    "parse_range",
    "query_or_bearer_token",
    "status_of",
    "tenant_scope",
    "token_hash",
]
