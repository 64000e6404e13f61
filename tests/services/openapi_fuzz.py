"""schemathesis against a running service's OpenAPI, the check every service shares: no
5xx, and every error answered in the envelope ``{"code", "message", "traceId"}`` with the
traceId of the ``x-trace-id`` header; every operation exercised."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings


def fuzz_openapi(
    url: str,
    *,
    tenants: tuple[str | None, ...],
    min_operations: int,
    ops_token: str | None = None,
    examples: int = 20,
) -> None:
    """Call each operation with ``examples`` generated cases, once per tenant header in
    ``tenants`` (None: no header); ``/ops/`` paths get ``ops_token`` when given."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= min_operations
    seen: dict[str, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            for tenant in tenants:
                headers = {"x-tenant-id": tenant} if tenant else {}
                if ops_token is not None and case.path.startswith("/ops/"):
                    headers["x-ops-token"] = ops_token
                response = case.call(headers=headers, timeout=30)
                label = f"{case.method} {case.path}"
                assert response.status_code < 500, (label, response.text)
                if response.status_code >= 400:
                    body = response.json()
                    assert set(body) >= {"code", "message", "traceId"}, (label, body)
                    raw = response.headers["x-trace-id"]
                    trace = raw[0] if isinstance(raw, list) else raw
                    assert body["traceId"] == trace, (label, body)
                seen[label] = seen.get(label, 0) + 1

        check()
    assert len(seen) == len(operations), seen
