"""The dead-letter queue: messages nobody could handle, kept with reason, attempts and
payload until an operator replays them (after a fix) or purges them.

A replay writes the message back into the outbox, in the same transaction that marks the
entry replayed, so it is published by the relay like any other event: durably, once
per replay. A consumer's entry is replayed with a ``Mitigate-Replay-For`` header naming
that consumer, so the other consumers of the subject ignore it, and with a fresh broker
de-duplication id (the broker would otherwise drop it as a repeat); its logical id stays
the same, so an inbox that already handled it still recognises it.

>>> import asyncio
>>> from mitigate.bus.port import Message
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> tuple[int, str, list[int]]:
...     store = await SqliteStore.open(":memory:")
...     dlq = DeadLetters(store)
...     entry = await dlq.add(Message("tenant.created", b"{}", id="e1"), source="themes",
...                           reason="KeyError: 'plan'", attempts=6)
...     replayed = await dlq.replay([entry])
...     shown = await dlq.get(entry)
...     await store.aclose()
...     return shown.attempts, shown.state, replayed
>>> asyncio.run(main())
(6, 'replayed', [1])

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mitigate.bus.port import HEADER_REPLAY_FOR, Message
from mitigate.clock import Clock
from mitigate.durable._emit import emit
from mitigate.durable.outbox import Outbox
from mitigate.durable.store import Store, Tx, dumps, loads
from mitigate.errors import MitigateError
from mitigate.observe.events import DeadLettered, DeadLetterReplayed
from mitigate.observe.observers import Observer, Observers

__all__ = ["OUTBOX_SOURCE", "DeadLetter", "DeadLetterNotFoundError", "DeadLetters"]

OUTBOX_SOURCE = "outbox"  # entries the relay gave up on (poison rows)
_COLUMNS = (
    "id, source, subject, msg_id, msg_key, headers, payload, reason, error_type, attempts,"
    " dead_at, state, replays, replayed_at"
)


class DeadLetterNotFoundError(MitigateError):
    """No DLQ entry has that id (it may have been purged)."""

    code: ClassVar[str] = "MITIGATE.DLQ.NOT_FOUND"
    default_hint: ClassVar[str] = "list the entries with `mitigate dlq list`"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One DLQ entry."""

    id: int
    source: str
    subject: str
    msg_id: str
    key: str | None
    headers: dict[str, str]
    payload: bytes = field(repr=False)
    reason: str
    error_type: str | None
    attempts: int
    dead_at: float
    state: str
    replays: int
    replayed_at: float | None

    def message(self) -> Message:
        """The message as it was when it died."""
        return Message(
            self.subject, self.payload, id=self.msg_id, key=self.key, headers=self.headers
        )

    def as_dict(self, *, payload: bool = True) -> dict[str, Any]:
        """A JSON-friendly view (payload as text when it is UTF-8, else hex)."""
        out: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "subject": self.subject,
            "msg_id": self.msg_id,
            "key": self.key,
            "headers": self.headers,
            "reason": self.reason,
            "error_type": self.error_type,
            "attempts": self.attempts,
            "dead_at": self.dead_at,
            "state": self.state,
            "replays": self.replays,
            "replayed_at": self.replayed_at,
        }
        if payload:
            try:
                out["payload"] = self.payload.decode()
            except UnicodeDecodeError:
                out["payload_hex"] = self.payload.hex()
        return out


