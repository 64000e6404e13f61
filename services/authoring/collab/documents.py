"""The collaborative document through plain requests: the editor's session (collab, or
single-user when no collab process answers: authoring.fallback.2), saves in single-user
mode, and the per-draft repair tool (authoring.fm.1.2).

Single-user mode: the editor opens the document as of the last snapshot (at most 60 s
old) plus the events logged after it; the first editor to open it holds the draft (a
10 min lease, renewed by each save), others are read-only. A save names the version it
was made on: a stale one is refused (412), and the save is appended to the same event
log, so the rooms rebuild it when collab returns.

Repair: the document is rebuilt from its snapshot and events on a staging copy
(``authoring_doc_staging``); only a staging run in which every event decoded is promoted
(a new snapshot, the live rooms dropped so their clients rejoin onto it).
"""

from __future__ import annotations

import base64
from typing import Any

from services.kit.errors import ServiceError

from ..drafts import CONSTRAINT
from ..events import CollabUnavailable
from .log import DocLog, blocks_of, event_name
from .router import CollabRouter

__all__ = ["BANNER", "LEASE", "Documents"]

LEASE = 600.0
BANNER = (
    "Real-time collaboration is unavailable: single-user mode. One editor holds the"
    " draft; others can read it. Your saves are merged when collaboration returns."
)


class Documents:
    def __init__(self, runtime: Any, log: DocLog, router: CollabRouter, servers: Any) -> None:
        self.rt = runtime
        self.log = log
        self.router = router
        self.servers = servers
        switches = runtime.switches
        self.single_user = switches.enabled("authoring.switch.single-user")
        self.precondition = switches.enabled("authoring.switch.version-precondition")
        self.staged = switches.enabled("authoring.switch.repair-staging")

    async def session(self, draft: str, user: str, *, hold: bool = True) -> dict[str, Any]:
        """Where ``user`` edits ``draft``. ``hold``: in single-user mode, take the draft
        when free (a client only looking for a collab process to rejoin does not)."""
        server = await self.router.route(draft)
        if server is not None:
            return {"mode": "collab", "server": server, "path": f"/v1/collab/{draft}"}
        self.rt.emit(CollabUnavailable(target="collab.router", at=self.rt.clock.now(), draft=draft))
        if not self.single_user:
            raise ServiceError(
                "AUTHORING.COLLAB.UNAVAILABLE",
                "real-time collaboration is unavailable; try again shortly",
                status=503,
                retry_after=30,
            )
        rebuilt = await self.log.rebuild(draft)
        holder = await self._hold(draft, user) if hold else await self._holder(draft)
        age = None if rebuilt.snapshot_at is None else self.rt.clock.now() - rebuilt.snapshot_at
        return {
            "mode": "single-user",
            "holder": holder,
            "readOnly": holder != user,
            "version": rebuilt.version,
            "snapshotVersion": rebuilt.snapshot_version,
            "snapshotAge": age,
            "blocks": rebuilt.blocks(),
            "banner": BANNER,
        }

    async def document(self, draft: str) -> dict[str, Any]:
        rebuilt = await self.log.rebuild(draft)
        return {"version": rebuilt.version, "blocks": rebuilt.blocks(), "bad": rebuilt.bad}

    async def save(
        self, draft: str, user: str, key: str, text: str, version: int
    ) -> dict[str, Any]:
        holder = await self._hold(draft, user)
        if holder != user:
            raise ServiceError(
                "AUTHORING.DOC.READ_ONLY", f"{holder} holds this draft; it is read-only", status=423
            )
        rebuilt = await self.log.rebuild(draft)
        if self.precondition and version != rebuilt.version:
            raise _stale(version, rebuilt.version)
        doc = rebuilt.doc
        before = set(blocks_of(doc).keys())
        state = doc.get_state()
        blocks_of(doc)[key] = text
        seq = rebuilt.version + 1
        try:
            name = event_name(before, set(blocks_of(doc).keys()))
            await self.log.append(draft, seq, name, doc.get_update(state), f"single:{user}:{seq}")
        except CONSTRAINT as exc:  # another save took this version first
            raise _stale(version, seq) from exc
        return {"version": seq}

    async def repair(self, draft: str) -> dict[str, Any]:
        staging = await self.log.rebuild(draft)
        ok = not staging.bad
        state = base64.b64encode(staging.doc.get_update()).decode()
        detail = "every event decoded" if ok else f"events {staging.bad} do not decode"
        await self.rt.store.execute(
            "INSERT INTO authoring_doc_staging (draft_id, version, state, ok, detail, at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (draft_id) DO UPDATE SET"
            " version = excluded.version, state = excluded.state, ok = excluded.ok,"
            " detail = excluded.detail, at = excluded.at",
            (draft, staging.version, state, int(ok), detail, self.rt.clock.now()),
        )
        if self.staged and not ok:
            raise ServiceError(
                "AUTHORING.REPAIR.STAGING_FAILED",
                f"the staging run failed ({detail}); nothing was promoted",
                status=409,
            )
        await self.log.snapshot(draft, staging.version, staging.doc.get_update())
        for server in self.servers:
            await server.drop(draft, "repaired")
        return {"promoted": True, "version": staging.version, "detail": detail}

    async def _holder(self, draft: str) -> str | None:
        rows = await self.rt.store.fetch(
            "SELECT holder, until FROM authoring_doc_leases WHERE draft_id = ?", (draft,)
        )
        if rows and float(rows[0][1]) > self.rt.clock.now():
            return str(rows[0][0])
        return None

    async def _hold(self, draft: str, user: str) -> str:
        """The lease's holder (taken by ``user`` when free or expired)."""
        now = self.rt.clock.now()
        async with self.rt.store.transaction() as tx:
            row = await tx.fetchone(
                "SELECT holder, until FROM authoring_doc_leases WHERE draft_id = ?", (draft,)
            )
            if row is not None and row[0] != user and float(row[1]) > now:
                return str(row[0])
            await tx.execute(
                "INSERT INTO authoring_doc_leases (draft_id, holder, until) VALUES (?, ?, ?)"
                " ON CONFLICT (draft_id) DO UPDATE SET holder = excluded.holder,"
                " until = excluded.until",
                (draft, user, now + LEASE),
            )
        return user


def _stale(sent: int, current: int) -> ServiceError:
    return ServiceError(
        "AUTHORING.DOC.VERSION_MISMATCH",
        f"the save was made on version {sent}; the document is at {current}: reload it",
        status=412,
    )
