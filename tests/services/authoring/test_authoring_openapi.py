"""schemathesis against the running authoring service's OpenAPI: no 5xx, and every error
answered in the envelope ``{"code", "message", "traceId"}``."""

from __future__ import annotations

from pathlib import Path

from tests.services.openapi_fuzz import fuzz_openapi

from .served import serve_authoring


def test_no_5xx_and_errors_in_the_envelope(tmp_path: Path) -> None:
    with serve_authoring(tmp_path) as served:
        fuzz_openapi(served.url, tenants=("acme", None), min_operations=8)
        assert served.stop() == 0
