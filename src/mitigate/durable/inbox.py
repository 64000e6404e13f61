"""The inbox: consumer-side de-duplication, recorded in the handler's own transaction.

At-least-once delivery means repeats: a lost ack, a redelivery after ``ack_wait``, a
re-sent publish outside the broker's duplicate window, the same business event emitted
twice under two ids. The inbox records each handled message by id, and optionally by a
business key (``tenant-1/appointment-42``), in the same transaction as the handler's
effect: both commit or neither does, so a crash between them cannot lose the effect or
apply it twice.

>>> import asyncio
>>> from mitigate.bus.errors import OutOfOrderError
from mitigate.bus.port import HEADER_KEY_AFTER, HEADER_KEY_SEQ, Message
>>> from mitigate.durable.sqlite import SqliteStore
>>> async def main() -> list[int]:
...     store = await SqliteStore.open(":memory:")
...     async with store.transaction() as tx:
...         await tx.execute("CREATE TABLE sessions (appointment TEXT)")
...     inbox = Inbox(store, "scheduler", business_key=lambda m: m.headers.get("appointment"))
...     @inbox.handler
...     async def book(message: Message, tx) -> None:
...         await tx.execute("INSERT INTO sessions VALUES (?)", (message.headers["appointment"],))
...     first = Message("appointments.booked", b"", id="m1", headers={"appointment": "t1/a42"})
...     again = Message("appointments.booked", b"", id="m2", headers={"appointment": "t1/a42"})
...     for message in (first, first, again):
...         await book(message)
...     rows = await store.fetch("SELECT COUNT(*) FROM sessions")
...     duplicates = await inbox.duplicates()
...     await store.aclose()
...     return [rows[0][0], duplicates]
>>> asyncio.run(main())
[1, 2]

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Literal

from mitigate.bus.errors import OutOfOrderError
from mitigate.bus.port import HEADER_KEY_AFTER, HEADER_KEY_SEQ, Message
from mitigate.clock import Clock
from mitigate.durable._emit import emit
from mitigate.durable.errors import InboxConfigError
from mitigate.durable.store import Store, Tx
from mitigate.observe.events import InboxDuplicate, InboxHeld
from mitigate.observe.observers import Observer, Observers

__all__ = ["Inbox", "InboxHandler"]

InboxHandler = Callable[[Message, Tx], Awaitable[None]]
Seen = Literal["new", "id", "business_key"]

_INSERT = (
    "INSERT INTO mitigate_inbox (consumer, msg_id, business_key, subject, handled_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


class Inbox:
    """What the consumer ``consumer`` has handled, in the store.

    ``business_key`` derives a key from a message (``None`` for no key); two messages
    with the same key are one event to this consumer, whatever their ids.

    ``ordered`` (the default) keeps each key's events in order across redeliveries: the
    relay stamps every keyed event with its sequence and its key's previous one, and a
    delivery whose predecessor is not applied yet raises
    :class:`~mitigate.bus.errors.OutOfOrderError` (nothing committed); the consumer
    runner redelivers it shortly and, if the predecessor never comes, applies it anyway.
    A DLQ replay is applied whatever its place.
    """

    def __init__(
        self,
        store: Store,
        consumer: str,
        *,
        business_key: Callable[[Message], str | None] | None = None,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        ordered: bool = True,
    ) -> None:
        if not consumer:
            raise InboxConfigError(None, "an inbox needs a consumer name")
        self.store = store
        self.consumer = consumer
        self.business_key = business_key
        self.clock = clock or store.clock
        self.observers = Observers(observers)
        self.ordered = ordered

    def __repr__(self) -> str:
        return f"Inbox({self.consumer!r}, {self.store!r})"

    async def record(self, tx: Tx, message: Message, *, business_key: str | None = None) -> Seen:
        """Record ``message`` as handled in ``tx``; say whether it is new.

        Returns ``"new"`` (handle it, in this same transaction), or ``"id"`` /
        ``"business_key"`` for a repeat (skip it; its duplicate count grows in ``tx``).
        """
        key = business_key
        if key is None and self.business_key is not None:
            key = self.business_key(message)
        added = await tx.execute(
            _INSERT, (self.consumer, message.id, key, message.subject, self.clock.wall())
        )
        if added:
            return "new"
        by: Seen = "id"
        changed = await tx.execute(
            "UPDATE mitigate_inbox SET duplicates = duplicates + 1"
            " WHERE consumer = ? AND msg_id = ?",
            (self.consumer, message.id),
        )
        if not changed and key is not None:
            by = "business_key"
            await tx.execute(
                "UPDATE mitigate_inbox SET duplicates = duplicates + 1"
                " WHERE consumer = ? AND business_key = ?",
                (self.consumer, key),
            )
        emit(
            self.observers,
            InboxDuplicate,
            target=self.consumer,
            at=self.clock.now(),
            msg_id=message.id,
            by=by,
        )
        return by

    def handler(self, fn: InboxHandler) -> Callable[[Message], Awaitable[None]]:
        """Wrap ``fn(message, tx)`` so it runs once per message, in a store transaction
        that also records the message. A repeat commits only its duplicate count.

        On SQLite the transaction holds the write lock: do database work in ``fn``, and
        call other services after it returns (or through the outbox).
        """

        async def handle(message: Message) -> None:
            async with self.store.transaction() as tx:
                if await self.record(tx, message) == "new":
                    seq = await self._in_order(tx, message)
                    await fn(message, tx)
                    if seq is not None:
                        await self._applied(tx, message, seq)

        handle.__name__ = getattr(fn, "__name__", "handle")
        handle.__doc__ = fn.__doc__
        handle.order_passed = self.passed  # type: ignore[attr-defined]  # read by Consumer
        return handle

    async def passed(self, message: Message) -> None:
        """Count ``message`` as done for its key's order without handling it (it went to
        the DLQ), so the key's next events are not held back waiting for it."""
        seq = message.headers.get(HEADER_KEY_SEQ)
        if self.ordered and seq is not None and message.key is not None:
            async with self.store.transaction() as tx:
                await self._applied(tx, message, int(seq))

    async def _in_order(self, tx: Tx, message: Message) -> int | None:
        """The message's key sequence when order is kept for it; raise if it came early."""
        headers = message.headers
        seq = headers.get(HEADER_KEY_SEQ)
        if not self.ordered or seq is None or message.key is None:
            return None
        after = headers.get(HEADER_KEY_AFTER)
        if after is None or message.replay_for is not None:
            return int(seq)
        row = await tx.fetchone(
            "SELECT last_seq FROM mitigate_inbox_keys WHERE consumer = ? AND msg_key = ?",
            (self.consumer, message.key),
        )
        last = int(row[0]) if row is not None else 0
        if last < int(after):
            emit(
                self.observers,
                InboxHeld,
                target=self.consumer,
                at=self.clock.now(),
                msg_id=message.id,
                key=message.key,
                after=int(after),
                last=last,
            )
            raise OutOfOrderError(
                self.consumer,
                f"{message.id} of key {message.key!r} follows event {after};"
                f" applied so far: {last}",
                key=message.key,
                after=int(after),
                last=last,
            )
        return int(seq)

    async def _applied(self, tx: Tx, message: Message, seq: int) -> None:
        bigger = "GREATEST" if tx.dialect == "postgres" else "MAX"
        await tx.execute(
            "INSERT INTO mitigate_inbox_keys (consumer, msg_key, last_seq) VALUES (?, ?, ?)"
            " ON CONFLICT (consumer, msg_key) DO UPDATE"
            f" SET last_seq = {bigger}(mitigate_inbox_keys.last_seq, excluded.last_seq)",
            (self.consumer, message.key, seq),
        )

    async def seen(self, msg_id: str) -> bool:
        """Whether a message with this id was handled."""
        rows = await self.store.fetch(
            "SELECT 1 FROM mitigate_inbox WHERE consumer = ? AND msg_id = ?",
            (self.consumer, msg_id),
        )
        return bool(rows)

    async def handled(self) -> int:
        """How many distinct messages this consumer handled."""
        rows = await self.store.fetch(
            "SELECT COUNT(*) FROM mitigate_inbox WHERE consumer = ?", (self.consumer,)
        )
        return int(rows[0][0])

    async def duplicates(self) -> int:
        """How many repeated deliveries the inbox recognised and dropped."""
        rows = await self.store.fetch(
            "SELECT COALESCE(SUM(duplicates), 0) FROM mitigate_inbox WHERE consumer = ?",
            (self.consumer,),
        )
        return int(rows[0][0])

    async def prune(self, older_than: float) -> int:
        """Forget messages handled more than ``older_than`` seconds ago; keep this longer
        than any redelivery or replay can take. Returns the number of rows removed."""
        cutoff = self.clock.wall() - older_than
        return await self.store.execute(
            "DELETE FROM mitigate_inbox WHERE consumer = ? AND handled_at < ?",
            (self.consumer, cutoff),
        )
