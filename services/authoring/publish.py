"""Publishing a draft: the media validator, then the saga catalog -> bundle -> done.

- validate (at the publish command, before the draft leaves ``approved``): every media
  ref of every block resolves to an asset whose status is ``ready`` in the media service
  (``media.check``: 3 retries at 200 ms, 1 s, 3 s inside 5 s, its breaker 5 / 30s). A
  missing asset refuses the publish with the blocks that name it; a media service that
  cannot answer refuses it as unverifiable (fails closed), never passes it unchecked.
- register: the catalog service records the CourseVersion (``catalog.register``);
- bundle: the content service builds the bundle (``content.bundle``);
- done: the draft is published.

Saga state is in the store (mitigate's saga tables, leased by the worker: crash-safe); the
saga times out after 15 min. Compensation runs in reverse: bundle discarded, catalog
registration withdrawn, draft back to ``approved`` with the reason, author alerted.
"""

from __future__ import annotations

import uuid
from typing import Any

import mitigate
from services.kit.calls import PermanentError, call
from services.kit.errors import ServiceError
from services.kit.http import Remote, RemoteRefusedError

from .adapters.media import MediaClient
from .domain.drafts import DraftState, can_publish
from .drafts import Drafts
from .events import PublishRefused

__all__ = ["RUNBOOK", "SAGA", "Publisher"]

SAGA = "authoring.publish"
RUNBOOK = "runbooks/authoring/publish-saga.md"
DEADLINE = 15 * 60.0
PERMANENT = (PermanentError, RemoteRefusedError)
STUCK_AFTER = 5 * 60.0


