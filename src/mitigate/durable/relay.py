"""The outbox relay: publishes outbox rows in order per key, marks them sent, reports lag.

One round: claim a batch of rows under a lease, publish them with pipelined acks through
the relay's policy (a :class:`~mitigate.policy.pipeline.Pipeline` with the catalog's
retry and backoff), mark the acknowledged rows sent, and release the rest for the next
round, which comes after a backoff that grows while the broker stays away.

Order per key: a row is claimed only when no earlier row of its key is still pending, so
each key has at most one publish in flight and a failed publish never lets a later event
of the same aggregate overtake it. Rows without a key have no order and go out together.

Several relays share one table safely: claims take rows under a lease (set and compared
on the database's clock on PostgreSQL, the store's clock on SQLite), and on PostgreSQL
with ``FOR UPDATE SKIP LOCKED``, so two relays never claim the same row and a crashed
relay's rows come back when its lease runs out. A row published twice (lease lost, ack
lost) carries the same ``Nats-Msg-Id`` and the broker stores it once.

Every update a relay makes to its claimed rows (mark sent, release, count a poison
failure) is fenced by its lease: a relay that stalled past its lease and lost the rows to
another relay changes nothing. Failure counts are incremented by the database
(``failures = failures + 1``), never written back from a stale read.

A row the broker can never take (:class:`~mitigate.bus.errors.PoisonMessageError`:
unencodable, too large) is counted; after ``max_poison`` such failures it moves to the
DLQ in one transaction and the rows behind it flow on.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mitigate.bus.errors import BusUnavailableError, PoisonMessageError
from mitigate.bus.port import HEADER_KEY_AFTER, HEADER_KEY_SEQ, Bus, Message
from mitigate.clock import Clock
from mitigate.durable import _outbox_metrics
from mitigate.durable._emit import emit
from mitigate.durable._saga_sql import PG_NOW, lease_now
from mitigate.durable.dlq import OUTBOX_SOURCE, DeadLetters
from mitigate.durable.errors import OutboxConfigError
from mitigate.durable.outbox import Backlog, Outbox, OutboxRow, row_to_message
from mitigate.observe.events import OutboxBacklog, OutboxPublished, OutboxPublishFailed
from mitigate.observe.observers import Observer, Observers
from mitigate.policy.pipeline import Pipeline
from mitigate.policy.retry import Retry

__all__ = ["Relay", "RelayOptions", "RelayRound"]

_log = logging.getLogger("mitigate.outbox")
_ROW = "id, msg_id, dedup_id, subject, msg_key, headers, payload, created_at, failures"


@dataclass(frozen=True, slots=True)
class RelayOptions:
    """How a :class:`Relay` runs (see :class:`Relay` for each option).

    >>> RelayOptions(batch=100).lease
    60.0
    >>> RelayOptions(batch=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.durable.errors.OutboxConfigError: [MITIGATE.CONFIG.OUTBOX] relay: batch must be ...
    """

    batch: int = 256
    concurrency: int = 1
    lease: float = 60.0
    idle: float = 0.05
    backoff_cap: float = 30.0
    max_poison: int = 3
    sample_every: float = 15.0
    lag_window: float = 300.0

    def __post_init__(self) -> None:
        for label in ("batch", "concurrency", "max_poison"):
            value = getattr(self, label)
            if value < 1:
                raise OutboxConfigError("relay", f"{label} must be >= 1, got {value!r}")
        for label in ("lease", "idle", "backoff_cap", "sample_every", "lag_window"):
            seconds = getattr(self, label)
            if seconds <= 0:
                raise OutboxConfigError("relay", f"{label} must be > 0 seconds, got {seconds!r}")


@dataclass(frozen=True, slots=True)
class RelayRound:
    """What one relay round did."""

    claimed: int
    published: int
    pending: int  # claimed rows left unpublished (released for a later round)
    dead_lettered: int
    error: BaseException | None = None


class Relay:
    """Publish an outbox's rows to a bus.

    ``concurrency`` rounds run at once, each on rows the others have not claimed, so
    one round waiting for a late ack does not hold up other keys.

    ``policy`` retries a batch inside one round (default: 3 retries, exponential from
    100 ms, capped at 2 s). Between failed rounds the relay waits ``idle`` doubled per
    consecutive failure, up to ``backoff_cap``. ``lease`` must outlast a round, retries
    included; a relay whose lease ran out may publish a row another relay also
    publishes, and the broker de-duplicates it.

    ``encode`` may rewrite each message before it is published (schema upcast,
    validation); an exception there marks the row as poison.

    ``sample_every`` seconds the relay measures the backlog and emits
    :class:`~mitigate.observe.events.OutboxBacklog` (rows, oldest age, lag p95 over
    ``lag_window``) and updates the Prometheus gauges; detection rules read those.
    """

    def __init__(
        self,
        outbox: Outbox,
        bus: Bus,
        *,
        options: RelayOptions | None = None,
        policy: Pipeline | None = None,
        dead_letters: DeadLetters | None = None,
        batch: int | None = None,
        concurrency: int | None = None,
        lease: float | None = None,
        idle: float | None = None,
        backoff_cap: float | None = None,
        max_poison: int | None = None,
        encode: Callable[[Message], Message] | None = None,
        sample_every: float | None = None,
        lag_window: float | None = None,
        owner: str | None = None,
        registry: _outbox_metrics.Registry | None = None,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
    ) -> None:
        given: dict[str, Any] = {
            "batch": batch,
            "concurrency": concurrency,
            "lease": lease,
            "idle": idle,
            "backoff_cap": backoff_cap,
            "max_poison": max_poison,
            "sample_every": sample_every,
            "lag_window": lag_window,
        }
        try:
            options = dataclasses.replace(
                options or RelayOptions(), **{k: v for k, v in given.items() if v is not None}
            )
        except OutboxConfigError as exc:
            raise OutboxConfigError(outbox.name, exc.message) from None
        self.options = options
        self.outbox = outbox
        self.store = outbox.store
        self.bus = bus
        self.clock = clock or outbox.clock
        self.observers = Observers(observers)
        self.policy = policy or Pipeline(
            "bus.publish", Retry(3, base=0.1, cap=2.0), clock=self.clock, observers=self.observers
        )
        self.dead_letters = dead_letters or DeadLetters(
            self.store, clock=self.clock, observers=self.observers
        )
        self.batch = options.batch
        self.concurrency = options.concurrency
        self.lease = options.lease
        self.idle = options.idle
        self.backoff_cap = options.backoff_cap
        self.max_poison = options.max_poison
        self.encode = encode
        self.sample_every = options.sample_every
        self.lag_window = options.lag_window
        self.owner = owner or f"relay-{uuid.uuid4().hex[:12]}"
        self.metrics = _outbox_metrics.for_registry(registry)
        self._lags: deque[tuple[float, float]] = deque(maxlen=100_000)
        self._running = False
        self.published = 0
        self.rounds = 0
        self.last_beat: float | None = None  # clock time the run loop last came round
        self._claim_sql = _claim_sql(self.store.dialect)

    def __repr__(self) -> str:
        return f"Relay({self.outbox.name!r}, owner={self.owner!r})"

    # -- one round ---------------------------------------------------------------------
    async def run_once(self) -> RelayRound:
        """Claim, publish (with the policy's retries), mark sent; release what is left."""
        rows = await self._claim()
        if not rows:
            return RelayRound(0, 0, 0, 0)
        self.rounds += 1
        state = _Round(rows)
        try:
            await self.policy.acall(self._attempt, state)
        except Exception as exc:  # the rows stay in the outbox; the next round retries
            state.error = exc
        if state.remaining:
            await self._release([r.id for r in state.remaining], state.error)
        return RelayRound(
            claimed=len(rows),
            published=state.published,
            pending=len(state.remaining),
            dead_lettered=state.dead,
            error=state.error if state.remaining else None,
        )

    async def _attempt(self, state: _Round) -> None:
        rows = state.remaining
        messages: list[Message] = []
        publishable: list[OutboxRow] = []
        poison: list[tuple[OutboxRow, BaseException]] = []
        for row in rows:
            message = row.message
            if self.encode is not None:
                try:
                    message = self.encode(message)
                except Exception as exc:
                    poison.append(
                        (
                            row,
                            PoisonMessageError(
                                self.outbox.name, f"cannot encode {message.id}: {exc!r}"
                            ),
                        )
                    )
                    continue
            messages.append(message)
            publishable.append(row)
        outcomes = await self.bus.publish_many(messages) if messages else []
        sent: list[OutboxRow] = []
        failed: list[tuple[OutboxRow, BaseException]] = []
        for row, outcome in zip(publishable, outcomes, strict=True):
            if outcome is None:
                sent.append(row)
            elif isinstance(outcome, PoisonMessageError):
                poison.append((row, outcome))
            else:
                failed.append((row, outcome))
        if sent:
            await self._mark_sent(sent)
            state.published += len(sent)
        if poison:
            state.dead += await self._poisoned(poison)
        state.remaining = [row for row, _ in failed]
        if failed:
            first = failed[0][1]
            if isinstance(first, Exception):
                raise first
            raise BusUnavailableError(
                "bus.publish", f"{len(failed)} rows not acknowledged: {first!r}"
            )

    # -- the loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Relay until :meth:`stop`; back off while the broker fails; sample the backlog
        every ``sample_every`` seconds alongside (a slow round does not delay samples)."""
        self._running = True
        sampler = asyncio.ensure_future(self._sample_forever())
        try:
            await asyncio.gather(*(self._relay_forever() for _ in range(self.concurrency)))
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)

    async def _sample_forever(self) -> None:
        while True:
            await self._sample_safely()
            await self.clock.asleep(self.sample_every)

    async def _relay_forever(self) -> None:
        clock = self.clock
        failures = 0
        while self._running:
            self.last_beat = clock.now()
            try:
                result = await self.run_once()
            except Exception as exc:  # the store itself failed; nothing was lost
                _log.warning("outbox relay %s: round failed: %r", self.owner, exc)
                result = RelayRound(0, 0, 1, 0, exc)
            if result.error is not None:
                failures += 1
                delay = min(self.backoff_cap, self.idle * 2 ** min(failures, 30))
                emit(
                    self.observers,
                    OutboxPublishFailed,
                    target=self.outbox.name,
                    at=clock.now(),
                    attempt=failures,
                    error=result.error,
                    pending=result.pending,
                    delay=delay,
                    reason=f"{type(result.error).__name__}: {result.error}",
                )
                await clock.asleep(delay)
            elif result.claimed == 0:
                failures = 0
                await self.outbox.wait_for_work(self.idle)
            else:
                failures = 0
                await clock.asleep(0)  # let producers and consumers run between rounds

    def alive(self, within: float) -> bool:
        """Liveness for a health probe: :meth:`run` came round in the last ``within``
        seconds (a relay stuck on a row, or not running, is not alive). Backoff waits
        count as alive only while they are shorter than ``within``: keep ``within``
        above ``backoff_cap`` plus a round."""
        beat = self.last_beat
        return self._running and beat is not None and self.clock.now() - beat <= within

    def stop(self) -> None:
        """Ask :meth:`run` to return after the current round."""
        self._running = False
        self.outbox.notify()

    async def drain(self, *, max_rounds: int = 1_000_000) -> int:
        """Run rounds until nothing is pending (or rounds run out); return rows published.

        Failed rounds back off as in :meth:`run`. Meant for tests, scripts and shutdown.
        """
        published = 0
        failures = 0
        for _ in range(max_rounds):
            result = await self.run_once()
            published += result.published
            if result.error is not None:
                failures += 1
                await self.clock.asleep(min(self.backoff_cap, self.idle * 2 ** min(failures, 30)))
                continue
            failures = 0
            if result.claimed == 0:
                backlog = await self.outbox.backlog()
                if backlog.rows == 0:
                    break
                await self.clock.asleep(self.idle)  # rows leased by another relay
        return published

    # -- backlog and lag ---------------------------------------------------------------
    async def sample(self) -> Backlog:
        """Measure the backlog, update gauges, emit :class:`OutboxBacklog`."""
        backlog = await self.outbox.backlog()
        p95 = self.lag_p95()
        name = self.outbox.name
        self.metrics.backlog.labels(name).set(backlog.rows)
        self.metrics.oldest_age.labels(name).set(backlog.oldest_age)
        self.metrics.lag_p95.labels(name).set(p95)
        emit(
            self.observers,
            OutboxBacklog,
            target=name,
            at=self.clock.now(),
            backlog=backlog.rows,
            oldest_age=backlog.oldest_age,
            lag_p95=p95,
        )
        return backlog

    def lag_p95(self) -> float:
        """The 95th percentile of publish lag (created -> acked) over ``lag_window``."""
        horizon = self.clock.now() - self.lag_window
        lags = self._lags
        while lags and lags[0][0] < horizon:
            lags.popleft()
        if not lags:
            return 0.0
        values = sorted(lag for _, lag in lags)
        return values[min(len(values) - 1, int(0.95 * len(values)))]

    async def _sample_safely(self) -> None:
        try:
            await self.sample()
        except Exception as exc:  # a failed sample must not stop the relay
            _log.warning("outbox relay %s: backlog sample failed: %r", self.owner, exc)

    # -- SQL ---------------------------------------------------------------------------
    async def _claim(self) -> list[OutboxRow]:
        # Leases on one clock for every relay: PostgreSQL's, or the store's (lease_now).
        now = lease_now(self.store)
        rows = await self.store.fetch(
            self._claim_sql, (self.owner, now, self.lease, now, self.batch)
        )
        claimed = [row_to_message(r) for r in rows]
        claimed.sort(key=lambda r: r.id)
        if any(r.message.key is not None for r in claimed):
            claimed = await self._with_key_order(claimed)
        return claimed

    async def _with_key_order(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Stamp each keyed row with its sequence and its key's previous sent row, so an
        ordered inbox can hold back a delivery that overtook an earlier one (a broker
        redelivers a lost delivery after its ack wait, behind later ones of the key).

        A claimed keyed row is the head of its key: every earlier row of the key is sent
        (or dead, and then never delivered, so it is not a predecessor)."""
        keyed = [r.id for r in rows if r.message.key is not None]
        found = await self.store.fetch(
            "SELECT o.id, (SELECT MAX(p.id) FROM mitigate_outbox p"
            " WHERE p.msg_key = o.msg_key AND p.state = 1 AND p.id < o.id)"
            f" FROM mitigate_outbox o WHERE o.id IN ({_marks(keyed)})",
            keyed,
        )
        after = {int(rid): prev for rid, prev in found}
        out: list[OutboxRow] = []
        for row in rows:
            if row.id not in after:
                out.append(row)
                continue
            headers = dict(row.message.headers)
            headers[HEADER_KEY_SEQ] = str(row.id)
            headers.pop(HEADER_KEY_AFTER, None)
            if (prev := after[row.id]) is not None:
                headers[HEADER_KEY_AFTER] = str(int(prev))
            message = dataclasses.replace(row.message, headers=headers)
            out.append(dataclasses.replace(row, message=message))
        return out

    async def _mark_sent(self, rows: Sequence[OutboxRow]) -> None:
        wall = self.clock.wall()
        ids = [r.id for r in rows]
        marked = await self.store.fetch(
            "UPDATE mitigate_outbox SET state = 1, sent_at = ?, lease_owner = NULL,"
            f" lease_until = NULL WHERE id IN ({_marks(ids)}) AND lease_owner = ?"
            " RETURNING id",
            (wall, *ids, self.owner),
        )
        if len(marked) != len(rows):
            # Lost to another relay (lease ran out): it publishes and marks them; the
            # broker dedupes by message id. Count only what this relay marked.
            kept = {r[0] for r in marked}
            rows = [r for r in rows if r.id in kept]
            if not rows:
                return
        now = self.clock.now()
        lags = [max(0.0, wall - r.created_at) for r in rows]
        self._lags.extend((now, lag) for lag in lags)
        name = self.outbox.name
        histogram = self.metrics.lag.labels(name)
        for lag in lags:
            histogram.observe(lag)
        self.metrics.published.labels(name).inc(len(rows))
        self.published += len(rows)
        emit(
            self.observers, OutboxPublished, target=name, at=now, count=len(rows), lag_max=max(lags)
        )

    async def _release(self, ids: Sequence[int], error: BaseException | None) -> None:
        await self.store.execute(
            "UPDATE mitigate_outbox SET lease_owner = NULL, lease_until = NULL, last_error = ?"
            f" WHERE id IN ({_marks(ids)}) AND state = 0 AND lease_owner = ?",
            (None if error is None else repr(error)[:2000], *ids, self.owner),
        )

    async def _poisoned(self, poison: Sequence[tuple[OutboxRow, BaseException]]) -> int:
        """Count a poison failure on each row; move those at ``max_poison`` to the DLQ."""
        dead = 0
        async with self.store.transaction() as tx:
            for row, error in poison:
                counted = await tx.fetchone(
                    "UPDATE mitigate_outbox SET failures = failures + 1, last_error = ?"
                    " WHERE id = ? AND lease_owner = ? AND state = 0 RETURNING failures",
                    (str(error)[:2000], row.id, self.owner),
                )
                if counted is None:
                    continue  # another relay holds the row now: it counts its own failures
                failures = int(counted[0])
                if failures >= self.max_poison:
                    await self.dead_letters.add(
                        row.message,
                        source=OUTBOX_SOURCE,
                        reason=str(error),
                        attempts=failures,
                        error_type=type(error).__name__,
                        tx=tx,
                    )
                    await tx.execute(
                        "UPDATE mitigate_outbox SET state = 2, lease_owner = NULL,"
                        " lease_until = NULL WHERE id = ?",
                        (row.id,),
                    )
                    dead += 1
                else:
                    await tx.execute(
                        "UPDATE mitigate_outbox SET lease_owner = NULL, lease_until = NULL"
                        " WHERE id = ?",
                        (row.id,),
                    )
        if dead:
            self.metrics.dead_lettered.labels(self.outbox.name).inc(dead)
        return dead


class _Round:
    __slots__ = ("dead", "error", "published", "remaining")

    def __init__(self, rows: list[OutboxRow]) -> None:
        self.remaining = rows
        self.published = 0
        self.dead = 0
        self.error: BaseException | None = None


def _marks(ids: Sequence[int]) -> str:
    return ", ".join("?" for _ in ids)


def _claim_sql(dialect: str) -> str:
    # A row is claimable when it is pending, not leased (or its lease ran out), and no
    # earlier row of its key is pending: the head of each key, so keys keep their order.
    lock = " FOR UPDATE SKIP LOCKED" if dialect == "postgres" else ""
    now = PG_NOW if dialect == "postgres" else "?"
    return (
        f"UPDATE mitigate_outbox SET lease_owner = ?, lease_until = {now} + ?"
        " WHERE id IN ("
        "SELECT o.id FROM mitigate_outbox o"
        f" WHERE o.state = 0 AND (o.lease_until IS NULL OR o.lease_until < {now})"
        " AND (o.msg_key IS NULL OR NOT EXISTS ("
        "SELECT 1 FROM mitigate_outbox p"
        " WHERE p.msg_key = o.msg_key AND p.state = 0 AND p.id < o.id))"
        f" ORDER BY o.id LIMIT ?{lock})"
        f" RETURNING {_ROW}"
    )
