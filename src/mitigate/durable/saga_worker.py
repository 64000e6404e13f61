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
import os
import socket
import uuid
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from mitigate.clock import Clock
from mitigate.durable._deadlines import DeadlineWatch
from mitigate.durable._group_commit import GroupCommit
from mitigate.durable._saga_sql import sql_for
from mitigate.durable._steppolicy import PolicyRunner, make_runner
from mitigate.durable.saga import Saga, SagaOutcome, Step, StepContext
from mitigate.durable.store import Row, Store, dumps, loads
from mitigate.errors import ConfigError, StoreError
from mitigate.observe.events import (
    SagaAbandoned,
    SagaCompensated,
    SagaCompensating,
    SagaCompensationFailed,
    SagaCompleted,
    SagaDeadlineExceeded,
    SagaResumed,
    SagaStarted,
    SagaStepFailed,
    SagaStepStarted,
    SagaStepSucceeded,
    SagaStuck,
)
from mitigate.observe.observers import Observer, Observers

__all__ = ["SagaWorker"]

_ACTION = "action"
_UNDO = "compensation"


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
        steps: list[dict[str, Any] | None],
        epoch: int,
        deadline_at: float | None,
        error: str | None,
    ) -> None:
        self.saga = saga
        self.id = saga_id
        self.state = state
        self.step = step
        self.input = input
        self.steps = steps
        self.epoch = epoch
        self.deadline_at = deadline_at
        self.error = error
        self.deadline_fired = False
        self.deadline_reported = False
        self.in_step = False
        self.cancel_sent = False
        self.finished = False
        self.task: asyncio.Task[Any] | None = None

    def results(self) -> dict[str, Any]:
        names = self.saga.steps
        return {
            names[i].name: rec["result"]
            for i, rec in enumerate(self.steps)
            if rec is not None and "result" in rec
        }


