"""The drafts repository and its use cases: create, edit, add blocks, approve.

Every block is written by :meth:`Drafts.add_block`, which builds it through
:func:`new_block` (the domain's invariants, AI provenance among them) before any write:
it is the only code that inserts into ``authoring_blocks`` (a test scans for others).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from services.kit.calls import call
from services.kit.errors import ServiceError

from .domain.blocks import AI_KINDS, Block, DomainError, new_block
from .domain.drafts import DraftState, can_edit
from .events import AiProvenanceRefused, BlockWriteFailed

__all__ = ["CONSTRAINT", "Drafts"]

# Constraint violations fail the same way however often they are tried: not retried.
CONSTRAINT: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)
try:  # PostgreSQL's, when psycopg is installed
    import psycopg

    CONSTRAINT += (psycopg.errors.IntegrityError,)
except ImportError:  # pragma: no cover
    pass


class Drafts:
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.gate = runtime.switches.enabled("authoring.switch.ai-provenance")
        self.dedupe = runtime.switches.enabled("authoring.switch.operation-id")

    async def create(self, tenant: str, title: str) -> dict[str, Any]:
        draft_id = uuid.uuid4().hex[:16]
        await self.rt.store.execute(
            "INSERT INTO authoring_drafts (id, tenant, title, state, version, updated_at)"
            " VALUES (?, ?, ?, 'editing', 1, ?)",
            (draft_id, tenant, title, self.rt.clock.wall()),
        )
        return await self.get(tenant, draft_id)

    async def get(self, tenant: str, draft_id: str) -> dict[str, Any]:
        rows = await self.rt.store.fetch(
            "SELECT id, title, state, version, publish_id, error FROM authoring_drafts"
            " WHERE id = ? AND tenant = ?",
            (draft_id, tenant),
        )
        if not rows:
            raise ServiceError("AUTHORING.DRAFT.NOT_FOUND", f"no draft {draft_id}", status=404)
        id_, title, state, version, publish_id, error = rows[0]
        return {
            "id": id_,
            "title": title,
            "state": state,
            "version": int(version),
            "publishId": publish_id,
            "error": error,
            "blocks": [_block_json(b) for b in await self.blocks(draft_id)],
        }

    async def blocks(self, draft_id: str) -> list[Block]:
        rows = await self.rt.store.fetch(
            "SELECT id, kind, body, ai_provenance FROM authoring_blocks"
            " WHERE draft_id = ? ORDER BY position",
            (draft_id,),
        )
        out = []
        for id_, kind, body, prov in rows:
            data = json.loads(body)
            media = tuple(data.pop("__media", ()))
            out.append(Block(id_, kind, data, media, json.loads(prov) if prov else None))
        return out

    async def edit(self, tenant: str, draft_id: str, title: str) -> dict[str, Any]:
        await self._editable(tenant, draft_id)
        await self.rt.store.execute(
            "UPDATE authoring_drafts SET title = ?, version = version + 1, updated_at = ?"
            " WHERE id = ?",
            (title, self.rt.clock.wall(), draft_id),
        )
        return await self.get(tenant, draft_id)

    async def approve(self, tenant: str, draft_id: str) -> dict[str, Any]:
        await self._editable(tenant, draft_id)
        await self.set_state(draft_id, DraftState.APPROVED, None)
        return await self.get(tenant, draft_id)

    async def add_block(self, tenant: str, draft_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Add one block; an AI block without provenance is refused before any write. The
        draft's state is checked inside the write's transaction, so the whole of it is one
        ``store.write`` call under its 300 ms budget (a database that is away fails it
        fast, even while the pool waits for a connection)."""
        # The client's operation id names the block: a write resent after an unknown
        # outcome (the answer was lost after COMMIT) finds its block and adds none.
        operation = spec.get("operationId")
        dedupe = operation and self.dedupe  # the mutation: every write a new block
        block_id = f"{draft_id}-{operation}" if dedupe else uuid.uuid4().hex[:12]
        kind = str(spec.get("kind", ""))
        body = dict(spec.get("body") or {})
        media = [str(m) for m in spec.get("media") or []]
        prov = spec.get("aiProvenance")
        try:
            if self.gate:
                block = new_block(block_id, kind, body, media=media, ai_provenance=prov)
            else:  # the mutation: the invariant switched off
                block = Block(block_id, kind, body, tuple(media), prov)
        except DomainError.AIProvenanceRequired as exc:
            self.rt.emit(
                AiProvenanceRefused(
                    target="authoring.blocks", at=self.rt.clock.now(), block=block_id
                )
            )
            raise ServiceError(exc.code, str(exc), status=exc.status) from exc
        except DomainError.UnknownKind as exc:
            raise ServiceError(exc.code, str(exc), status=exc.status) from exc
        try:
            await call(
                self.rt.policy("store.write"),
                self._insert,
                tenant,
                draft_id,
                block,
                permanent=(*CONSTRAINT, ServiceError),
            )
        except ServiceError:
            raise  # the draft is missing or not editable: the caller's answer
        except CONSTRAINT as exc:
            raise ServiceError(
                "AUTHORING.BLOCK.CONFLICT",
                f"the block conflicts with a stored one: {exc}",
                status=409,
            ) from exc
        except Exception as exc:  # retries spent inside the 300 ms budget: nothing acked
            self.rt.emit(BlockWriteFailed(target="store.write", at=self.rt.clock.now()))
            raise ServiceError(
                "AUTHORING.STORE.UNAVAILABLE",
                f"the block was not saved ({type(exc).__name__}); resend it",
                status=503,
                retry_after=1,
            ) from exc
        return _block_json(block)

    async def _insert(self, tenant: str, draft_id: str, block: Block) -> None:
        async with self.rt.store.transaction() as tx:
            found = await tx.fetchone(
                "SELECT state FROM authoring_drafts WHERE id = ? AND tenant = ?",
                (draft_id, tenant),
            )
            if found is None:
                raise ServiceError("AUTHORING.DRAFT.NOT_FOUND", f"no draft {draft_id}", status=404)
            if not can_edit(found[0]):
                raise _busy(draft_id, found[0])
            row = await tx.fetchone(
                "SELECT COUNT(*) FROM authoring_blocks WHERE draft_id = ?", (draft_id,)
            )
            position = int(row[0]) if row else 0
            stored = {**block.body, "__media": list(block.media)}
            added = await tx.execute(
                "INSERT INTO authoring_blocks (id, draft_id, position, kind, body, ai_provenance)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    block.id,
                    draft_id,
                    position,
                    block.kind,
                    json.dumps(stored),
                    json.dumps(block.ai_provenance) if block.ai_provenance else None,
                ),
            )
            if not added:  # a resent operation: its block is already there
                return
            await tx.execute(
                "UPDATE authoring_drafts SET version = version + 1, state = 'editing',"
                " updated_at = ? WHERE id = ?",
                (self.rt.clock.wall(), draft_id),
            )

    async def set_state(self, draft_id: str, state: str, error: str | None) -> None:
        await self.rt.store.execute(
            "UPDATE authoring_drafts SET state = ?, error = ?, updated_at = ? WHERE id = ?",
            (state, error, self.rt.clock.wall(), draft_id),
        )

    async def _editable(self, tenant: str, draft_id: str) -> None:
        draft = await self.get(tenant, draft_id)
        if not can_edit(draft["state"]):
            raise _busy(draft_id, draft["state"])


def _busy(draft_id: str, state: str) -> ServiceError:
    return ServiceError(
        "AUTHORING.DRAFT.BUSY", f"draft {draft_id} is {state}; it cannot be edited now", status=409
    )


def _block_json(block: Block) -> dict[str, Any]:
    out: dict[str, Any] = {"id": block.id, "kind": block.kind, "body": dict(block.body)}
    out["media"] = list(block.media)
    if block.ai_provenance is not None or block.kind in AI_KINDS:
        out["aiProvenance"] = block.ai_provenance
    return out
