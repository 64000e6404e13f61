"""Driving one saga: run its steps forward, compensate backward, park what cannot go on.

The worker (:mod:`mitigate.durable.saga_worker`) starts and claims sagas; the
:class:`SagaDriver` takes one :class:`SagaRun` from where its row says to the next settled
state, asking :mod:`~mitigate.durable._saga_machine` what each outcome leads to and
writing each transition (fenced by the lease epoch, group-committed) before the next
action starts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from mitigate.clock import Clock
from mitigate.durable import _saga_machine as machine
from mitigate.durable._deadlines import DeadlineWatch
from mitigate.durable._emit import emit
from mitigate.durable._group_commit import GroupCommit
from mitigate.durable._saga_machine import Transition
from mitigate.durable._saga_monitors import worker_failed
from mitigate.durable._saga_sql import SagaSql, lease_now
from mitigate.durable._steppolicy import PolicyRunner
from mitigate.durable.errors import SagaDefinitionChangedError, SagaParkedError, StoreDataError
from mitigate.durable.saga import Saga, SagaOutcome, Step, StepContext
from mitigate.durable.store import Store, dumps
from mitigate.errors import StoreError
from mitigate.observe.events import (
    SagaAbandoned,
    SagaCompensated,
    SagaCompensating,
    SagaCompensationFailed,
    SagaCompleted,
    SagaDeadlineExceeded,
    SagaParked,
    SagaStepFailed,
    SagaStepStarted,
    SagaStepSucceeded,
)
from mitigate.observe.observers import Observers

__all__ = ["ACTION", "UNDO", "SagaDriver", "SagaRun", "resolve"]

ACTION = "action"
UNDO = "compensation"
_ACTION = ACTION
_UNDO = UNDO


class _LeaseLostError(Exception):
    """Our write was fenced off: another worker holds the saga now."""


class _DeadlineHitError(Exception):
    """The saga's deadline interrupted the step in flight."""


class SagaRun:
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


class SagaDriver:
    """Drives :class:`SagaRun` objects for one worker (its store, clock, lease, owner)."""

    def __init__(
        self,
        *,
        store: Store,
        sql: SagaSql,
        batch: GroupCommit,
        clock: Clock,
        observers: Observers,
        runners: dict[tuple[str, str, str], PolicyRunner],
        owner: str,
        lease: float,
        deadlines: DeadlineWatch,
        finished: Callable[[SagaRun], None],
    ) -> None:
        self.store = store
        self.sql = sql
        self._batch = batch
        self.clock = clock
        self._observers = observers
        self._runners = runners
        self.owner = owner
        self.lease = lease
        self._deadlines = deadlines
        self._finished = finished

    async def drive(self, run: SagaRun, broken: BaseException | None = None) -> None:
        """Drive ``run`` until it settles, is parked, or this worker loses it."""
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
            resolve(run.done, run.outcome())
            if run.deadline_at is not None:
                self._deadlines.forget(run)
            self._finished(run)

    async def _park_or_abandon(self, run: SagaRun, error: BaseException) -> None:
        try:
            await self._park(run, _internal(run, error))
        except Exception as exc:  # the store is gone too: the row still says where it is
            worker_failed(self._observers, self.clock, "driver", exc)
            self._abandon(run, f"could not park after {type(error).__name__}: {exc}")

    async def _park(self, run: SagaRun, error: SagaParkedError) -> None:
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

    def _abandon(self, run: SagaRun, reason: str) -> None:
        emit(
            self._observers,
            SagaAbandoned,
            target=run.saga.name,
            at=self.clock.now(),
            saga_id=run.id,
            reason=reason,
        )

    def _past_deadline(self, run: SagaRun) -> bool:
        return run.deadline_fired or (
            run.deadline_at is not None and self.clock.wall() >= run.deadline_at
        )

    async def _forward(self, run: SagaRun) -> None:
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
        self, run: SagaRun, step: Step, phase: str, error: BaseException, started: float
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

    def _context(self, run: SagaRun, step: Step) -> StepContext:
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

    async def _run_action(self, run: SagaRun, step: Step) -> Any:
        return await self._call_in_step(run, step, step.action, self._context(run, step))

    async def _run_transactional(self, run: SagaRun, step: Step, k: int) -> Transition:
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

    async def _call_in_step(self, run: SagaRun, step: Step, action: Any, ctx: StepContext) -> Any:
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

    def _report_deadline(self, run: SagaRun) -> None:
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

    async def _begin_compensation(self, run: SagaRun, reason: str, *, interrupted: bool) -> None:
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

    async def _backward(self, run: SagaRun) -> None:
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

    def _row(self, run: SagaRun, t: Transition, steps_text: str) -> tuple[Any, ...]:
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

    async def _write(self, run: SagaRun, t: Transition, steps_text: str) -> None:
        if not await self._batch.update(self._row(run, t, steps_text)):
            raise _LeaseLostError()
        self._adopt(run, t)

    @staticmethod
    def _adopt(run: SagaRun, t: Transition) -> None:
        run.state = t.state
        run.step = t.step
        run.steps = t.steps


def _internal(run: SagaRun, error: BaseException) -> SagaParkedError:
    return SagaParkedError(
        run.id,
        f"unexpected {type(error).__name__} in step {run.step_name() or run.step}"
        f" ({run.state}): {error}",
    )


def _definition_changed(run: SagaRun) -> SagaDefinitionChangedError:
    count = len(run.steps) if isinstance(run.steps, list) else "?"
    return SagaDefinitionChangedError(
        run.id,
        f"the row has {count} step records at step {run.step}, but this worker's"
        f" {run.saga.name} has {len(run.saga.steps)} steps",
    )


def resolve(future: asyncio.Future[SagaOutcome], value: SagaOutcome | BaseException) -> None:
    if future.done():
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
        future.exception()  # nobody may be waiting: do not log "never retrieved"
    else:
        future.set_result(value)