class SagaWorker:
    """Drives sagas against a store.

    ``sagas``: the definitions this worker knows (it claims only those). ``policies``:
    resolves steps' catalog policy names (a ``Catalog``, a mapping, or a callable).
    ``lease``: seconds a claim lasts without renewal (renewed every ``lease / 3`` while a
    step runs, and with every state write). ``concurrency``: sagas in flight at once in
    ``run()``. ``poll``: seconds between claim attempts when idle. ``stuck_after``: the
    default stuck-step threshold (a saga's or step's own wins); ``stuck_check``: how often
    the stuck-step scan runs (``None``: a tenth of the smallest threshold, at most 30 s).
    """

    def __init__(
        self,
        store: Store,
        sagas: Iterable[Saga],
        *,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        policies: Any = None,
        owner: str | None = None,
        lease: float = 30.0,
        concurrency: int = 64,
        poll: float = 1.0,
        stuck_after: float | None = None,
        stuck_check: float | None = None,
    ) -> None:
        if lease <= 0 or poll <= 0 or concurrency < 1:
            raise ConfigError(
                "saga worker",
                "lease and poll must be > 0 and concurrency >= 1",
                code="MITIGATE.CONFIG.SAGA",
            )
        self.store = store
        self.clock = clock or store.clock
        self._observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = float(lease)
        self.concurrency = concurrency
        self.poll = float(poll)
        self.stuck_after = stuck_after
        self._sql = sql_for(store)
        self._batch = GroupCommit(store, self._sql)
        self._deadlines = DeadlineWatch(self.clock)
        self._sagas: dict[str, Saga] = {}
        self._runners: dict[tuple[str, str, str], PolicyRunner] = {}
        self._empty_steps: dict[str, str] = {}
        for saga in sagas:
            if saga.name in self._sagas:
                raise ConfigError(
                    saga.name, "two sagas share this name", code="MITIGATE.CONFIG.SAGA"
                )
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
        self._min_threshold = min(thresholds) if thresholds else None
        if stuck_check is None and self._min_threshold is not None:
            stuck_check = min(self._min_threshold / 10, 30.0)
        self.stuck_check = stuck_check
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
    def active(self) -> int:
        """Sagas this worker is driving right now."""
        return len(self._active)

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
        self._background.append(loop.create_task(self._heartbeat()))
        if self.stuck_check is not None:
            self._background.append(loop.create_task(self._monitor()))

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
                await self._sql.release(self.store, self.owner, held)
            except Exception as exc:  # the leases expire by themselves
                self._abandoned_all(held, f"release failed: {exc}")

    def _abandoned_all(self, ids: list[str], reason: str) -> None:
        if self._observers:
            for saga_id in ids:
                self._observers.emit(
                    SagaAbandoned(
                        target="saga", at=self.clock.now(), saga_id=saga_id, reason=reason
                    )
                )

    # -- starting ----------------------------------------------------------------------
    def _saga(self, saga: Saga | str) -> Saga:
        name = saga if isinstance(saga, str) else saga.name
        found = self._sagas.get(name)
        if found is None:
            raise ConfigError(
                name,
                "this worker does not know the saga",
                hint="pass its definition in SagaWorker(store, sagas=[...])",
                code="MITIGATE.CONFIG.SAGA",
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
            now + self.lease if leased else None,
            now,
            now,
            now,
            now,
            deadline_at,
            None,
        )

    async def start(self, saga: Saga | str, input: Any = None, *, id: str | None = None) -> str:
        """Record a saga for any worker's ``run()`` to claim; return its id.

        Starting twice with the same ``id`` records it once (the second call is a no-op).
        """
        definition = self._saga(saga)
        saga_id = id or uuid.uuid4().hex
        if await self._batch.insert(self._new_row(definition, saga_id, input, leased=False)):
            self._emit_started(definition, saga_id)
            if self._wakeup is not None:
                self._wakeup.set()
        return saga_id

    async def execute(
        self, saga: Saga | str, input: Any = None, *, id: str | None = None
    ) -> SagaOutcome:
        """Start a saga and drive it here to its end; return where it ended.

        With an ``id`` that already exists nothing runs; the stored state is returned. A
        state other than completed/compensated/compensation_failed means this worker lost
        the saga (another worker holds it now, or the store failed) and it goes on elsewhere.
        """
        definition = self._saga(saga)
        saga_id = id or uuid.uuid4().hex
        row = self._new_row(definition, saga_id, input, leased=True)
        self._ensure_background()
        if not await self._batch.insert(row):
            from mitigate.durable.saga_admin import get_saga

            found = await get_saga(self.store, saga_id)
            if found is None:  # pragma: no cover - an insert conflict means the row exists
                raise StoreError(saga_id, "vanished while starting", code="MITIGATE.STORE.ERROR")
            results = {
                definition.steps[i].name: rec["result"]
                for i, rec in enumerate(found.steps)
                if rec is not None and "result" in rec and i < len(definition.steps)
            }
            return SagaOutcome(found.id, found.name, found.state, results, found.error)
        self._emit_started(definition, saga_id)
        run = _Run(
            definition,
            saga_id,
            "running",
            0,
            loads(row[4]),
            [None] * len(definition.steps),
            1,
            row[14],
            None,
        )
        self._active[saga_id] = run
        await self._drive(run)
        return SagaOutcome(saga_id, definition.name, run.state, run.results(), run.error)

    def _emit_started(self, saga: Saga, saga_id: str) -> None:
        if self._observers:
            now = self.clock.now()
            self._observers.emit(SagaStarted(target=saga.name, at=now, saga_id=saga_id))
            self._observers.emit(
                SagaStepStarted(
                    target=saga.name,
                    at=now,
                    saga_id=saga_id,
                    step=saga.steps[0].name,
                    phase=_ACTION,
                )
            )

    # -- the claim loop ------------------------------------------------------------------
    async def run(self, *, stop: asyncio.Event | None = None, until_idle: bool = False) -> None:
        """Claim and drive sagas until ``stop`` is set (or, with ``until_idle``, until
        nothing is claimable and nothing is in flight). Sagas leased by a live or dead
        worker are claimable only once that lease expires."""
        self._ensure_background()
        self._wakeup = wake = asyncio.Event()
        names = list(self._sagas)
        stopper = asyncio.ensure_future(_set_when(stop, wake)) if stop is not None else None
        try:
            while not self._closing and not (stop is not None and stop.is_set()):
                free = self.concurrency - len(self._active)
                claimed: list[tuple[Row, str | None]] = []
                if free > 0:
                    now = self.clock.wall()
                    try:
                        claimed = await self._sql.claim(
                            self.store, self.owner, now, now + self.lease, names, free
                        )
                    except Exception as exc:
                        self._abandoned_all([], f"claim failed: {exc}")
                    for row, previous in claimed:
                        self._spawn(row, previous)
                if until_idle and not claimed and not self._active:
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
        run = _Run(
            saga,
            saga_id,
            state,
            int(step),
            loads(input_text),
            loads(steps_text),
            int(epoch),
            deadline_at,
            error,
        )
        self._active[saga_id] = run
        if previous is not None and previous != self.owner and self._observers:
            self._observers.emit(
                SagaResumed(
                    target=name,
                    at=self.clock.now(),
                    saga_id=saga_id,
                    step=saga.steps[run.step].name if 0 <= run.step < len(saga.steps) else "",
                    phase=_ACTION if state == "running" else _UNDO,
                    previous_owner=previous,
                    epoch=run.epoch,
                )
            )
        task = asyncio.get_running_loop().create_task(self._drive(run))
        run.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- driving one saga ------------------------------------------------------------------
    async def _drive(self, run: _Run) -> None:
        if run.deadline_at is not None:
            self._deadlines.watch(run)
        try:
            while True:
                if run.state == "running":
                    await self._forward(run)
                elif run.state == "compensating":
                    await self._backward(run)
                else:
                    return
        except _LeaseLostError:
            self._abandon(run, "lease lost: another worker took the saga over")
        except StoreError as exc:
            self._abandon(run, f"store failed: {exc}")
        finally:
            run.finished = True
            self._active.pop(run.id, None)
            if run.deadline_at is not None:
                self._deadlines.forget(run)
            if self._wakeup is not None:
                self._wakeup.set()

    def _abandon(self, run: _Run, reason: str) -> None:
        if self._observers:
            self._observers.emit(
                SagaAbandoned(
                    target=run.saga.name, at=self.clock.now(), saga_id=run.id, reason=reason
                )
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
            await self._begin_compensation(run, "deadline", interrupted=k)
            return
        started = self.clock.now()
        try:
            value = await self._run_action(run, step)
        except _DeadlineHitError:
            self._report_deadline(run)
            await self._begin_compensation(run, "deadline", interrupted=k)
            return
        except Exception as exc:
            run.error = f"step {step.name} failed: {type(exc).__name__}: {exc}"
            if self._observers:
                self._emit_step_failed(run, step, _ACTION, exc, started)
            await self._begin_compensation(run, "step_failed", interrupted=None)
            return
        run.steps[k] = {"result": value, "epoch": run.epoch, "done_at": self.clock.wall()}
        try:
            steps_text = dumps(run.steps, what=f"result of step {step.name}", target=saga.name)
        except StoreError as exc:
            # The effect happened but cannot be recorded: undo it with the others.
            run.steps[k] = {"interrupted": True, "epoch": run.epoch}
            run.error = str(exc)
            if self._observers:
                self._emit_step_failed(run, step, _ACTION, exc, started)
            await self._begin_compensation(run, "step_failed", interrupted=k)
            return
        last = k + 1 == len(saga.steps)
        if last:
            await self._write(run, "completed", k, steps_text, terminal=True)
        else:
            await self._write(run, "running", k + 1, steps_text)
        if self._observers:
            now = self.clock.now()
            self._emit_step_succeeded(run, step, _ACTION, now, started)
            if last:
                self._observers.emit(
                    SagaCompleted(target=saga.name, at=now, saga_id=run.id, step=step.name)
                )
            else:
                self._observers.emit(
                    SagaStepStarted(
                        target=saga.name,
                        at=now,
                        saga_id=run.id,
                        step=saga.steps[k + 1].name,
                        phase=_ACTION,
                    )
                )

    # Callers check ``if self._observers:`` first, so no event is built for nobody.
    def _emit_step_failed(
        self, run: _Run, step: Step, phase: str, error: BaseException, started: float
    ) -> None:
        self._observers.emit(
            SagaStepFailed(
                target=run.saga.name,
                at=self.clock.now(),
                saga_id=run.id,
                step=step.name,
                phase=phase,
                error=error,
                duration=self.clock.now() - started,
            )
        )

    def _emit_step_succeeded(
        self, run: _Run, step: Step, phase: str, now: float, started: float
    ) -> None:
        self._observers.emit(
            SagaStepSucceeded(
                target=run.saga.name,
                at=now,
                saga_id=run.id,
                step=step.name,
                phase=phase,
                duration=now - started,
            )
        )

    async def _run_action(self, run: _Run, step: Step) -> Any:
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
            ctx = _with_key(ctx, step.key(ctx))
        runner = self._runners[(run.saga.name, step.name, _ACTION)]
        if run.deadline_at is None:
            return await runner(step.action, ctx)
        task = asyncio.current_task()
        run.task = task
        run.in_step = True
        try:
            return await runner(step.action, ctx)
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
        run.error = (
            f"deadline of {run.saga.deadline:g}s passed in step {run.saga.steps[run.step].name}"
        )
        if self._observers:
            self._observers.emit(
                SagaDeadlineExceeded(
                    target=run.saga.name,
                    at=self.clock.now(),
                    saga_id=run.id,
                    step=run.saga.steps[run.step].name,
                    phase=_ACTION,
                    deadline=run.saga.deadline or 0.0,
                )
            )

    async def _begin_compensation(self, run: _Run, reason: str, *, interrupted: int | None) -> None:
        if interrupted is not None:
            # Its outcome is unknown (cut off by the deadline): compensate it too.
            entry = run.steps[interrupted] or {}
            if "result" not in entry:
                entry["interrupted"] = True
                entry.setdefault("epoch", run.epoch)
            run.steps[interrupted] = entry
        if run.error is None:
            run.error = reason
        nxt = _next_undo(run)
        if self._observers:
            self._observers.emit(
                SagaCompensating(
                    target=run.saga.name,
                    at=self.clock.now(),
                    saga_id=run.id,
                    step=run.saga.steps[run.step].name,
                    phase=_UNDO,
                    reason=reason,
                )
            )
        if nxt is None:
            await self._finish_compensated(run)
        else:
            await self._write(run, "compensating", nxt, dumps(run.steps))

    async def _finish_compensated(self, run: _Run) -> None:
        await self._write(run, "compensated", run.step, dumps(run.steps), terminal=True)
        if self._observers:
            self._observers.emit(
                SagaCompensated(
                    target=run.saga.name,
                    at=self.clock.now(),
                    saga_id=run.id,
                )
            )

    async def _backward(self, run: _Run) -> None:
        saga = run.saga
        j = _next_undo(run)
        if j is None:
            await self._finish_compensated(run)
            return
        step = saga.steps[j]
        entry = run.steps[j]
        assert entry is not None
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
                ctx = _with_key(ctx, step.key(ctx) + ":undo")
            if self._observers:
                self._observers.emit(
                    SagaStepStarted(
                        target=saga.name, at=started, saga_id=run.id, step=step.name, phase=_UNDO
                    )
                )
            try:
                await self._runners[(saga.name, step.name, _UNDO)](step.compensation, ctx)
            except Exception as exc:
                entry["undo_error"] = f"{type(exc).__name__}: {exc}"
                run.error = f"compensation of step {step.name} failed: {type(exc).__name__}: {exc}"
                await self._write(run, "compensation_failed", j, dumps(run.steps), terminal=True)
                if self._observers:
                    self._emit_step_failed(run, step, _UNDO, exc, started)
                    message = (
                        f"saga {run.id} ({saga.name}) parked in compensation_failed: "
                        f"{run.error}; fix the cause, then `mitigate saga retry {run.id}`"
                    )
                    self._observers.emit(
                        SagaCompensationFailed(
                            target=saga.name,
                            at=self.clock.now(),
                            saga_id=run.id,
                            step=step.name,
                            error=exc,
                            rule="saga.compensation_failed",
                            value=1.0,
                            threshold=0.0,
                            message=message,
                            runbook=saga.runbook or "",
                        )
                    )
                return
        entry["undone_at"] = self.clock.wall()
        entry.pop("undo_error", None)
        nxt = _next_undo(run)
        if nxt is None:
            await self._write(run, "compensated", j, dumps(run.steps), terminal=True)
        else:
            await self._write(run, "compensating", nxt, dumps(run.steps))
        if self._observers:
            now = self.clock.now()
            if step.compensation is not None:
                self._emit_step_succeeded(run, step, _UNDO, now, started)
            if nxt is None:
                self._observers.emit(SagaCompensated(target=saga.name, at=now, saga_id=run.id))

    async def _write(
        self, run: _Run, state: str, step: int, steps_text: str, *, terminal: bool = False
    ) -> None:
        now = self.clock.wall()
        ok = await self._batch.update(
            (
                state,
                step,
                steps_text,
                run.error,
                now,
                now,
                None if terminal else self.owner,
                None if terminal else now + self.lease,
                now,
                run.id,
                run.epoch,
            )
        )
        if not ok:
            raise _LeaseLostError()
        run.state = state
        run.step = step

    # -- background: lease renewal and the stuck-step scan --------------------------------
    async def _heartbeat(self) -> None:
        while True:
            await self.clock.asleep(self.lease / 3)
            ids = list(self._active)
            if not ids:
                continue
            try:
                await self._sql.renew(self.store, self.owner, ids, self.clock.wall() + self.lease)
            except Exception:
                continue  # a transient store error: the next beat tries again

    async def _monitor(self) -> None:
        assert self.stuck_check is not None
        while True:
            await self.clock.asleep(self.stuck_check)
            try:
                await self.scan_stuck()
            except Exception:
                continue

    async def scan_stuck(self) -> list[SagaStuck]:
        """Alert once for each saga sitting in one step longer than its threshold.

        Any worker may run this; the alert is recorded in the row so it fires once per
        (saga, state, step) across all workers. Returns the alerts raised.
        """
        if self._min_threshold is None:
            return []
        now = self.clock.wall()
        raised: list[SagaStuck] = []
        rows = await self._sql.stuck_candidates(self.store, now - self._min_threshold)
        for saga_id, name, state, step, started_at, alerted in rows:
            saga = self._sagas.get(name)
            if saga is None or not 0 <= step < len(saga.steps):
                continue
            definition = saga.steps[step]
            threshold = definition.stuck_after or saga.stuck_after or self.stuck_after
            if threshold is None or now - started_at < threshold:
                continue
            if alerted == f"{state}:{step}":
                continue
            if not await self._sql.mark_alerted(self.store, saga_id, state, step):
                continue
            phase = _ACTION if state == "running" else _UNDO
            event = SagaStuck(
                target=name,
                at=self.clock.now(),
                saga_id=saga_id,
                step=definition.name,
                phase=phase,
                rule="saga.stuck",
                value=now - started_at,
                threshold=threshold,
                message=(
                    f"saga {saga_id} ({name}) has been in step {definition.name} ({state}) for "
                    f"{now - started_at:.0f}s, over {threshold:g}s"
                ),
                runbook=saga.runbook or "",
            )
            raised.append(event)
            if self._observers:
                self._observers.emit(event)
        return raised


def _next_undo(run: _Run) -> int | None:
    """The highest step whose effect may exist and is not undone yet."""
    for j in range(len(run.steps) - 1, -1, -1):
        entry = run.steps[j]
        if entry is None or "undone_at" in entry:
            continue
        if "result" in entry or entry.get("interrupted"):
            return j
    return None


def _with_key(ctx: StepContext, key: str) -> StepContext:
    return StepContext(
        saga_id=ctx.saga_id,
        saga=ctx.saga,
        step=ctx.step,
        input=ctx.input,
        results=ctx.results,
        idempotency_key=key,
        epoch=ctx.epoch,
        result=ctx.result,
        compensating=ctx.compensating,
    )


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
