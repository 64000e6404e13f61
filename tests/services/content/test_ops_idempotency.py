"""Operator routes (/ops/...) carry no tenant and no Authorization: the platform scopes
their Idempotency-Key by the operator token, so a key there is honoured (a repeat gets the
first answer) instead of refused with MITIGATE.IDEMPOTENCY.NO_SCOPE (500); a 204 has no
body."""

from __future__ import annotations

from pathlib import Path

import httpx
from services.content.service import open_content
from services.content.settings import ContentSettings
from services.kit.app import key_scope
from services.kit.runtime import Runtime

import mitigate

OPS = {"x-ops-token": "local-operator"}


async def test_ops_routes_honour_an_idempotency_key(tmp_path: Path) -> None:
    clock = mitigate.VirtualClock()
    settings = ContentSettings(data_dir=tmp_path, builder="inline")
    runtime = await Runtime.open(settings.resolved(), clock=clock)
    content = await open_content(settings, runtime=runtime)
    try:
        transport = httpx.ASGITransport(app=content.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as http:
            source = await http.put(
                "/ops/courses/c1/offline-source", content=b"lesson one", headers=OPS
            )
            assert source.status_code == 204, source.text
            assert source.content == b""  # no body on a 204
            headers = {**OPS, "Idempotency-Key": "rotate-2026-12"}
            first = await http.post("/ops/keys/next", headers=headers)
            assert first.status_code == 200, first.text
            again = await http.post("/ops/keys/next", headers=headers)
            assert again.status_code == 200, again.text
            assert again.headers.get("idempotent-replayed") == "true"
            assert again.json() == first.json()  # one key published, not two
            fresh = await http.post(
                "/ops/keys/next", headers={**OPS, "Idempotency-Key": "rotate-2027-01"}
            )
            assert fresh.status_code == 200 and fresh.json() != first.json()
    finally:
        await content.aclose()


def test_key_scope_never_empty_without_a_tenant() -> None:
    scope_of = key_scope(tenanted=True)
    ops = {"path": "/ops/x", "headers": [(b"x-ops-token", b"t1")], "state": {}}
    other_token = {"path": "/ops/x", "headers": [(b"x-ops-token", b"t2")], "state": {}}
    assert scope_of(ops).startswith("ops:") and scope_of(ops) != scope_of(other_token)
    assert scope_of({"path": "/objects/a", "headers": [], "state": {}}) == "anonymous"
    # A tenant-scoped path without a tenant stays empty (the tenant middleware refuses it).
    assert scope_of({"path": "/v1/devices", "headers": [], "state": {}}) == ""
    assert key_scope(tenanted=False)({"path": "/v1/x", "headers": [], "state": {}}) == "anonymous"
