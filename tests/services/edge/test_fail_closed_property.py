"""edge.principle.1 as a property: no fault kind in the tenant resolver's dependency (the
registry) turns a deny into an allow. For every identity a request can carry and every
fault the registry can show (error, timeout, corrupt data: another tenant's row, garbage),
a request is allowed only when it is allowed without the fault; an unavailable registry
lets nothing through; a row of another tenant never resolves."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from services.edge.harness import open_world
from tests.services.edge.virtual_run import VirtualRun

from mitigate.chaos import Failure, Latency

IDENTITIES: dict[str, dict[str, str]] = {
    "known header": {"x-tenant-id": "acme"},
    "unknown header": {"x-tenant-id": "nosuch"},
    "known host": {"host": "acme.example.com"},
    "unknown host": {"host": "evil.example.net"},
    "good API key": {"x-api-key": "key-globex-1"},
    "bad API key": {"x-api-key": "stolen"},
    "nothing": {},
}
FAULTS = {
    "none": None,
    "error": lambda: Failure("tenant.registry", error=ConnectionError),
    "timeout": lambda: Latency("tenant.registry", delay=5.0),
    "another tenant's row": lambda: Failure("tenant.registry", result=[("globex", "free", "[]")]),
    "garbage": lambda: Failure("tenant.registry", result=[("acme", "standard", "{not json")]),
}


async def _status(identity: str, fault: str) -> int:
    run = VirtualRun()
    world = await open_world(run)
    try:
        make = FAULTS[fault]
        if make is not None:
            run.injector.add(make())
        response = await world.client(**IDENTITIES[identity]).get("/v1/hello")
        return response.status_code
    finally:
        await run.close()


@given(identity=st.sampled_from(sorted(IDENTITIES)), fault=st.sampled_from(sorted(FAULTS)))
@settings(max_examples=35, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_fault_turns_a_deny_into_an_allow(identity: str, fault: str) -> None:
    baseline = asyncio.run(_status(identity, "none"))
    faulted = asyncio.run(_status(identity, fault))
    expected_allow = identity in ("known header", "known host", "good API key")
    assert (baseline == 200) == expected_allow, (identity, baseline)
    # The property: a request allowed under a fault is one allowed without it.
    assert faulted != 200 or baseline == 200, (identity, fault, faulted)
    if fault in ("error", "timeout"):  # an unavailable registry lets nothing through
        assert faulted in (400, 503), (identity, fault, faulted)
    if fault == "another tenant's row":  # corrupt data never resolves to a tenant
        assert faulted != 200, (identity, fault, faulted)
