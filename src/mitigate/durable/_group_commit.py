"""Group commit: the state writes of every saga that reached a write point meet in one commit.

Each saga awaits its own write before it runs anything else, so batching never weakens the
crash contract: a step's next action starts only after its result is durable. What it saves
is commits: with 64 sagas in flight, one transaction carries the writes of up to 64 of them.

A batch the database refuses (one bad row fails the whole statement) is written again row
by row, so only the bad row's saga sees the error and the others go on. A batch that failed
because the database is unreachable is not retried here: every write in it fails at once.
"""

from __future__ import annotations

import asyncio

from mitigate.durable._saga_sql import Insert, SagaSql, Update
from mitigate.durable.errors import StoreCancelledError, StoreUnavailableError, store_error
from mitigate.durable.store import Store

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
                    error = store_error(exc, "saga")
                    if len(inserts) + len(updates) == 1 or isinstance(error, StoreUnavailableError):
                        _fail(inserts, error)
                        _fail(updates, error)
                    else:
                        await self._one_by_one(inserts, updates)
                    continue
                finally:
                    self.flushes += 1
                _settle(inserts, inserted, 0)
                _settle(updates, updated, 9)
        except BaseException:
            # Cancelled mid-write (worker shutting down): nobody may wait forever.
            error = StoreCancelledError(
                "saga", "the write was cancelled; the saga resumes from its row"
            )
            _fail(inserts, error)
            _fail(updates, error)
            _fail(self._inserts, error)
            _fail(self._updates, error)
            raise
        finally:
            self._task = None

    async def _one_by_one(
        self,
        inserts: list[tuple[Insert, asyncio.Future[bool]]],
        updates: list[tuple[Update, asyncio.Future[bool]]],
    ) -> None:
        """Write each row of a refused batch alone: only the bad one fails."""
        for item in inserts:
            await self._alone([item], [])
        for item in updates:
            await self._alone([], [item])

    async def _alone(
        self,
        inserts: list[tuple[Insert, asyncio.Future[bool]]],
        updates: list[tuple[Update, asyncio.Future[bool]]],
    ) -> None:
        try:
            inserted, updated = await self._sql.write_batch(
                self._store, [r for r, _ in inserts], [r for r, _ in updates]
            )
        except Exception as exc:
            _fail(inserts, store_error(exc, "saga"))
            _fail(updates, store_error(exc, "saga"))
            return
        finally:
            self.flushes += 1
        _settle(inserts, inserted, 0)
        _settle(updates, updated, 9)


def _settle(
    items: list[tuple[tuple[object, ...], asyncio.Future[bool]]], applied: set[str], at: int
) -> None:
    for row, future in items:
        if not future.done():
            future.set_result(row[at] in applied)


def _fail(
    items: list[tuple[tuple[object, ...], asyncio.Future[bool]]], error: BaseException
) -> None:
    for _, future in items:
        if not future.done():
            future.set_exception(error)
