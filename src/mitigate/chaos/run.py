"""The handle an experiment works through: policies, faults, probes, ledger, rollbacks.

An experiment reads like the failure it stages::

    @experiment("shop.fm.1", failure_modes=["shop.fm.1"])
    async def gateway_down(run: Run) -> None:
        shop = Shop(run.policy)                       # the service, on the catalog's policies
        run.rollback(shop.close)                      # always runs, even on error or Ctrl-C
        await run.steady("checkout works", lambda: shop.checkout_ok())
        async with run.fault(Outage("payments.charge"), duration=30):
            for i in range(30):
                await run.call("checkout", shop.checkout, i)
                await run.wait(1)
        await run.expect_event("breaker.opened", within=5)
        await run.recovered("charges go through", shop.charge_ok, within=90)
        run.expect_no_loss()

Probes before the first fault are the steady state (a failure stops the experiment);
probes inside a fault window run ``during`` it, later ones ``after``. Times are measured
on the run's clock: virtual by default, the real clock under ``--real-time``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mitigate.chaos.experiment import ExperimentSpec
from mitigate.chaos.faults import Fault
from mitigate.chaos.injector import FaultInjector
from mitigate.chaos.probes import Check, Ledger, Phase, ProbeFailedError, SteadyStateError
from mitigate.chaos.timeline import Status, Timeline
from mitigate.clock import Clock
from mitigate.observe.observers import Recorder
from mitigate.switches import Switches

__all__ = ["Outcome", "Run"]

# Events that show the system noticed the failure (detection) and that a policy acted on
# it (mitigation), by the mechanism a report names.
DETECTION_EVENTS = ("alert.raised", "breaker.opened")
MITIGATION_EVENTS = {
    "retry.scheduled": "retry",
    "breaker.opened": "breaker",
    "breaker.rejected": "breaker",
    "fallback.used": "fallback",
    "timeout.fired": "timeout",
    "bulkhead.full": "bulkhead",
    "ratelimit.hit": "rate limit",
}

Check_ = Callable[[], bool | Awaitable[bool]]


class Outcome:
    """How one call of the workload ended, as the caller saw it."""

    __slots__ = ("error", "status", "value")

    def __init__(self, status: Status, value: Any = None, error: BaseException | None = None):
        self.status = status
        self.value = value
        self.error = error

    @property
    def ok(self) -> bool:
        return self.status != "error"

    def __repr__(self) -> str:
        return f"Outcome({self.status!r})"


class Run:
    """One run of one experiment. Built by the runner; experiments only use it."""

    def __init__(
        self,
        spec: ExperimentSpec,
        *,
        clock: Clock,
        policy: Callable[..., Any],
        injector: FaultInjector,
        recorder: Recorder,
        timeline: Timeline,
        catalog: Any = None,
        entry: Any = None,
        service: str = "",
        switches: Switches | None = None,
        backend: str = "embedded",
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.injector = injector
        self.recorder = recorder
        self.timeline = timeline
        self.catalog = catalog
        self.entry = entry
        """The catalog's ``experiments`` entry with this id, when there is one."""
        self.service = service
        self.switches = switches if switches is not None else Switches()
        """The run's switches: give them to the service, so ``--mutate`` can turn its
        guards, dedupes and compensations off (``switches.enabled(id)``)."""
        self.backend = backend
        """``"embedded"`` or the backends ``mitigate verify --backend`` named
        (``"postgres+nats+redis"``): build the service's settings from it."""
        self.ledger = Ledger()
        self.checks: list[Check] = []
        self.detected_s: float | None = None
        self.detections: list[str] = []
        """What :meth:`detected` recorded, in order."""
        self.recovered_s: float | None = None
        self.mitigations: set[str] = set()
        self._policy = policy
        self._rollbacks: list[Callable[[], Any]] = []
        self.rollbacks_run = 0
        self.pipelines: dict[str, Any] = {}
        """Pipelines built in this run by target (what ``--mutate`` may remove)."""
        self.context: dict[str, Any] = {}
        """Scratch space an experiments module keeps per run (the service under test)."""

    # -- the service's side ------------------------------------------------------------
    def uses(self, backend: str) -> bool:
        """Whether this run is on ``backend`` (``"postgres"``, ``"nats"``, ``"redis"``,
        ``"s3"``, or ``"embedded"``)."""
        return backend in self.backend.split("+")

    def policy(self, name: str) -> Any:
        """The pipeline for ``name``: the catalog's, with this run's clock, recorder and
        fault injector (a pass-through when the mutation check removed it)."""
        return self._policy(name)

    def pipeline(self, name: str, *strategies: Any) -> Any:
        """A pipeline built in code for ``name`` from ``strategies`` (outermost first), on
        this run's clock, recorder and injector; ``--mutate`` may drop its strategies."""
        return self._policy(name, *strategies)

    @property
    def observers(self) -> list[Any]:
        """The run's observers, for code that builds its own pipelines or detectors."""
        return [self.recorder, self.timeline.observe]

    def rollback(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Register ``fn`` (sync or async) to run when the experiment ends, however it
        ends; rollbacks run last-registered first."""
        self._rollbacks.append(fn)
        return fn

    async def run_rollbacks(self) -> list[BaseException]:
        """Run every rollback once, even if some fail or the task is cancelled meanwhile;
        returns what they raised."""
        errors: list[BaseException] = []
        self.injector.clear()
        while self._rollbacks:
            fn = self._rollbacks.pop()
            try:
                result = fn()
                if inspect.isawaitable(result):
                    await result
            except BaseException as exc:
                errors.append(exc)
            self.rollbacks_run += 1
        return errors

    # -- faults ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def fault(self, fault: Fault, *, duration: float | None = None) -> AsyncIterator[Fault]:
        """Attach ``fault`` for the block; with ``duration`` the block also lasts at least
        that long (the window stays open until then). Removed even when the block raises."""
        start = self.clock.now()
        label = fault.describe()
        self.timeline.window(start, None, label)
        self.injector.add(fault)
        try:
            yield fault
            if duration is not None:
                left = start + duration - self.clock.now()
                if left > 0:
                    await self.clock.asleep(left)
        finally:
            self.injector.remove(fault)
            self.timeline.close_window(label, self.clock.now())

    async def inject(self, fault: Fault, *, duration: float) -> None:
        """Attach ``fault`` for ``duration`` seconds in the background, returning at once."""
        ready = asyncio.Event()

        async def hold() -> None:
            async with self.fault(fault, duration=duration):
                ready.set()

        task = asyncio.get_running_loop().create_task(hold())
        self.rollback(task.cancel)
        await ready.wait()

    def fault_started(self) -> float | None:
        return self.timeline.windows[0].start if self.timeline.windows else None

    def fault_ended(self) -> float | None:
        ends = [w.end for w in self.timeline.windows if w.end is not None]
        if not ends or any(w.end is None for w in self.timeline.windows):
            return None
        return max(ends)

    # -- the workload ------------------------------------------------------------------
    async def call(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
        """Call ``fn`` as a client would and record how it ended: ``ok``, ``degraded``
        (a fallback answered) or ``error``. Never raises what ``fn`` raises."""
        start = self.clock.now()
        fallbacks = self.recorder.count("fallback.used")
        try:
            value = fn(*args, **kwargs)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            self.timeline.call(start, self.clock.now(), "error", name, type(exc).__name__)
            return Outcome("error", error=exc)
        status: Status = "degraded" if self.recorder.count("fallback.used") > fallbacks else "ok"
        self.timeline.call(start, self.clock.now(), status, name)
        return Outcome(status, value)

    async def wait(self, seconds: float) -> None:
        await self.clock.asleep(seconds)

    # -- probes ------------------------------------------------------------------------
    def phase(self) -> Phase:
        if not self.timeline.windows:
            return "steady"
        if any(w.end is None for w in self.timeline.windows):
            return "during"
        return "after"

    def expect(self, name: str, condition: bool, detail: str = "") -> bool:
        """Record a probe that must hold now; returns it (the run goes on either way)."""
        self.checks.append(Check(name, bool(condition), self.phase(), self.clock.now(), detail))
        return bool(condition)

    async def steady(self, name: str, check: Check_ | bool) -> None:
        """A steady-state probe: it must hold before any fault, or the experiment stops."""
        ok = check if isinstance(check, bool) else await _evaluate(check)
        self.checks.append(Check(name, ok, "steady", self.clock.now()))
        if not ok:
            raise SteadyStateError(f"steady state does not hold: {name}")

    async def expect_event(
        self, name: str, *, within: float, target: str | None = None, detection: bool = True
    ) -> float | None:
        """Probe that an event ``name`` is seen within ``within`` seconds of the first
        fault's start; waits for it on the clock if needed. The delay becomes the
        experiment's "detected in" when ``detection`` is true."""
        origin = self.fault_started()
        origin = self.clock.now() if origin is None else origin
        deadline = origin + within
        while True:
            seen = [e for e in self.recorder.named(name, target) if e.at >= origin]
            if seen:
                delay = seen[0].at - origin
                if detection and (self.detected_s is None or delay < self.detected_s):
                    self.detected_s = delay
                ok = delay <= within
                self.expect(f"{name} within {within:g}s", ok, f"seen after {delay:.3g}s")
                return delay
            if self.clock.now() >= deadline:
                self.expect(f"{name} within {within:g}s", False, "never seen")
                return None
            await self.clock.asleep(min(0.1, deadline - self.clock.now()))

    async def recovered(
        self, name: str, check: Check_, *, within: float, every: float = 0.1
    ) -> float | None:
        """Probe that ``check`` holds again within ``within`` seconds of the last fault's
        end (polling every ``every`` seconds); the delay is the "recovered in"."""
        origin = self.fault_ended()
        origin = self.clock.now() if origin is None else origin
        deadline = origin + within
        while True:
            if await _evaluate(check):
                delay = max(0.0, self.clock.now() - origin)
                self.recovered_s = (
                    delay if self.recovered_s is None else max(self.recovered_s, delay)
                )
                self.expect(f"{name} within {within:g}s", True, f"after {delay:.3g}s")
                return delay
            if self.clock.now() >= deadline:
                self.expect(f"{name} within {within:g}s", False, "did not recover")
                return None
            await self.clock.asleep(min(every, max(deadline - self.clock.now(), 0.0)) or every)

    def expect_no_loss(self) -> None:
        """Probe the ledger: everything sent arrived, nothing arrived twice."""
        self.expect("nothing lost", self.ledger.lost == 0, f"lost {self.ledger.lost}")
        self.expect(
            "nothing duplicated",
            self.ledger.duplicated == 0,
            f"duplicated {self.ledger.duplicated}",
        )

    def mitigated(self, mechanism: str) -> None:
        """Name a mitigation the events cannot show (``outbox re-send``) for the report."""
        self.mitigations.add(mechanism)

    def detected(self, what: str) -> None:
        """Record that the failure was detected by ``what`` (a log line, a 403 the client
        saw), now: for a failure mode whose catalog entry names no detection rule, a row
        is verified only when its detection was observed (this, :meth:`expect_event`, an
        alert or a breaker opening after the fault)."""
        origin = self.fault_started()
        delay = max(0.0, self.clock.now() - (self.clock.now() if origin is None else origin))
        if self.detected_s is None or delay < self.detected_s:
            self.detected_s = delay
        self.detections.append(what)

    def require(self, name: str, condition: bool, detail: str = "") -> None:
        """Like :meth:`expect`, but stop the experiment when it does not hold."""
        if not self.expect(name, condition, detail):
            raise ProbeFailedError(f"{name}: {detail}" if detail else name)

    # -- what the report reads -----------------------------------------------------------
    def mitigated_by(self) -> list[str]:
        found = set(self.mitigations)
        for event_name, mechanism in MITIGATION_EVENTS.items():
            if self.recorder.count(event_name):
                found.add(mechanism)
        return sorted(found)

    def detection_delay(self) -> float | None:
        if self.detected_s is not None:
            return self.detected_s
        origin = self.fault_started()
        if origin is None:
            return None
        times = [
            e.at - origin
            for n in DETECTION_EVENTS
            for e in self.recorder.named(n)
            if e.at >= origin
        ]
        return min(times) if times else None


async def _evaluate(check: Check_) -> bool:
    value = check()
    if inspect.isawaitable(value):
        value = await value
    return bool(value)
