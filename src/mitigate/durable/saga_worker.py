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
import inspect
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from mitigate.clock import Clock
from mitigate.durable import _saga_machine as machine
from mitigate.durable._deadlines import DeadlineWatch
from mitigate.durable._emit import emit
from mitigate.durable._group_commit import GroupCommit
from mitigate.durable._saga_machine import SETTLED_STATES, Transition
from mitigate.durable._saga_monitors import heartbeat, scan_stuck, stuck_monitor, worker_failed
from mitigate.durable._saga_sql import SagaSql, lease_now, sql_for
from mitigate.durable._steppolicy import PolicyRunner, make_runner
from mitigate.durable.errors import (
    SagaConfigError,
    SagaDefinitionChangedError,
    SagaParkedError,
    StoreDataError,
    StoreNotFoundError,
)
from mitigate.durable.saga import Saga, SagaOutcome, Step, StepContext
from mitigate.durable.store import Row, Store, dumps, loads
from mitigate.errors import StoreError
from mitigate.observe.events import (
    SagaAbandoned,
    SagaCompensated,
    SagaCompensating,
    SagaCompensationFailed,
    SagaCompleted,
    SagaDeadlineExceeded,
    SagaParked,
    SagaResumed,
    SagaStarted,
    SagaStepFailed,
    SagaStepStarted,
    SagaStepSucceeded,
    SagaStuck,
)
from mitigate.observe.observers import Observer, Observers

__all__ = ["SagaHandle", "SagaWorker", "SagaWorkerOptions"]

_ACTION = "action"
_UNDO = "compensation"


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


class _LeaseLostError(Exception):
    """Our write was fenced off: another worker holds the saga now."""


class _DeadlineHitError(Exception):
    """The saga's deadline interrupted the step in flight."""


