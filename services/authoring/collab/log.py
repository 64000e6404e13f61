"""The durable side of a collaborative document: snapshots and the event log.

Every update a room applies is appended to ``authoring_doc_events`` (named
``authoring.block.added.v1``, ``.updated.v1`` or ``.removed.v1``) before it is
acknowledged; every 60 s the room's whole state is saved to ``authoring_doc_snapshots``.
A document is rebuilt from its latest snapshot and the events after it (replay); an
event that no longer decodes is reported, not skipped silently.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map

__all__ = ["DocLog", "Rebuilt", "blocks_of", "event_name"]


def blocks_of(doc: Doc[Any]) -> Map[Any]:
    blocks: Map[Any] = doc.get("blocks", type=Map)
    return blocks


def event_name(before: set[str], after: set[str]) -> str:
    if after - before:
        return "authoring.block.added.v1"
    if before - after:
        return "authoring.block.removed.v1"
    return "authoring.block.updated.v1"


@dataclass
class Rebuilt:
    doc: Doc[Any]
    version: int
    snapshot_version: int
    snapshot_at: float | None
    replayed: int
    bad: list[int] = field(default_factory=list)

    def blocks(self) -> dict[str, Any]:
        return dict(blocks_of(self.doc))


class DocLog:
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self.replay = runtime.switches.enabled("authoring.switch.collab-replay")

    async def append(self, draft: str, seq: int, name: str, update: bytes, op: str) -> None:
        """One applied update, durable before its acknowledgement (a taken ``seq`` raises
        the store's constraint error: the version precondition of concurrent writers)."""
        await self.rt.store.execute(
            "INSERT INTO authoring_doc_events (draft_id, seq, name, update_b64, op, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (draft, seq, name, _b64(update), op, self.rt.clock.now()),
        )

    async def last_seq(self, draft: str) -> int:
        rows = await self.rt.store.fetch(
            "SELECT MAX(seq) FROM authoring_doc_events WHERE draft_id = ?", (draft,)
        )
        return int(rows[0][0] or 0) if rows else 0

    async def snapshot(self, draft: str, version: int, state: bytes) -> None:
        await self.rt.store.execute(
            "INSERT INTO authoring_doc_snapshots (draft_id, version, state, at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (draft_id, version) DO NOTHING",
            (draft, version, _b64(state), self.rt.clock.now()),
        )

    async def snapshots(self, draft: str) -> list[tuple[int, float]]:
        rows = await self.rt.store.fetch(
            "SELECT version, at FROM authoring_doc_snapshots WHERE draft_id = ? ORDER BY at",
            (draft,),
        )
        return [(int(v), float(at)) for v, at in rows]

    async def latest(self, draft: str) -> tuple[int, bytes, float] | None:
        rows = await self.rt.store.fetch(
            "SELECT version, state, at FROM authoring_doc_snapshots WHERE draft_id = ?"
            " ORDER BY version DESC LIMIT 1",
            (draft,),
        )
        if not rows:
            return None
        version, state, at = rows[0]
        return int(version), base64.b64decode(state), float(at)

    async def events_after(self, draft: str, seq: int) -> list[tuple[int, str, str]]:
        rows = await self.rt.store.fetch(
            "SELECT seq, name, update_b64 FROM authoring_doc_events"
            " WHERE draft_id = ? AND seq > ? ORDER BY seq",
            (draft, seq),
        )
        return [(int(s), str(n), str(u)) for s, n, u in rows]

    async def rebuild(self, draft: str) -> Rebuilt:
        """The document from its latest snapshot plus the events after it."""
        doc: Doc[Any] = Doc()
        blocks_of(doc)
        snap = await self.latest(draft)
        base, at = 0, None
        if snap is not None:
            base, state, at = snap
            doc.apply_update(state)
        out = Rebuilt(doc, base, base, at, 0)
        events = await self.events_after(draft, base)
        for seq, _name, encoded in events if self.replay else []:
            try:
                doc.apply_update(base64.b64decode(encoded, validate=True))
            except ValueError:
                out.bad.append(seq)
                continue
            out.replayed += 1
        out.version = max([base, *(s for s, _, _ in events)])
        return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
