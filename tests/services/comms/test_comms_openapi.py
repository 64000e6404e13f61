"""schemathesis against the running comms service's OpenAPI: no 5xx, and every error
answered in the envelope ``{"code", "message", "traceId"}``."""

from __future__ import annotations

from pathlib import Path

from tests.services.openapi_fuzz import fuzz_openapi

from .served import OPS_TOKEN, serve_comms


def test_no_5xx_and_errors_in_the_envelope(tmp_path: Path) -> None:
    with serve_comms(tmp_path) as served:
        fuzz_openapi(
            served.url,
            tenants=("clinic-a", None),
            min_operations=7,
            ops_token=OPS_TOKEN,
            examples=25,
        )
        assert served.stop() == 0