class _Run:
    """One saga being driven in this process."""

    __slots__ = (
        "cancel_sent",
        "deadline_at",
        "deadline_fired",
        "deadline_reported",
        "done",
        "epoch",
        "error",
        "finished",
        "id",
        "in_step",
        "input",
        "saga",
        "state",
        "step",
        "steps",
        "task",
    )

    def __init__(
        self,
        saga: Saga,
        saga_id: str,
        state: str,
        step: int,
        input: Any,
        steps: Any,
        epoch: int,
        deadline_at: float | None,
        error: str | None,
    ) -> None:
        self.saga = saga
        self.id = saga_id
        self.state = state
        self.step = step
        self.input = input
        self.steps: machine.Steps = steps
        self.epoch = epoch
        self.deadline_at = deadline_at
        self.error = error
        self.deadline_fired = False
        self.deadline_reported = False
        self.in_step = False
        self.cancel_sent = False
        self.finished = False
        self.task: asyncio.Task[Any] | None = None
        self.done: asyncio.Future[SagaOutcome] = asyncio.get_running_loop().create_future()

    def results(self) -> dict[str, Any]:
        names = self.saga.steps
        return {
            names[i].name: rec["result"]
            for i, rec in enumerate(self.steps)
            if rec is not None and "result" in rec
        }

    def outcome(self) -> SagaOutcome:
        try:
            results = self.results()
        except Exception:  # a corrupt row: its results cannot be read
            results = {}
        return SagaOutcome(self.id, self.saga.name, self.state, results, self.error)

    def step_name(self) -> str:
        steps = self.saga.steps
        return steps[self.step].name if 0 <= self.step < len(steps) else ""


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
        self._active: dict[str, _Run] = {}
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
                worker_failed(self, "release", exc)
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
        saga's outcome (two concurrent calls with one id return the same outcome). A
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
        run = _Run(
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
            _resolve(run.done, exc)
            raise
        if not inserted:
            self._active.pop(saga_id, None)
            try:
                outcome = await self.outcome(saga_id)
            except BaseException as exc:
                _resolve(run.done, exc)
                raise
            _resolve(run.done, outcome)
            return outcome
        run.input = loads(row[4])  # the stored copy, as a resumed run would see it
        self._emit_started(definition, saga_id)
        await self._drive(run)
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
                        worker_failed(self, "claim", exc)
                    for row, previous in claimed:
                        try:
                            self._spawn(row, previous)
                        except Exception as exc:  # pragma: no cover - _spawn parks what it can
                            worker_failed(self, "claim", exc)
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
        run = _Run(saga, saga_id, state, int(step), input, steps, int(epoch), deadline_at, error)
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
        task = asyncio.get_running_loop().create_task(self._drive(run, broken))
        run.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- driving one saga ------------------------------------------------------------------
    async def _drive(self, run: _Run, broken: BaseException | None = None) -> None:
        if run.deadline_at is not None:
            self._deadlines.watch(run)
        try:
            if broken is not None:
                await self._park(run, _internal(run, broken))
            elif not machine.definition_fits(run.steps, len(run.saga.steps), step=run.step):
                await self._park(run, _definition_changed(run))
            while run.state in machine.ACTIVE_STATES:
                if run.state == "running":
                    await self._forward(run)
                else:
                    await self._backward(run)
        except _LeaseLostError:
            self._abandon(run, "lease lost: another worker took the saga over")
        except StoreDataError as exc:
            await self._park_or_abandon(run, exc)
        except StoreError as exc:
            self._abandon(run, f"store failed: {exc}")
        except Exception as exc:
            await self._park_or_abandon(run, exc)
        finally:
            run.finished = True
            self._active.pop(run.id, None)
            _resolve(run.done, run.outcome())
            if run.deadline_at is not None:
                self._deadlines.forget(run)
            if self._wakeup is not None:
                self._wakeup.set()

    async def _park_or_abandon(self, run: _Run, error: BaseException) -> None:
        try:
            await self._park(run, _internal(run, error))
        except Exception as exc:  # the store is gone too: the row still says where it is
            worker_failed(self, "driver", exc)
            self._abandon(run, f"could not park after {type(error).__name__}: {exc}")

    async def _park(self, run: _Run, error: SagaParkedError) -> None:
        reason = str(error)
        ok = await self.sql.park(
            self.store, run.id, run.epoch, reason, f"parked:{run.state}", self.clock.wall()
        )
        if not ok:
            raise _LeaseLostError()
        run.state = "parked"
        run.error = reason
        emit(
            self._observers,
            SagaParked,
            target=run.saga.name,
            at=self.clock.now(),
            saga_id=run.id,
            step=run.step_name(),
            code=error.code,
            reason=reason,
            rule="saga.parked",
            value=1.0,
            threshold=0.0,
            message=(
                f"saga {run.id} ({run.saga.name}) parked: {reason}; "
                f"fix the cause, then `mitigate saga retry {run.id}`"
            ),
            runbook=run.saga.runbook or "",
        )

    def _abandon(self, run: _Run, reason: str) -> None:
        emit(
            self._observers,
            SagaAbandoned,
            target=run.saga.name,
            at=self.clock.now(),
            saga_id=run.id,
            reason=reason,
        )

    def _past_deadline(self, run: _Run) -> bool:
        return run.deadline_fired or (
            run.deadline_at is not None and self.clock.wall() >= run.deadline_at
        )

    async def _forward(self, run: _Run) -> None:
        saga = run.saga
        k = run.step
        step = saga.steps[k]
        if self._past_deadline(run):
            self._report_deadline(run)
            await self._begin_compensation(run, "deadline", interrupted=True)
            return
        started = self.clock.now()
        written: Transition | None = None
        try:
            if step.transactional:
                written = await self._run_transactional(run, step, k)
                value = written.steps[k]["result"]  # type: ignore[index]
            else:
                value = await self._run_action(run, step)
        except _DeadlineHitError:
            self._report_deadline(run)
            await self._begin_compensation(run, "deadline", interrupted=True)
            return
        except _LeaseLostError:
            raise
        except Exception as exc:
            run.error = f"step {step.name} failed: {type(exc).__name__}: {exc}"
            self._emit_step_failed(run, step, _ACTION, exc, started)
            await self._begin_compensation(run, "step_failed", interrupted=False)
            return
        if written is None:
            t = machine.action_succeeded(run.steps, k, value, epoch=run.epoch, at=self.clock.wall())
            try:
                text = dumps(t.steps, what=f"result of step {step.name}", target=saga.name)
                await self._write(run, t, text)
            except StoreDataError as exc:
                # The effect happened but cannot be recorded: undo it with the others.
                run.error = str(exc)
                self._emit_step_failed(run, step, _ACTION, exc, started)
                await self._begin_compensation(run, "step_failed", interrupted=True)
                return
        else:
            self._adopt(run, written)
        now = self.clock.now()
        emit(
            self._observers,
            SagaStepSucceeded,
            target=saga.name,
            at=now,
            saga_id=run.id,
            step=step.name,
            phase=_ACTION,
            duration=now - started,
        )
        if run.state == "completed":
            emit(
                self._observers,
                SagaCompleted,
                target=saga.name,
                at=now,
                saga_id=run.id,
                step=step.name,
            )
        else:
            emit(
                self._observers,
                SagaStepStarted,
                target=saga.name,
                at=now,
                saga_id=run.id,
                step=saga.steps[run.step].name,
                phase=_ACTION,
            )

    def _emit_step_failed(
        self, run: _Run, step: Step, phase: str, error: BaseException, started: float
    ) -> None:
        emit(
            self._observers,
            SagaStepFailed,
            target=run.saga.name,
            at=self.clock.now(),
            saga_id=run.id,
            step=step.name,
            phase=phase,
            error=error,
            duration=self.clock.now() - started,
        )

    def _context(self, run: _Run, step: Step) -> StepContext:
        ctx = StepContext(
            saga_id=run.id,
            saga=run.saga.name,
            step=step.name,
            input=run.input,
            results=run.results(),
            idempotency_key=f"{run.id}:{step.name}",
            epoch=run.epoch,
        )
        if step.key is not None:
            ctx = dataclasses.replace(ctx, idempotency_key=step.key(ctx))
        return ctx

    async def _run_action(self, run: _Run, step: Step) -> Any:
        return await self._call_in_step(run, step, step.action, self._context(run, step))

    async def _run_transactional(self, run: _Run, step: Step, k: int) -> Transition:
        """Each attempt: one transaction holding the effect, the outbox rows, the result
        and the next checkpoint; a failed attempt leaves nothing behind."""
        fenced = False
        store = self.store

        async def attempt(ctx: StepContext) -> Transition:
            nonlocal fenced
            async with store.transaction() as tx:
                if not await self.sql.hold(tx, run.id, run.epoch):
                    fenced = True
                    raise _LeaseLostError()
                value = step.action(dataclasses.replace(ctx, tx=tx))
                if inspect.isawaitable(value):
                    value = await value
                t = machine.action_succeeded(
                    run.steps, k, value, epoch=run.epoch, at=self.clock.wall()
                )
                text = dumps(t.steps, what=f"result of step {step.name}", target=run.saga.name)
                if not await self.sql.update_in(tx, self._row(run, t, text), lease_now(store)):
                    fenced = True
                    raise _LeaseLostError()
            return t

        try:
            result: Transition = await self._call_in_step(
                run, step, attempt, self._context(run, step)
            )
            return result
        except Exception:
            if fenced:
                raise _LeaseLostError() from None
            raise

    async def _call_in_step(self, run: _Run, step: Step, action: Any, ctx: StepContext) -> Any:
        runner = self._runners[(run.saga.name, step.name, _ACTION)]
        if run.deadline_at is None:
            return await runner(action, ctx)
        task = asyncio.current_task()
        run.task = task
        run.in_step = True
        try:
            return await runner(action, ctx)
        except asyncio.CancelledError:
            if run.cancel_sent and task is not None and task.cancelling() <= 1:
                raise _DeadlineHitError() from None
            raise
        finally:
            run.in_step = False
            if run.cancel_sent:
                run.cancel_sent = False
                if task is not None:
                    task.uncancel()

    def _report_deadline(self, run: _Run) -> None:
        if run.deadline_reported:
            return
        run.deadline_reported = True
        run.error = f"deadline of {run.saga.deadline:g}s passed in step {run.step_name()}"
        emit(
            self._observers,
            SagaDeadlineExceeded,
            target=run.saga.name,
            at=self.clock.now(),
            saga_id=run.id,
            step=run.step_name(),
            phase=_ACTION,
            deadline=run.saga.deadline or 0.0,
        )

    async def _begin_compensation(self, run: _Run, reason: str, *, interrupted: bool) -> None:
        # interrupted: the step's outcome is unknown (deadline, unrecordable result), so
        # it is compensated too.
        t = machine.action_failed(run.steps, run.step, interrupted=interrupted, epoch=run.epoch)
        if run.error is None:
            run.error = reason
        emit(
            self._observers,
            SagaCompensating,
            target=run.saga.name,
            at=self.clock.now(),
            saga_id=run.id,
            step=run.step_name(),
            phase=_UNDO,
            reason=reason,
        )
        await self._write(run, t, dumps(t.steps))
        if t.state == "compensated":
            emit(
                self._observers,
                SagaCompensated,
                target=run.saga.name,
                at=self.clock.now(),
                saga_id=run.id,
            )

    async def _backward(self, run: _Run) -> None:
        saga = run.saga
        j = machine.next_undo(run.steps)
        if j is None:
            t = Transition("compensated", run.step, run.steps, terminal=True)
            await self._write(run, t, dumps(t.steps))
            emit(
                self._observers,
                SagaCompensated,
                target=saga.name,
                at=self.clock.now(),
                saga_id=run.id,
            )
            return
        step = saga.steps[j]
        entry = run.steps[j] or {}
        started = self.clock.now()
        if step.compensation is not None:
            ctx = StepContext(
                saga_id=run.id,
                saga=saga.name,
                step=step.name,
                input=run.input,
                results=run.results(),
                idempotency_key=f"{run.id}:{step.name}:undo",
                epoch=run.epoch,
                result=entry.get("result"),
                compensating=True,
            )
            if step.key is not None:
                ctx = dataclasses.replace(ctx, idempotency_key=step.key(ctx) + ":undo")
            emit(
                self._observers,
                SagaStepStarted,
                target=saga.name,
                at=started,
                saga_id=run.id,
                step=step.name,
                phase=_UNDO,
            )
            try:
                await self._runners[(saga.name, step.name, _UNDO)](step.compensation, ctx)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                run.error = f"compensation of step {step.name} failed: {error}"
                t = machine.undo_failed(run.steps, j, error)
                await self._write(run, t, dumps(t.steps))
                self._emit_step_failed(run, step, _UNDO, exc, started)
                emit(
                    self._observers,
                    SagaCompensationFailed,
                    target=saga.name,
                    at=self.clock.now(),
                    saga_id=run.id,
                    step=step.name,
                    error=exc,
                    rule="saga.compensation_failed",
                    value=1.0,
                    threshold=0.0,
                    message=(
                        f"saga {run.id} ({saga.name}) parked in compensation_failed: "
                        f"{run.error}; fix the cause, then `mitigate saga retry {run.id}`"
                    ),
                    runbook=saga.runbook or "",
                )
                return
        t = machine.undo_succeeded(run.steps, j, at=self.clock.wall())
        await self._write(run, t, dumps(t.steps))
        now = self.clock.now()
        if step.compensation is not None:
            emit(
                self._observers,
                SagaStepSucceeded,
                target=saga.name,
                at=now,
                saga_id=run.id,
                step=step.name,
                phase=_UNDO,
                duration=now - started,
            )
        if t.state == "compensated":
            emit(self._observers, SagaCompensated, target=saga.name, at=now, saga_id=run.id)

    def _row(self, run: _Run, t: Transition, steps_text: str) -> tuple[Any, ...]:
        now = self.clock.wall()
        return (
            t.state,
            t.step,
            steps_text,
            run.error,
            now,
            now,
            None if t.terminal else self.owner,
            None if t.terminal else self.lease,  # a length: the store's clock adds now
            now,
            run.id,
            run.epoch,
        )

    async def _write(self, run: _Run, t: Transition, steps_text: str) -> None:
        if not await self._batch.update(self._row(run, t, steps_text)):
            raise _LeaseLostError()
        self._adopt(run, t)

    @staticmethod
    def _adopt(run: _Run, t: Transition) -> None:
        run.state = t.state
        run.step = t.step
        run.steps = t.steps

    # -- monitors (see _saga_monitors) -------------------------------------------------
    async def scan_stuck(self) -> list[SagaStuck]:
        """Alert once for each saga sitting in one step longer than its threshold.

        Any worker may run this; the alert is recorded in the row so it fires once per
        (saga, state, step) across all workers. Returns the alerts raised.
        """
        return await scan_stuck(self)


def _internal(run: _Run, error: BaseException) -> SagaParkedError:
    return SagaParkedError(
        run.id,
        f"unexpected {type(error).__name__} in step {run.step_name() or run.step}"
        f" ({run.state}): {error}",
    )


def _definition_changed(run: _Run) -> SagaDefinitionChangedError:
    count = len(run.steps) if isinstance(run.steps, list) else "?"
    return SagaDefinitionChangedError(
        run.id,
        f"the row has {count} step records at step {run.step}, but this worker's"
        f" {run.saga.name} has {len(run.saga.steps)} steps",
    )


def _resolve(future: asyncio.Future[SagaOutcome], value: SagaOutcome | BaseException) -> None:
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
        future.exception()  # nobody may be waiting: do not log "never retrieved"
    else:
        future.set_result(value)


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
