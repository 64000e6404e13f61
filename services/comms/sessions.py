"""Virtual sessions: a video room for a patient's appointment (comms.fm.4, comms.fm.14).

A room is created on pool ``a`` through its pipeline (attempt timeout, breaker); while
pool ``a``'s breaker is open, rooms are created on pool ``b``. A session whose room could
not be created fails: the patient sees "session failed" and a message thread to go on
with. A breaker per patient per day stops a thread storm: once the patient has
``threads_per_day`` fallback threads that day, later failures post to the last one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.http import Remote

__all__ = ["FallbackInitiated", "SessionFailed", "Sessions"]

DAY = 86_400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionFailed(mitigate.Event):
    name: ClassVar[str] = "virtual_session.failed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    session: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackInitiated(mitigate.Event):
    """A failed session sent its patient to a message thread (new or reused)."""

    name: ClassVar[str] = "virtual_session.fallback_initiated"
    thread: str = ""
    reused: bool = False


class Sessions:
    def __init__(
        self, runtime: Any, video: Remote, *, threads_per_day: int, switches: dict[str, str]
    ) -> None:
        self.runtime = runtime
        self.video = video
        self.store = runtime.store
        self.clock = runtime.clock
        self.threads_per_day = threads_per_day
        self.switches = switches
        self.tokens: Any = None  # JoinTokens, when the service signs join tokens
        self.recordings: Any = None  # Recordings: an ended session's recording is ingested

    def _on(self, what: str) -> bool:
        return bool(self.runtime.switches.enabled(self.switches[what]))

    async def _room(self, room: str) -> dict[str, Any]:
        try:
            answer = await self.video.request(
                "video.pool-a", "POST", "/pools/a/rooms", json={"room": room}
            )
        except mitigate.BreakerOpenError:  # pool a is out: create the room on pool b
            answer = await self.video.request(
                "video.pool-b", "POST", "/pools/b/rooms", json={"room": room}
            )
        return dict(answer or {})

    async def start(self, tenant: str, patient: str) -> dict[str, Any]:
        session_id = f"s-{uuid.uuid4().hex[:16]}"
        now = self.clock.now()
        try:
            room = await self._room(f"{tenant}-{patient}")
        except Exception as exc:
            return await self._failed(session_id, tenant, patient, now, str(exc))
        await self.store.execute(
            "INSERT INTO comms_sessions (id, tenant, patient, state, pool, room, reason,"
            " thread_id, created_at) VALUES (?, ?, ?, 'live', ?, ?, NULL, NULL, ?)",
            (session_id, tenant, patient, room["pool"], room["room"], now),
        )
        live = {"id": session_id, "state": "live", "pool": room["pool"], "url": room["url"]}
        if self.tokens is not None:
            live["token"] = self.tokens.issue(session_id, patient)
        return live

    async def _failed(
        self, session_id: str, tenant: str, patient: str, now: float, why: str
    ) -> dict[str, Any]:
        self.runtime.emit(SessionFailed(target="video.sessions", at=now, session=session_id))
        thread, reused = None, False
        if self._on("thread"):
            thread, reused = await self._fallback_thread(tenant, patient, now)
            self.runtime.emit(
                FallbackInitiated(target="video.fallback", at=now, thread=thread, reused=reused)
            )
        await self.store.execute(
            "INSERT INTO comms_sessions (id, tenant, patient, state, pool, room, reason,"
            " thread_id, created_at) VALUES (?, ?, ?, 'failed', NULL, NULL, ?, ?, ?)",
            (session_id, tenant, patient, why[:300], thread, now),
        )
        return {"id": session_id, "state": "failed", "fallbackThread": thread, "reused": reused}

    async def _fallback_thread(self, tenant: str, patient: str, now: float) -> tuple[str, bool]:
        day = int(self.clock.wall() // DAY)  # the calendar day (UTC), not process time
        body = "Your video session could not start. Continue with your care team here."
        if self._on("breaker"):
            rows = await self.store.fetch(
                "SELECT id FROM comms_threads WHERE tenant = ? AND patient = ? AND day = ?"
                " ORDER BY created_at DESC, id",
                (tenant, patient, day),
            )
            if len(rows) >= self.threads_per_day:  # the patient's breaker is open today
                thread = str(rows[0][0])
                await self._post(thread, "Another session could not start; we are on it.", now)
                return thread, True
        thread = f"t-{uuid.uuid4().hex[:16]}"
        await self.store.execute(
            "INSERT INTO comms_threads (id, tenant, patient, day, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (thread, tenant, patient, day, now),
        )
        await self._post(thread, body, now)
        return thread, False

    async def _post(self, thread: str, body: str, now: float) -> None:
        await self.store.execute(
            "INSERT INTO comms_thread_messages (thread_id, body, at) VALUES (?, ?, ?)",
            (thread, body, now),
        )

    async def end(self, tenant: str, session: str) -> dict[str, Any] | None:
        """Close the session's room; its recording is queued for ingest."""
        rows = await self.store.fetch(
            "SELECT state, pool, room FROM comms_sessions WHERE id = ? AND tenant = ?",
            (session, tenant),
        )
        if not rows:
            return None
        state, pool, room = rows[0]
        if state == "live":
            await self.video.request(f"video.pool-{pool}", "DELETE", f"/pools/{pool}/rooms/{room}")
            await self.store.execute(
                "UPDATE comms_sessions SET state = 'ended' WHERE id = ?", (session,)
            )
            if self.recordings is not None:
                await self.recordings.enqueue(session, tenant, str(pool), str(room))
        return {"id": session, "state": "ended" if state == "live" else state}

    async def threads(self, tenant: str, patient: str) -> list[dict[str, Any]]:
        rows = await self.store.fetch(
            "SELECT t.id, t.day, t.created_at, COUNT(m.thread_id) FROM comms_threads t"
            " LEFT JOIN comms_thread_messages m ON m.thread_id = t.id"
            " WHERE t.tenant = ? AND t.patient = ? GROUP BY t.id, t.day, t.created_at"
            " ORDER BY t.created_at, t.id",
            (tenant, patient),
        )
        return [
            {"id": i, "day": int(d), "createdAt": float(c), "messages": int(n)}
            for i, d, c, n in rows
        ]
