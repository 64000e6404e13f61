"""Run sagas durably: leases, group-committed state, deadlines, compensation, stuck alerts.

A :class:`SagaWorker` drives sagas in its process. ``execute()`` starts a saga and runs it
here to the end; ``start()`` only records it, for whichever worker claims it; ``run()`` is
the claim loop that many worker processes share. Every state change is written (fenced by
the lease epoch) before the next action begins:

* start: ``running``, step 0 in flight (one write);
* after each step: its result recorded AND the next step marked in flight (one write);
* after the last step: ``completed`` (one write). A three-step saga costs four writes, and
  concurrent sagas share commits (group commit), so commits per saga fall well below that.

On failure after retries: ``compensating``, then each completed step's compensation in
reverse order, each retried by its own policy, then ``compensated``; a compensation that
runs out of retries parks the saga in ``compensation_failed`` and raises an alert event.

A saga never sticks silently. A row that does not fit this worker's definition (a step
added or removed since it started) is set aside in ``parked``
(``MITIGATE.SAGA.DEFINITION_CHANGED``) before anything runs; an unexpected error in the
driver parks it too (``MITIGATE.SAGA.INTERNAL``); both raise :class:`~mitigate.SagaParked`.
Failures of the claim loop, the heartbeat and the stuck scan are
:class:`~mitigate.SagaWorkerFailed` events. ``start()`` returns a :class:`SagaHandle`
whose ``result()`` waits for the saga's outcome, wherever it runs.

The job is split: :mod:`~mitigate.durable._saga_machine` decides the next row (pure),
:mod:`~mitigate.durable._saga_monitors` and :mod:`~mitigate.durable._deadlines` watch,
and this module drives and writes.

>>> import asyncio
>>> from mitigate.clock import VirtualClock
>>> from mitigate.durable.saga import Saga, Step
>>> from mitigate.durable.sqlite import SqliteStore
>>> undone = []
>>> def fail(ctx):
...     raise RuntimeError("bundling failed")
>>> saga = Saga("authoring.publish", [
...     Step("catalog", lambda ctx: "cv-1", lambda ctx: undone.append(ctx.result)),
...     Step("bundle", fail),
... ])
>>> async def main() -> str:
...     store = await SqliteStore.open(":memory:", clock=VirtualClock())
...     async with SagaWorker(store, [saga]) as worker:
...         outcome = await worker.execute("authoring.publish", {"draft": "d1"})
...     await store.aclose()
...     return outcome.state
>>> asyncio.run(main()), undone
('compensated', ['cv-1'])

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from mitigate.clock import Clock
from mitigate.durable._deadlines import DeadlineWatch
from mitigate.durable._emit import emit
from mitigate.durable._group_commit import GroupCommit
from mitigate.durable._saga_driver import ACTION as _ACTION
from mitigate.durable._saga_driver import UNDO as _UNDO
from mitigate.durable._saga_driver import SagaDriver, SagaRun, resolve
from mitigate.durable._saga_machine import SETTLED_STATES
from mitigate.durable._saga_monitors import heartbeat, scan_stuck, stuck_monitor, worker_failed
from mitigate.durable._saga_sql import SagaSql, sql_for
from mitigate.durable._steppolicy import PolicyRunner, make_runner
from mitigate.durable.errors import (
    SagaConfigError,
    StoreNotFoundError,
)
from mitigate.durable.saga import Saga, SagaOutcome
from mitigate.durable.store import Row, Store, dumps, loads
from mitigate.observe.events import (
    SagaAbandoned,
    SagaResumed,
    SagaStarted,
    SagaStepStarted,
    SagaStuck,
)
from mitigate.observe.observers import Observer, Observers

__all__ = ["SagaHandle", "SagaWorker", "SagaWorkerOptions"]


@dataclasses.dataclass(frozen=True, slots=True)
class SagaWorkerOptions:
    """How a :class:`SagaWorker` runs.

    ``lease``: seconds a claim lasts without renewal (renewed every ``lease / 3`` while a
    step runs, and with every state write). ``concurrency``: sagas in flight at once in
    ``run()``. ``poll``: seconds between claim attempts when idle (and between looks at the
    store while a handle waits for a saga driven elsewhere). ``stuck_after``: the default
    stuck-step threshold (a saga's or step's own wins); ``stuck_check``: how often the
    stuck-step scan runs (``None``: a tenth of the smallest threshold, at most 30 s).

    >>> SagaWorkerOptions(lease=10, concurrency=8).poll
    1.0
    >>> SagaWorkerOptions(lease=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.durable.errors.SagaConfigError: [MITIGATE.CONFIG.SAGA] saga worker: lease and ...
    """

    lease: float = 30.0
    concurrency: int = 64
    poll: float = 1.0
    stuck_after: float | None = None
    stuck_check: float | None = None

    def __post_init__(self) -> None:
        if self.lease <= 0 or self.poll <= 0 or self.concurrency < 1:
            raise SagaConfigError("saga worker", "lease and poll must be > 0 and concurrency >= 1")


class SagaHandle(str):
    """A started saga: its id (it *is* the id string) and a way to await its outcome.

    ``await handle.result()`` returns the :class:`SagaOutcome` once the saga settles
    (completed, compensated, compensation_failed or parked), whether this worker or
    another one drives it; ``timeout`` (seconds on the worker's clock) raises
    ``TimeoutError`` instead of waiting longer.
    """

    _worker: SagaWorker

    def __new__(cls, saga_id: str, worker: SagaWorker) -> SagaHandle:
        handle = super().__new__(cls, saga_id)
        handle._worker = worker
        return handle

    @property
    def id(self) -> str:
        return str(self)

    async def result(self, *, timeout: float | None = None) -> SagaOutcome:  # noqa: ASYNC109
        return await self._worker.outcome(str(self), timeout=timeout)


class SagaWorker:
    """Drives sagas against a store.

    ``sagas``: the definitions this worker knows (it claims only those). ``policies``:
    resolves steps' catalog policy names (a ``Catalog``, a mapping, or a callable).
    ``options``: a :class:`SagaWorkerOptions`; the keywords ``lease``, ``concurrency``,
    ``poll``, ``stuck_after`` and ``stuck_check`` still work and override it.
    """

    def __init__(
        self,
        store: Store,
        sagas: Iterable[Saga],
        *,
        options: SagaWorkerOptions | None = None,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        policies: Any = None,
        owner: str | None = None,
        lease: float | None = None,
        concurrency: int | None = None,
        poll: float | None = None,
        stuck_after: float | None = None,
        stuck_check: float | None = None,
    ) -> None:
        given: dict[str, Any] = {
            "lease": lease,
            "concurrency": concurrency,
            "poll": poll,
            "stuck_after": stuck_after,
            "stuck_check": stuck_check,
        }
        base = options or SagaWorkerOptions()
        options = dataclasses.replace(base, **{k: v for k, v in given.items() if v is not None})
        self.options = options
        self.store = store
        self.clock = clock or store.clock
        self._observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = float(options.lease)
        self.concurrency = options.concurrency
        self.poll = float(options.poll)
        self.stuck_after = options.stuck_after
        self.sql: SagaSql = sql_for(store)
        self._batch = GroupCommit(store, self.sql)
        self._deadlines = DeadlineWatch(self.clock)
        self._sagas: dict[str, Saga] = {}
        self._runners: dict[tuple[str, str, str], PolicyRunner] = {}
        self._empty_steps: dict[str, str] = {}
        for saga in sagas:
            if saga.name in self._sagas:
                raise SagaConfigError(saga.name, "two sagas share this name")
            self._sagas[saga.name] = saga
            self._empty_steps[saga.name] = dumps([None] * len(saga.steps))
            for step in saga.steps:
                # Resolve policies now: a bad catalog name fails here, not mid-saga.
                for phase, policy in ((_ACTION, step.retry), (_UNDO, step.undo_policy)):
                    self._runners[(saga.name, step.name, phase)] = make_runner(
                        policy,
                        target=f"{saga.name}.{step.name}",
                        clock=self.clock,
                        observers=self._observers,
                        policies=policies,
                    )
        thresholds = [t for t in self._thresholds() if t is not None]
        self.min_stuck_threshold = min(thresholds) if thresholds else None
        check = options.stuck_check
        if check is None and self.min_stuck_threshold is not None:
            check = min(self.min_stuck_threshold / 10, 30.0)
        self.stuck_check = check
        self._active: dict[str, SagaRun] = {}
        self._driver = SagaDriver(
            store=store,
            sql=self.sql,
            batch=self._batch,
            clock=self.clock,
            observers=self._observers,
            runners=self._runners,
            owner=self.owner,
            lease=self.lease,
            deadlines=self._deadlines,
            finished=self._finished,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: list[asyncio.Task[Any]] = []
        self._wakeup: asyncio.Event | None = None
        self._closing = False

    def _thresholds(self) -> Iterable[float | None]:
        yield self.stuck_after
        for saga in self._sagas.values():
            yield saga.stuck_after
            for step in saga.steps:
                yield step.stuck_after

    @property
    def observers(self) -> Observers:
        return self._observers

    @property
    def sagas(self) -> Mapping[str, Saga]:
        return self._sagas

    @property
    def active(self) -> int:
        """Sagas this worker is driving right now."""
        return len(self._active)

    def active_ids(self) -> list[str]:
        return list(self._active)

    @property
    def flushes(self) -> int:
        """Group-commit transactions written so far (benchmarks print it)."""
        return self._batch.flushes

    # -- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> SagaWorker:
        self._ensure_background()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _ensure_background(self) -> None:
        if self._background or self._closing:
            return
        loop = asyncio.get_running_loop()
        self._background.append(loop.create_task(heartbeat(self)))
        if self.stuck_check is not None:
            self._background.append(loop.create_task(stuck_monitor(self, self.stuck_check)))

    async def aclose(self) -> None:
        """Stop claiming, stop the sagas driven here and hand their leases back at once.

        A saga stopped mid-step resumes elsewhere from its row; its step runs again with
        the same idempotency key (the in-flight re-run of the crash contract).
        """
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        for task in self._background:
            task.cancel()
        held = list(self._active)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._background, *self._tasks, return_exceptions=True)
        self._background.clear()
        await self._deadlines.aclose()
        if held:
            try:
                await self.sql.release(self.store, self.owner, held)
            except Exception as exc:  # the leases expire by themselves
                worker_failed(self._observers, self.clock, "release", exc)
                for saga_id in held:
                    emit(
                        self._observers,
                        SagaAbandoned,
                        target="saga",
                        at=self.clock.now(),
                        saga_id=saga_id,
                        reason=f"release failed: {exc}",
                    )

    # -- starting ----------------------------------------------------------------------
    def _saga(self, saga: Saga | str) -> Saga:
        name = saga if isinstance(saga, str) else saga.name
        found = self._sagas.get(name)
        if found is None:
            raise SagaConfigError(
                name,
                "this worker does not know the saga",
                hint="pass its definition in SagaWorker(store, sagas=[...])",
            )
        return found

    def _new_row(self, saga: Saga, saga_id: str, input: Any, *, leased: bool) -> tuple[Any, ...]:
        now = self.clock.wall()
        text = dumps(input, what=f"input of saga {saga.name}", target=saga.name)
        deadline_at = now + saga.deadline if saga.deadline is not None else None
        return (
            saga_id,
            saga.name,
            "running",
            0,
            text,
            self._empty_steps[saga.name],
            None,
            1 if leased else 0,
            self.owner if leased else None,
            self.lease if leased else None,  # a length: the store's clock adds now
            now,
            now,
            now,
            now,
            deadline_at,
            None,
        )

    def handle(self, saga_id: str) -> SagaHandle:
        """A handle on a saga started earlier (by any worker)."""
        return SagaHandle(saga_id, self)

    async def start(
        self, saga: Saga | str, input: Any = None, *, id: str | None = None
    ) -> SagaHandle:
        """Record a saga for any worker's ``run()`` to claim; return its handle (the id
        string, with ``await handle.result()``).

        Starting twice with the same ``id`` records it once (the second call is a no-op).
        An input the store cannot hold raises ``MITIGATE.STORE.NOT_JSON``; a database
        error, a :class:`~mitigate.StoreError`.
        """
        definition = self._saga(saga)
        saga_id = id or uuid.uuid4().hex
        if await self._batch.insert(self._new_row(definition, saga_id, input, leased=False)):
            self._emit_started(definition, saga_id)
            if self._wakeup is not None:
                self._wakeup.set()
        return SagaHandle(saga_id, self)

    async def execute(
        self, saga: Saga | str, input: Any = None, *, id: str | None = None
    ) -> SagaOutcome:
        """Start a saga and drive it here to its end; return where it ended.

        With an ``id`` that already exists nothing runs again: the call waits for that
        saga's outcome (two concurrent calls with one id return the same outcome). A saga
        held by a worker that died is finished by whichever worker's ``run()`` claims it
        once its lease expires; until then this call waits. A
        state other than completed/compensated/compensation_failed/parked means this
        worker lost the saga (another worker holds it now, or the store failed) and it
        goes on elsewhere.
        """
        definition = self._saga(saga)
        saga_id = id or uuid.uuid4().hex
        mine = self._active.get(saga_id)
        if mine is not None:
            return await asyncio.shield(mine.done)
        row = self._new_row(definition, saga_id, input, leased=True)
        self._ensure_background()
        run = SagaRun(
            definition,
            saga_id,
            "running",
            0,
            input,
            [None] * len(definition.steps),
            1,
            row[14],
            None,
        )
        # Registered before the insert: a concurrent execute of this id waits for us.
        self._active[saga_id] = run
        try:
            inserted = await self._batch.insert(row)
        except BaseException as exc:
            self._active.pop(saga_id, None)
            resolve(run.done, exc)
            raise
        if not inserted:
            self._active.pop(saga_id, None)
            try:
                outcome = await self.outcome(saga_id)
            except BaseException as exc:
                resolve(run.done, exc)
                raise
            resolve(run.done, outcome)
            return outcome
        run.input = loads(row[4])  # the stored copy, as a resumed run would see it
        self._emit_started(definition, saga_id)
        await self._driver.drive(run)
        return run.outcome()

    async def outcome(
        self,
        saga_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - on the worker's clock
    ) -> SagaOutcome:
        """Wait until saga ``saga_id`` settles (here or in any worker); return its outcome."""
        give_up = None if timeout is None else self.clock.now() + timeout
        while True:
            mine = self._active.get(saga_id)
            if mine is not None:
                done = await asyncio.shield(mine.done)
                if done.state in SETTLED_STATES:
                    return done
            from mitigate.durable.saga_admin import get_saga

            found = await get_saga(self.store, saga_id)
            if found is None:
                raise StoreNotFoundError(
                    saga_id, "no saga has this id", hint="check the id `start()` returned"
                )
            if found.state in SETTLED_STATES:
                definition = self._sagas.get(found.name)
                results: Mapping[str, Any]
                if definition is not None and len(found.steps) == len(definition.steps):
                    results = {
                        definition.steps[i].name: rec["result"]
                        for i, rec in enumerate(found.steps)
                        if isinstance(rec, dict) and "result" in rec
                    }
                else:
                    results = found.results()
                return SagaOutcome(found.id, found.name, found.state, results, found.error)
            wait = self.poll
            if give_up is not None:
                left = give_up - self.clock.now()
                if left <= 0:
                    raise TimeoutError(f"saga {saga_id} is still {found.state}")
                wait = min(wait, left)
            await self.clock.asleep(wait)

    def _emit_started(self, saga: Saga, saga_id: str) -> None:
        now = self.clock.now()
        emit(self._observers, SagaStarted, target=saga.name, at=now, saga_id=saga_id)
        emit(
            self._observers,
            SagaStepStarted,
            target=saga.name,
            at=now,
            saga_id=saga_id,
            step=saga.steps[0].name,
            phase=_ACTION,
        )

    # -- the claim loop ------------------------------------------------------------------
    async def run(self, *, stop: asyncio.Event | None = None, until_idle: bool = False) -> None:
        """Claim and drive sagas until ``stop`` is set (or, with ``until_idle``, until
        nothing is claimable and nothing is in flight). Sagas leased by a live or dead
        worker are claimable only once that lease expires (on the store's clock)."""
        self._ensure_background()
        self._wakeup = wake = asyncio.Event()
        names = list(self._sagas)
        stopper = asyncio.ensure_future(_set_when(stop, wake)) if stop is not None else None
        try:
            while not self._closing and not (stop is not None and stop.is_set()):
                free = self.concurrency - len(self._active)
                claimed: list[tuple[Row, str | None]] = []
                failed = False
                if free > 0:
                    try:
                        claimed = await self.sql.claim(
                            self.store, self.owner, self.lease, names, free
                        )
                    except Exception as exc:
                        failed = True
                        worker_failed(self._observers, self.clock, "claim", exc)
                    for row, previous in claimed:
                        try:
                            self._spawn(row, previous)
                        except Exception as exc:  # pragma: no cover - _spawn parks what it can
                            worker_failed(self._observers, self.clock, "claim", exc)
                if until_idle and not claimed and not self._active and not failed:
                    return
                if claimed and len(self._active) < self.concurrency:
                    continue  # there may be more waiting
                wake.clear()
                await _wait_either(self.clock.asleep(self.poll), wake)
        finally:
            if stopper is not None:
                stopper.cancel()

    def _spawn(self, row: Row, previous: str | None) -> None:
        saga_id, name, state, step, input_text, steps_text, epoch, deadline_at, error = row
        saga = self._sagas[name]
        broken: BaseException | None = None
        try:
            input, steps = loads(input_text), loads(steps_text)
        except Exception as exc:  # a corrupt row: park it, with the reason
            input, steps, broken = None, [], exc
        run = SagaRun(saga, saga_id, state, int(step), input, steps, int(epoch), deadline_at, error)
        self._active[saga_id] = run
        if previous is not None and previous != self.owner:
            emit(
                self._observers,
                SagaResumed,
                target=name,
                at=self.clock.now(),
                saga_id=saga_id,
                step=run.step_name(),
                phase=_ACTION if state == "running" else _UNDO,
                previous_owner=previous,
                epoch=run.epoch,
            )
        task = asyncio.get_running_loop().create_task(self._driver.drive(run, broken))
        run.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finished(self, run: SagaRun) -> None:
        self._active.pop(run.id, None)
        if self._wakeup is not None:
            self._wakeup.set()

    # -- monitors (see _saga_monitors) -------------------------------------------------
    async def scan_stuck(self) -> list[SagaStuck]:
        """Alert once for each saga sitting in one step longer than its threshold.

        Any worker may run this; the alert is recorded in the row so it fires once per
        (saga, state, step) across all workers. Returns the alerts raised.
        """
        return await scan_stuck(self)


async def _set_when(stop: asyncio.Event, wake: asyncio.Event) -> None:
    await stop.wait()
    wake.set()


async def _wait_either(sleep: Any, wake: asyncio.Event) -> None:
    sleeper = asyncio.ensure_future(sleep)
    waiter = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait((sleeper, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()