class Publisher:
    def __init__(
        self,
        runtime: Any,
        settings: Any,
        *,
        drafts: Drafts,
        media: MediaClient,
        catalog: Remote,
        content: Remote,
    ) -> None:
        self.rt = runtime
        self.drafts = drafts
        self.media = media
        self.catalog = catalog
        self.content = content
        switches = runtime.switches
        self.media_gate = switches.enabled("authoring.switch.media-gate")
        compensate = switches.enabled("authoring.switch.compensation")
        self.saga = mitigate.Saga(
            SAGA,
            [
                mitigate.Step("start", self._start, self._rollback if compensate else None),
                mitigate.Step("register", self._register, self._unregister if compensate else None),
                mitigate.Step("bundle", self._bundle, self._discard if compensate else None),
                mitigate.Step("done", self._done),
            ],
            deadline=DEADLINE if switches.enabled("authoring.switch.saga-deadline") else None,
            stuck_after=STUCK_AFTER,
            runbook=RUNBOOK,
        )
        self.worker = mitigate.SagaWorker(
            runtime.store,
            [self.saga],
            clock=runtime.clock,
            observers=runtime.observers,
            policies=runtime.policy,
            poll=settings.saga_poll,
        )

    # -- the publish command --------------------------------------------------------------
    async def request(self, tenant: str, draft_id: str) -> dict[str, Any]:
        draft = await self.drafts.get(tenant, draft_id)
        if not can_publish(draft["state"]):
            raise ServiceError(
                "AUTHORING.DRAFT.NOT_APPROVED",
                f"draft {draft_id} is {draft['state']}; approve it before publishing",
                status=409,
            )
        if self.media_gate:
            await self._validate_media(draft_id)
        publish_id = uuid.uuid4().hex
        async with self.rt.store.transaction() as tx:
            await tx.execute(
                "UPDATE authoring_drafts SET state = 'publishing', publish_id = ?, error = NULL,"
                " updated_at = ? WHERE id = ? AND state = 'approved'",
                (publish_id, self.rt.clock.wall(), draft_id),
            )
        await self.worker.start(
            SAGA,
            {"tenant": tenant, "draft": draft_id, "bundle": f"bdl-{publish_id[:16]}"},
            id=publish_id,
        )
        return {"publishId": publish_id, "state": DraftState.PUBLISHING.value}

    async def _validate_media(self, draft_id: str) -> None:
        missing: list[dict[str, str]] = []
        for block in await self.drafts.blocks(draft_id):
            for asset in block.media:
                try:
                    # The media client runs the ``media.check`` pipeline itself.
                    status = await self.media.status(asset)
                except Exception as exc:  # retries spent or breaker open: fail closed
                    self._refused(draft_id, "AUTHORING.MEDIA.UNVERIFIABLE")
                    raise ServiceError(
                        "AUTHORING.MEDIA.UNVERIFIABLE",
                        f"the media service could not confirm asset {asset}"
                        f" ({type(exc).__name__}); publish again later",
                        status=503,
                        retry_after=60,
                    ) from exc
                if status != "ready":
                    missing.append({"block": block.id, "asset": asset, "status": status})
        if missing:
            self._refused(draft_id, "AUTHORING.MEDIA.MISSING")
            names = ", ".join(f"block {m['block']}: {m['asset']} ({m['status']})" for m in missing)
            raise ServiceError("AUTHORING.MEDIA.MISSING", f"media not ready: {names}", status=409)

    def _refused(self, draft_id: str, code: str) -> None:
        self.rt.emit(
            PublishRefused(target="media.check", at=self.rt.clock.now(), draft=draft_id, code=code)
        )

    async def status(self, tenant: str, publish_id: str) -> dict[str, Any]:
        found = await mitigate.get_saga(self.rt.store, publish_id)
        if found is None or (found.input or {}).get("tenant") != tenant:
            raise ServiceError(
                "AUTHORING.PUBLISH.NOT_FOUND", f"no publish {publish_id}", status=404
            )
        return {"publishId": publish_id, "state": found.state, "error": found.error}

    async def alerts(self, tenant: str, audience: str) -> list[dict[str, Any]]:
        rows = await self.rt.store.fetch(
            "SELECT id, subject, code, message, runbook, at FROM authoring_alerts"
            " WHERE tenant = ? AND audience = ? ORDER BY at, id",
            (tenant, audience),
        )
        keys = ("id", "subject", "code", "message", "runbook", "at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    # -- saga steps -----------------------------------------------------------------------
    def _step(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # A refusal (4xx) will fail the same way however often it is sent: not retried.
        return call(self.rt.policy("publish.step"), fn, *args, permanent=PERMANENT, **kwargs)

    def _undo(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Compensations have their own schedule: a fault at a step is not one at its undo.
        return call(self.rt.policy("publish.compensate"), fn, *args, **kwargs)

    async def _start(self, ctx: mitigate.StepContext) -> dict[str, float]:
        return {"at": self.rt.clock.wall()}

    async def _register(self, ctx: mitigate.StepContext) -> Any:
        job = ctx.input
        body = {
            "packageId": job["bundle"],
            "tenant": job["tenant"],
            "draftId": job["draft"],
            "digest": job["bundle"],
        }
        return await self._step(
            self.catalog.request, "catalog.register", "POST", "/v1/packages", json=body
        )

    async def _unregister(self, ctx: mitigate.StepContext) -> None:
        path = f"/v1/packages/{ctx.input['bundle']}"
        await self._undo(self.catalog.request, "catalog.register", "DELETE", path)

    async def _bundle(self, ctx: mitigate.StepContext) -> Any:
        job = ctx.input
        blocks = [
            {"id": b.id, "kind": b.kind, "body": dict(b.body)}
            for b in await self.drafts.blocks(job["draft"])
        ]
        body = {"tenant": job["tenant"], "draftId": job["draft"], "blocks": blocks}
        path = f"/v1/bundles/{job['bundle']}"
        return await self._step(self.content.request, "content.bundle", "PUT", path, json=body)

    async def _discard(self, ctx: mitigate.StepContext) -> None:
        path = f"/v1/bundles/{ctx.input['bundle']}"
        await self._undo(self.content.request, "content.bundle", "DELETE", path)

    async def _done(self, ctx: mitigate.StepContext) -> dict[str, str]:
        await self._step(self.drafts.set_state, ctx.input["draft"], DraftState.PUBLISHED, None)
        return {"state": "published"}

    async def _rollback(self, ctx: mitigate.StepContext) -> None:
        job = ctx.input
        found = await mitigate.get_saga(self.rt.store, ctx.saga_id)
        reason = (found.error if found is not None else None) or "the publish was rolled back"
        await self.drafts.set_state(job["draft"], DraftState.APPROVED, reason)
        await self.rt.store.execute(
            "INSERT INTO authoring_alerts (id, audience, tenant, subject, code, message,"
            " runbook, at) VALUES (?, 'author', ?, ?, ?, ?, ?, ?)",
            (
                uuid.uuid4().hex,
                job["tenant"],
                job["draft"],
                "AUTHORING.PUBLISH.ROLLED_BACK",
                f"publishing draft {job['draft']} failed and was rolled back: {reason}",
                RUNBOOK,
                self.rt.clock.wall(),
            ),
        )
