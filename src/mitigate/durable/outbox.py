"""The transactional outbox: an event is written in the same transaction as the change it
announces, and a relay (:class:`mitigate.durable.relay.Relay`) publishes it afterwards.

Either both the change and the event commit, or neither does; the relay then publishes
each row at least once, in order per key, and marks it sent. Consumers drop the repeats
with the inbox (:mod:`mitigate.durable.inbox`), so the effect is once.

>>> import asyncio
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> tuple[int, str]:
...     store = await SqliteStore.open(":memory:")
...     outbox = Outbox(store)
...     async with store.transaction() as tx:
...         await tx.execute("CREATE TABLE drafts (id TEXT, state TEXT)")
...         await tx.execute("INSERT INTO drafts VALUES ('d1', 'publishing')")
...         msg_id = await outbox.enqueue(tx, "content.publish_requested", {"draft": "d1"},
...                                       key="d1", msg_id="evt-1")
...     backlog = await outbox.backlog()
...     await store.aclose()
...     return backlog.rows, msg_id
>>> asyncio.run(main())
(1, 'evt-1')

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mitigate.bus.port import Message
from mitigate.clock import Clock
from mitigate.durable.errors import OutboxConfigError
from mitigate.durable.store import Store, Tx, dumps, loads

__all__ = ["Backlog", "Outbox", "OutboxRow", "encode_payload", "row_to_message"]

_INSERT = (
    "INSERT INTO mitigate_outbox (msg_id, dedup_id, subject, msg_key, headers, payload,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_id) DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class Backlog:
    """Unpublished rows and how long the oldest has waited (seconds, 0 when empty)."""

    rows: int
    oldest_age: float


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One claimed outbox row, as the relay sees it."""

    id: int
    message: Message
    created_at: float
    failures: int


class Outbox:
    """Write events into the outbox table inside the caller's own transaction.

    ``enqueue(tx, ...)`` takes a :class:`~mitigate.durable.store.Tx`: a store transaction,
    or ``store.adopt(connection)`` around your own ``sqlite3.Connection`` /
    ``psycopg.AsyncConnection`` with its transaction open. It never commits.

    A row whose ``msg_id`` was already written is skipped, so enqueueing the same event
    twice (a retried request) writes it once.
    """

    def __init__(self, store: Store, *, name: str = "outbox", clock: Clock | None = None) -> None:
        self.store = store
        self.name = name
        self.clock = clock or store.clock
        self._wake = asyncio.Event()

    def __repr__(self) -> str:
        return f"Outbox({self.name!r}, {self.store!r})"

    async def enqueue(
        self,
        tx: Tx,
        subject: str,
        payload: bytes | str | Any,
        *,
        key: str | None = None,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Add one event to ``tx``; return its message id.

        ``payload`` is bytes as they are, a str as UTF-8, anything else as JSON.
        """
        message = Message(
            subject,
            encode_payload(payload, subject),
            id=msg_id or uuid.uuid4().hex,
            key=key,
            headers=dict(headers or {}),
        )
        await self.enqueue_messages(tx, (message,))
        return message.id

    async def enqueue_messages(self, tx: Tx, messages: Iterable[Message]) -> int:
        """Add ready-made messages to ``tx`` (keeps their ``dedup_id``); return how many."""
        now = self.clock.wall()
        rows = [
            (
                m.id,
                m.dedup_id,
                m.subject,
                m.key,
                dumps(dict(m.headers), what="message headers") if m.headers else None,
                m.payload,
                now,
            )
            for m in messages
        ]
        if len(rows) == 1:
            await tx.execute(_INSERT, rows[0])
        elif rows:
            await tx.executemany(_INSERT, rows)
        return len(rows)

    def notify(self) -> None:
        """Wake a relay in this process now (call after your transaction committed)."""
        self._wake.set()

    async def wait_for_work(self, seconds: float) -> None:
        """Sleep until :meth:`notify` is called or ``seconds`` pass on the clock."""
        if self._wake.is_set():
            self._wake.clear()
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        timer = asyncio.ensure_future(self.clock.asleep(seconds))
        try:
            await asyncio.wait((waiter, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            timer.cancel()
        self._wake.clear()

    async def backlog(self) -> Backlog:
        """Rows not yet published (pending) and the age of the oldest one."""
        rows = await self.store.fetch(
            "SELECT COUNT(*), MIN(created_at) FROM mitigate_outbox WHERE state = 0"
        )
        count, oldest = rows[0]
        age = 0.0 if oldest is None else max(0.0, self.clock.wall() - float(oldest))
        return Backlog(int(count), age)

    async def counts(self) -> dict[str, int]:
        """Rows by state: ``pending``, ``sent``, ``dead`` (moved to the DLQ)."""
        rows = await self.store.fetch("SELECT state, COUNT(*) FROM mitigate_outbox GROUP BY state")
        names = {0: "pending", 1: "sent", 2: "dead"}
        out = dict.fromkeys(names.values(), 0)
        for state, count in rows:
            out[names[int(state)]] = int(count)
        return out

    async def prune(self, older_than: float) -> int:
        """Delete rows sent more than ``older_than`` seconds ago; pending rows are never
        deleted. Returns the number of rows removed."""
        if older_than < 0:
            raise OutboxConfigError(self.name, "older_than cannot be negative")
        cutoff = self.clock.wall() - older_than
        return await self.store.execute(
            "DELETE FROM mitigate_outbox WHERE state = 1 AND sent_at < ?", (cutoff,)
        )


def encode_payload(payload: bytes | str | Any, subject: str) -> bytes:
    """Bytes as they are, a str as UTF-8, anything else as compact JSON.

    >>> encode_payload({"a": 1}, "s"), encode_payload("é", "s"), encode_payload(b"x", "s")
    (b'{"a":1}', b'\\xc3\\xa9', b'x')
    """
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return dumps(payload, what=f"payload of {subject}").encode()


def row_to_message(row: tuple[Any, ...]) -> OutboxRow:
    """(id, msg_id, dedup_id, subject, msg_key, headers, payload, created_at, failures)."""
    rid, msg_id, dedup_id, subject, key, headers, payload, created_at, failures = row
    message = Message(
        subject,
        bytes(payload),
        id=msg_id,
        key=key,
        headers=loads(headers) or {},
        dedup_id=dedup_id,
    )
    return OutboxRow(int(rid), message, float(created_at), int(failures))
