"""The chat session actor (the ``ChatSession`` Durable Object role) with its retention cap.

Each session is one single-writer actor (the host's lock for its id). After an append
that takes the session over ``maxMessagesPerSession``, the oldest messages over the cap
are written to the object store (the R2 role) as one JSON-lines archive, read back and
checked against their SHA-256, and only then deleted from the store, in one transaction
that also records the archive. An archive that fails to write or to verify deletes
nothing (:class:`ChatArchiveFailed`); the next append tries again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .actors import ActorHost
from .events import ChatArchived, ChatArchiveFailed, ChatStored

__all__ = ["ChatSessions"]


class ChatSessions:
    def __init__(self, runtime: Any, host: ActorHost, *, cap: int) -> None:
        self.rt = runtime
        self.host = host
        self.cap = cap

    async def append(self, tenant: str, session: str, text: str) -> dict[str, Any]:
        actor = f"{tenant}:chat:{session}"
        async with self.host._lock(actor):
            async with self.rt.store.transaction() as tx:
                row = await tx.fetchone(
                    "SELECT MAX(seq) FROM edge_chat_messages WHERE session = ?", (actor,)
                )
                last_live = row[0] if row is not None and row[0] is not None else None
                archived = await tx.fetchone(
                    "SELECT MAX(last_seq) FROM edge_chat_archives WHERE session = ?", (actor,)
                )
                floor = archived[0] if archived is not None and archived[0] is not None else 0
                seq = max(int(last_live or 0), int(floor)) + 1
                await tx.execute(
                    "INSERT INTO edge_chat_messages (session, seq, tenant, body)"
                    " VALUES (?, ?, ?, ?)",
                    (actor, seq, tenant, text),
                )
            live = await self._count(actor)
            self.rt.emit(
                ChatStored(
                    target="chat.session", at=self.rt.clock.now(), session=actor, messages=live
                )
            )
            if live > self.cap and self.rt.switches.enabled("edge.switch.retention-cap"):
                await self._archive(tenant, actor, live - self.cap)
            return {"seq": seq, "live": await self._count(actor)}

    async def _count(self, actor: str) -> int:
        rows = await self.rt.store.fetch(
            "SELECT COUNT(*) FROM edge_chat_messages WHERE session = ?", (actor,)
        )
        return int(rows[0][0])

    async def _archive(self, tenant: str, actor: str, over: int) -> None:
        rows = await self.rt.store.fetch(
            "SELECT seq, body FROM edge_chat_messages WHERE session = ? ORDER BY seq LIMIT ?",
            (actor, over),
        )
        first, last = int(rows[0][0]), int(rows[-1][0])
        data = b"".join(json.dumps({"seq": int(s), "text": b}).encode() + b"\n" for s, b in rows)
        digest = hashlib.sha256(data).hexdigest()
        key = f"chat-archive/{tenant}/{actor.split(':', 2)[2]}/{first:010d}-{last:010d}.jsonl"
        try:
            await self.rt.policy("chat.archive").acall(self.rt.objects.put, key, data)
            stored = await self.rt.policy("chat.archive.verify").acall(self.rt.objects.get, key)
            verified = hashlib.sha256(stored).hexdigest() == digest
        except Exception as exc:
            verified = False
            failure: BaseException | None = exc
        else:
            failure = None
        if not verified and self.rt.switches.enabled("edge.switch.archive-verify"):
            self.rt.emit(
                ChatArchiveFailed(
                    target="chat.archive", at=self.rt.clock.now(), session=actor, error=failure
                )
            )
            return  # nothing deleted: every message stays live until an archive verifies
        async with self.rt.store.transaction() as tx:
            await tx.execute(
                "DELETE FROM edge_chat_messages WHERE session = ? AND seq <= ?", (actor, last)
            )
            await tx.execute(
                "INSERT INTO edge_chat_archives (session, first_seq, last_seq, object_key, sha256)"
                " VALUES (?, ?, ?, ?, ?)",
                (actor, first, last, key, digest),
            )
        self.rt.emit(
            ChatArchived(
                target="chat.archive", at=self.rt.clock.now(), session=actor, messages=len(rows)
            )
        )

    async def history(self, tenant: str, session: str) -> dict[str, Any]:
        """Every message of the session: archived ones (each archive checked against its
        digest) then live ones."""
        actor = f"{tenant}:chat:{session}"
        archives = await self.rt.store.fetch(
            "SELECT first_seq, last_seq, object_key, sha256 FROM edge_chat_archives"
            " WHERE session = ? ORDER BY first_seq",
            (actor,),
        )
        messages: list[dict[str, Any]] = []
        listed = []
        for first, last, key, digest in archives:
            try:
                data = await self.rt.objects.get(str(key))
            except Exception:  # a missing or unreadable archive is reported, not fatal
                data = b""
            intact = hashlib.sha256(data).hexdigest() == digest
            listed.append(
                {
                    "first": int(first),
                    "last": int(last),
                    "key": key,
                    "sha256": digest,
                    "intact": intact,
                }
            )
            if intact:
                messages += [json.loads(line) for line in data.splitlines() if line]
        live = await self.rt.store.fetch(
            "SELECT seq, body FROM edge_chat_messages WHERE session = ? ORDER BY seq", (actor,)
        )
        return {
            "session": session,
            "live": len(live),
            "archives": listed,
            "messages": messages + [{"seq": int(s), "text": b} for s, b in live],
        }
