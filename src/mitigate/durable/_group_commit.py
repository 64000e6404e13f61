"""Group commit: the state writes of every saga that reached a write point meet in one commit.

Each saga awaits its own write before it runs anything else, so batching never weakens the
crash contract: a step's next action starts only after its result is durable. What it saves
is commits: with 64 sagas in flight, one transaction carries the writes of up to 64 of them.
"""

from __future__ import annotations

import asyncio

from mitigate.durable._saga_sql import Insert, SagaSql, Update
from mitigate.durable.store import Store
from mitigate.errors import StoreError

__all__ = ["GroupCommit"]


class GroupCommit:
    """Queue writes; one flusher task writes everything queued so far in one transaction."""

    __slots__ = ("_inserts", "_pending_ids", "_sql", "_store", "_task", "_updates", "flushes")

    def __init__(self, store: Store, sql: SagaSql) -> None:
        self._store = store
        self._sql = sql
        self._inserts: list[tuple[Insert, asyncio.Future[bool]]] = []
        self._updates: list[tuple[Update, asyncio.Future[bool]]] = []
        self._pending_ids: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.flushes = 0

    def insert(self, row: Insert) -> asyncio.Future[bool]:
        """Queue a new saga row; the future says whether it was new (False: id exists)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if row[0] in self._pending_ids:
            future.set_result(False)  # the same id twice in one batch: the first one wins
            return future
        self._pending_ids.add(row[0])
        self._inserts.append((row, future))
        self._kick()
        return future

    def update(self, row: Update) -> asyncio.Future[bool]:
        """Queue a fenced transition; the future says whether the writer still held the lease."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._updates.append((row, future))
        self._kick()
        return future

    def _kick(self) -> None:
        if self._task is None:
            # The flusher starts on the next loop pass, after every task that is ready now
            # had its turn to queue a write: that is where batches come from.
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        inserts: list[tuple[Insert, asyncio.Future[bool]]] = []
        updates: list[tuple[Update, asyncio.Future[bool]]] = []
        try:
            while self._inserts or self._updates:
                inserts, self._inserts = self._inserts, []
                updates, self._updates = self._updates, []
                self._pending_ids = set()
                try:
                    inserted, updated = await self._sql.write_batch(
                        self._store, [r for r, _ in inserts], [r for r, _ in updates]
                    )
                except Exception as exc:
                    _fail(inserts, exc)
                    _fail(updates, exc)
                    continue
                finally:
                    self.flushes += 1
                for row, future in inserts:
                    if not future.done():
                        future.set_result(row[0] in inserted)
                for row, future in updates:
                    if not future.done():
                        future.set_result(row[9] in updated)
        except BaseException:
            # Cancelled mid-write (worker shutting down): nobody may wait forever.
            error = StoreError(
                "saga",
                "the write was cancelled; the saga resumes from its row",
                code="MITIGATE.STORE.CANCELLED",
            )
            _fail(inserts, error)
            _fail(updates, error)
            _fail(self._inserts, error)
            _fail(self._updates, error)
            raise
        finally:
            self._task = None


def _fail(
    items: list[tuple[tuple[object, ...], asyncio.Future[bool]]], error: BaseException
) -> None:
    for _, future in items:
        if not future.done():
            future.set_exception(error)
