"""Recording ingest (comms.fm.20): when a session ends, its recording is copied from the
video provider into the object store, through the ``recording.ingest`` pipeline (retries
with backoff). Each failed attempt is a ``recording.failed`` event. The provider's source
is deleted only once the stored copy is confirmed (same size); when the retries run out
the job is parked in the dead-letter state with the source kept, for a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import mitigate
from services.kit.calls import call
from services.kit.http import Remote

__all__ = ["RecordingFailed", "Recordings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFailed(mitigate.Event):
    name: ClassVar[str] = "recording.failed"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.ERROR
    session: str = ""
    reason: str = ""


class Recordings:
    def __init__(self, runtime: Any, video: Remote, *, keep_source_switch: str) -> None:
        self.runtime = runtime
        self.video = video
        self.store = runtime.store
        self.clock = runtime.clock
        self.keep_source_switch = keep_source_switch

    async def enqueue(self, session: str, tenant: str, pool: str, room: str) -> None:
        await self.store.execute(
            "INSERT INTO comms_recordings (session_id, tenant, pool, room, state, attempts,"
            " reason, at) VALUES (?, ?, ?, ?, 'pending', 0, NULL, ?)"
            " ON CONFLICT (session_id) DO NOTHING",
            (session, tenant, pool, room, self.clock.now()),
        )

    async def listing(self, state: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT session_id, tenant, state, attempts, reason, object_key FROM comms_recordings"
        rows = await self.store.fetch(
            sql + (" WHERE state = ?" if state else ""), (state,) if state else ()
        )
        keys = ("session", "tenant", "state", "attempts", "reason", "objectKey")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def replay(self, session: str) -> bool:
        changed = await self.store.execute(
            "UPDATE comms_recordings SET state = 'pending', reason = NULL"
            " WHERE session_id = ? AND state = 'dead'",
            (session,),
        )
        return bool(changed)

    async def tick(self) -> None:
        rows = await self.store.fetch(
            "SELECT session_id, tenant, pool, room FROM comms_recordings WHERE state = 'pending'"
        )
        for session, tenant, pool, room in rows:
            await self._ingest(str(session), str(tenant), str(pool), str(room))

    async def _ingest(self, session: str, tenant: str, pool: str, room: str) -> None:
        key = f"recordings/{tenant}/{session}.webm"
        source = f"/pools/{pool}/recordings/{room}"
        keep = self.runtime.switches.enabled(self.keep_source_switch)
        attempts = 0
        fetched: bytes | None = None

        async def attempt() -> int:
            nonlocal attempts, fetched
            attempts += 1
            if fetched is None:
                answer = await self.video.client.get(source)
                answer.raise_for_status()
                fetched = answer.content
                if not keep:  # the bug this switch guards against: delete after download
                    await self.video.client.delete(source)
            try:
                info = await self.runtime.objects.put(key, fetched)
            except OSError as exc:
                self.runtime.emit(
                    RecordingFailed(
                        target="recording.ingest",
                        at=self.clock.now(),
                        session=session,
                        reason=f"{type(exc).__name__}: {exc}",
                    )
                )
                raise
            return int(info.size)

        try:
            size = await call(self.runtime.policy("recording.ingest"), attempt)
        except Exception as exc:
            await self.store.execute(
                "UPDATE comms_recordings SET state = 'dead', attempts = attempts + ?, reason = ?"
                " WHERE session_id = ?",
                (attempts, f"{type(exc).__name__}: {exc}"[:500], session),
            )
            return
        confirmed = fetched is not None and size == len(fetched)
        if confirmed and keep:
            await self.video.client.delete(source)  # the copy is confirmed: drop the source
        await self.store.execute(
            "UPDATE comms_recordings SET state = ?, attempts = attempts + ?, object_key = ?"
            " WHERE session_id = ?",
            ("ingested" if confirmed else "dead", attempts, key, session),
        )