class DeadLetters:
    """The DLQ on a store: add, list, show, replay (through the outbox), purge."""

    def __init__(
        self, store: Store, *, clock: Clock | None = None, observers: Iterable[Observer] = ()
    ) -> None:
        self.store = store
        self.clock = clock or store.clock
        self.observers = Observers(observers)
        self._outbox = Outbox(store, clock=self.clock)

    def __repr__(self) -> str:
        return f"DeadLetters({self.store!r})"

    async def add(
        self,
        message: Message,
        *,
        source: str,
        reason: str,
        attempts: int,
        error_type: str | None = None,
        tx: Tx | None = None,
    ) -> int:
        """Record a dead message; return the entry's id. With ``tx`` it joins that
        transaction (the outbox relay moves a row in one transaction)."""
        params = (
            source,
            message.subject,
            message.id,
            message.key,
            dumps(dict(message.headers), what="message headers") if message.headers else None,
            message.payload,
            reason[:4000],
            error_type,
            attempts,
            self.clock.wall(),
        )
        sql = (
            "INSERT INTO mitigate_dlq (source, subject, msg_id, msg_key, headers, payload,"
            " reason, error_type, attempts, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id"
        )
        if tx is not None:
            row = await tx.fetchone(sql, params)
        else:
            rows = await self.store.fetch(sql, params)
            row = rows[0] if rows else None
        assert row is not None  # INSERT ... RETURNING always returns the row
        entry = int(row[0])
        emit(
            self.observers,
            DeadLettered,
            target=source,
            at=self.clock.now(),
            attempt=attempts,
            source=source,
            msg_id=message.id,
            reason=reason,
            attempts=attempts,
        )
        return entry

    async def entries(
        self,
        *,
        source: str | None = None,
        state: str | None = "dead",
        limit: int = 100,
        after: int = 0,
    ) -> list[DeadLetter]:
        """Entries in id order (``state=None`` for every state)."""
        where: list[str] = ["id > ?"]
        params: list[Any] = [after]
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        rows = await self.store.fetch(
            f"SELECT {_COLUMNS} FROM mitigate_dlq WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [_entry(r) for r in rows]

    async def count(self, *, source: str | None = None, state: str | None = "dead") -> int:
        """How many entries (DLQ depth when ``state="dead"``)."""
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        rows = await self.store.fetch(
            f"SELECT COUNT(*) FROM mitigate_dlq WHERE {' AND '.join(where)}", params
        )
        return int(rows[0][0])

    async def get(self, entry: int) -> DeadLetter:
        rows = await self.store.fetch(f"SELECT {_COLUMNS} FROM mitigate_dlq WHERE id = ?", (entry,))
        if not rows:
            raise DeadLetterNotFoundError(f"dlq#{entry}", "no such entry")
        return _entry(rows[0])

    async def replay(self, entries: Sequence[int]) -> list[int]:
        """Send the entries again through the outbox; return the ids replayed.

        Each entry is written to the outbox and marked ``replayed`` in one transaction.
        Entries already replayed are sent again (a second fix); unknown ids raise
        :class:`DeadLetterNotFoundError` before anything is written.
        """
        done: list[int] = []
        emitted: list[DeadLetter] = []
        async with self.store.transaction() as tx:
            for entry in entries:
                row = await tx.fetchone(
                    f"SELECT {_COLUMNS} FROM mitigate_dlq WHERE id = ?", (entry,)
                )
                if row is None:
                    raise DeadLetterNotFoundError(f"dlq#{entry}", "no such entry")
                dead = _entry(row)
                headers = dict(dead.headers)
                if dead.source != OUTBOX_SOURCE:
                    headers[HEADER_REPLAY_FOR] = dead.source
                else:
                    headers.pop(HEADER_REPLAY_FOR, None)
                message = Message(
                    dead.subject,
                    dead.payload,
                    id=dead.msg_id,
                    key=dead.key,
                    headers=headers,
                    dedup_id=f"{dead.msg_id}~dlq{dead.id}.{dead.replays + 1}",
                )
                await self._outbox.enqueue_messages(tx, (message,))
                await tx.execute(
                    "UPDATE mitigate_dlq SET state = 'replayed', replays = replays + 1,"
                    " replayed_at = ? WHERE id = ?",
                    (self.clock.wall(), dead.id),
                )
                done.append(dead.id)
                emitted.append(dead)
        self._outbox.notify()
        now = self.clock.now()
        for dead in emitted:
            emit(
                self.observers,
                DeadLetterReplayed,
                target=dead.source,
                at=now,
                source=dead.source,
                msg_id=dead.msg_id,
                dlq_id=dead.id,
            )
        return done

    async def purge(
        self,
        entries: Sequence[int] | None = None,
        *,
        source: str | None = None,
        state: str | None = None,
        older_than: float | None = None,
    ) -> int:
        """Delete entries by id, or every entry matching the filters; return how many."""
        where: list[str] = []
        params: list[Any] = []
        if entries is not None:
            if not entries:
                return 0
            where.append(f"id IN ({', '.join('?' for _ in entries)})")
            params.extend(entries)
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if older_than is not None:
            where.append("dead_at < ?")
            params.append(self.clock.wall() - older_than)
        sql = "DELETE FROM mitigate_dlq" + (f" WHERE {' AND '.join(where)}" if where else "")
        return await self.store.execute(sql, params)


def _entry(row: tuple[Any, ...]) -> DeadLetter:
    (rid, source, subject, msg_id, key, headers, payload, reason, error_type, attempts,
     dead_at, state, replays, replayed_at) = row  # fmt: skip
    return DeadLetter(
        id=int(rid),
        source=source,
        subject=subject,
        msg_id=msg_id,
        key=key,
        headers=loads(headers) or {},
        payload=bytes(payload),
        reason=reason,
        error_type=error_type,
        attempts=int(attempts),
        dead_at=float(dead_at),
        state=state,
        replays=int(replays),
        replayed_at=None if replayed_at is None else float(replayed_at),
    )
