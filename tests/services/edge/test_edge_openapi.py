"""schemathesis against the running edge service's OpenAPI: no 5xx, and every error
answered in the envelope ``{"code", "message", "traceId"}``."""

from __future__ import annotations

from pathlib import Path

from tests.services.openapi_fuzz import fuzz_openapi

from .served import serve_edge


def test_no_5xx_and_errors_in_the_envelope(tmp_path: Path) -> None:
    with serve_edge(tmp_path) as served:
        fuzz_openapi(
            served.url,
            tenants=("acme", None, "nosuch"),
            min_operations=2,
            ops_token="local-operator",
        )
        assert served.stop() == 0
