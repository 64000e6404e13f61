"""schemathesis against the running edge service's OpenAPI: no 5xx, and every error
answered in the envelope ``{"code", "message", "traceId"}``."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from .served import serve_edge


def test_no_5xx_and_errors_in_the_envelope(tmp_path: Path) -> None:
    with serve_edge(tmp_path) as served:
        schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) >= 2
        seen: dict[str, int] = {}
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=20,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
                for headers in ({"x-tenant-id": "acme"}, {}, {"x-tenant-id": "nosuch"}):
                    if case.path.startswith("/ops/"):
                        headers = {**headers, "x-ops-token": "local-operator"}
                    response = case.call(headers=headers, timeout=30)
                    label = f"{case.method} {case.path}"
                    assert response.status_code < 500, (label, response.text)
                    if response.status_code >= 400:
                        body = response.json()
                        assert set(body) >= {"code", "message", "traceId"}, (label, body)
                        header = response.headers["x-trace-id"]
                        trace = header[0] if isinstance(header, list) else header
                        assert body["traceId"] == trace, (label, body)
                    seen[label] = seen.get(label, 0) + 1

            check()
        assert served.stop() == 0
    assert len(seen) == len(operations), seen
