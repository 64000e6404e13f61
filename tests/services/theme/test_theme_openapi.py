"""schemathesis against the running theme service's OpenAPI: no 5xx, and every error
answered in the envelope ``{"code", "message", "traceId"}``."""

from __future__ import annotations

from pathlib import Path

from tests.services.openapi_fuzz import fuzz_openapi

from .served import serve_theme


def test_no_5xx_and_errors_in_the_envelope(tmp_path: Path) -> None:
    with serve_theme(tmp_path) as served:
        fuzz_openapi(served.url, tenants=("acme", None), min_operations=8)
        assert served.stop() == 0


def test_a_revision_past_a_store_integer_is_refused_not_a_5xx(tmp_path: Path) -> None:
    """Found by the fuzz run: a revision of 2**63 or more overflowed the SQLite integer and
    was answered 503 "database unavailable"; it is bad input (422)."""
    import httpx

    with serve_theme(tmp_path) as served:
        answer = httpx.post(
            f"{served.url}/v1/themes/t1/rollback",
            json={"revision": 2**70},
            headers={"x-tenant-id": "acme"},
        )
        assert answer.status_code == 422, answer.text
        assert set(answer.json()) >= {"code", "message", "traceId"}
        assert served.stop() == 0
