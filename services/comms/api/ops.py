"""Operator routes (x-ops-token): internal-ops notices, halted categories, replays."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.kit.errors import ServiceError

from ..budget import SLOS
from ._service import comms_of, require_operator

router = APIRouter(tags=["operations"])


class Replay(BaseModel):
    state: Literal["held", "blocked", "halted", "suppressed"]


@router.get("/ops/notices")
async def notices(request: Request) -> list[dict[str, Any]]:
    """Internal-ops notices (template missing, payload blocked): never shown to patients."""
    require_operator(request)
    return await comms_of(request).dispatcher.notices()  # type: ignore[no-any-return]


@router.get("/ops/halts")
async def halts(request: Request) -> list[dict[str, Any]]:
    require_operator(request)
    return await comms_of(request).dispatcher.halts()  # type: ignore[no-any-return]


@router.delete("/ops/halts/{channel}/{category}")
async def resume(channel: str, category: str, request: Request) -> dict[str, Any]:
    """Resume a halted category (after its template was fixed)."""
    require_operator(request)
    if not await comms_of(request).dispatcher.resume(channel, category):
        raise ServiceError("COMMS.HALT.UNKNOWN", f"{channel}/{category} is not halted", status=404)
    return {"channel": channel, "category": category, "halted": False}


@router.post("/ops/dispatches/replay")
async def replay(body: Replay, request: Request) -> dict[str, Any]:
    """Queue again every dispatch in ``state``; each is sent once."""
    require_operator(request)
    count = await comms_of(request).dispatcher.replay(body.state)
    return {"state": body.state, "queued": count}


@router.get("/ops/email-controls/{tenant}/{category}")
async def email_control(tenant: str, category: str, request: Request) -> dict[str, Any]:
    """Whether a tenant's email category is open, throttled or disabled (bounces)."""
    require_operator(request)
    state, since, _ = await comms_of(request).bounces.control(tenant, category)
    return {"tenant": tenant, "category": category, "state": state, "since": since}


@router.delete("/ops/email-controls/{tenant}/{category}")
async def enable_email(tenant: str, category: str, request: Request) -> dict[str, Any]:
    """Enable a throttled or disabled category again (earlier bounces no longer count)."""
    require_operator(request)
    if not await comms_of(request).bounces.enable(tenant, category):
        raise ServiceError(
            "COMMS.EMAIL.OPEN", f"email/{category} is not limited for {tenant}", status=404
        )
    return {"tenant": tenant, "category": category, "state": "open"}


@router.post("/ops/keys/emergency-rotation")
async def emergency_rotation(request: Request) -> dict[str, Any]:
    """A signing key leaked: rotate with no overlap, end the sessions joined under the old
    kid, and list the joins made with it (forensic review)."""
    require_operator(request)
    return await comms_of(request).tokens.emergency_rotation()  # type: ignore[no-any-return]


@router.get("/ops/recordings")
async def recordings(
    request: Request, state: Literal["pending", "ingested", "dead"] | None = None
) -> list[dict[str, Any]]:
    """Recording ingest jobs; ``dead`` ones are parked with their source kept."""
    require_operator(request)
    return await comms_of(request).recordings.listing(state)  # type: ignore[no-any-return]


@router.post("/ops/recordings/{session_id}/replay")
async def replay_recording(session_id: str, request: Request) -> dict[str, Any]:
    require_operator(request)
    if not await comms_of(request).recordings.replay(session_id):
        raise ServiceError("COMMS.RECORDING.NOT_DEAD", f"{session_id} is not parked", status=404)
    return {"session": session_id, "state": "pending"}


class ErasureRequest(BaseModel):
    tenant: str
    identifiers: list[str]


@router.post("/ops/erasures", status_code=202)
async def erase(body: ErasureRequest, request: Request) -> dict[str, Any]:
    """Erase a data subject (patient id, phone, email) from every store of the service."""
    require_operator(request)
    if not body.identifiers or any(not i.strip() for i in body.identifiers):
        raise ServiceError("COMMS.ERASURE.EMPTY", "name at least one identifier", status=422)
    return await comms_of(request).erasures.request(body.tenant, body.identifiers)  # type: ignore[no-any-return]


@router.post("/ops/erasures/reconcile")
async def reconcile(request: Request) -> list[dict[str, Any]]:
    """Run the reconciliation job now (it also runs every hour)."""
    require_operator(request)
    return await comms_of(request).erasures.reconcile()  # type: ignore[no-any-return]


class SliBatch(BaseModel):
    slo: Literal["send-latency", "dispatch-success"]
    good: int = Field(ge=0, le=10_000_000)
    bad: int = Field(ge=0, le=10_000_000)


@router.post("/ops/sli")
async def record_sli(body: SliBatch, request: Request) -> dict[str, Any]:
    """Record a batch of SLI samples (good and bad events) of one SLO, at the current
    time; answers every SLO's burn of its 30-day budget over the trailing 7 days."""
    require_operator(request)
    return await comms_of(request).budgets.record(body.slo, body.good, body.bad)  # type: ignore[no-any-return]


@router.get("/ops/budget")
async def budget(request: Request) -> dict[str, Any]:
    """Each SLO's burn over the trailing 7 days, its samples there (good, bad: the live
    dispatches' and the batches posted), and the adapter freeze flag."""
    require_operator(request)
    budgets = comms_of(request).budgets
    burns = {slo: await budgets.burn(slo) for slo in SLOS}
    samples = {
        slo: dict(zip(("good", "bad"), await budgets.samples(slo), strict=True)) for slo in SLOS
    }
    frozen = await budgets.frozen()
    return {"burn": burns, "samples": samples, "frozen": frozen is not None, "slo": frozen}


class Change(BaseModel):
    paths: list[str] = Field(min_length=1, max_length=10_000)


@router.post("/ops/gate")
async def gate(body: Change, request: Request) -> dict[str, Any]:
    """The change gate: a change touching adapter code is refused (409) while the error
    budget freeze is set; anything else passes."""
    require_operator(request)
    verdict = await comms_of(request).budgets.gate(body.paths)
    if not verdict["allowed"]:
        raise ServiceError(
            "COMMS.BUDGET.FROZEN",
            f"adapter changes are frozen: the {verdict['slo']} error budget burned more than"
            " 50 % in the last 7 days",
            status=409,
            details={"adapters": verdict["adapters"]},
        )
    return verdict  # type: ignore[no-any-return]


@router.get("/ops/scans")
async def scans(request: Request) -> dict[str, Any]:
    """The attachment scan queue: scans waiting, scanner workers, attachments per state."""
    require_operator(request)
    return await comms_of(request).scanning.summary()  # type: ignore[no-any-return]
