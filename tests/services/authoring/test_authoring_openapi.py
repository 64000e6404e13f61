"""schemathesis against the running authoring service's OpenAPI: no 5xx, and every error
answered in the envelope ``{"code", "message", "traceId"}``."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from tests.services.openapi_fuzz import fuzz_openapi

from .served import serve_authoring


@schemathesis.serializer("application/zip")
def _zip_body(ctx: object, value: object) -> bytes:
    """SCORM uploads are raw bytes (generated ones are not valid zips: they must fail)."""
    return value if isinstance(value, bytes) else str(value).encode()


def test_no_5xx_and_errors_in_the_envelope(tmp_path: Path) -> None:
    with serve_authoring(tmp_path) as served:
        fuzz_openapi(served.url, tenants=("acme", None), min_operations=8)
        assert served.stop() == 0
