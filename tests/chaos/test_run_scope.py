"""Inside a run, whatever the service builds joins the run: a fault reaches every policy
however it was looked up, and nothing built without a clock runs on real time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mitigate import (
    Breaker,
    Catalog,
    ConfigError,
    Pipeline,
    RealClock,
    Recorder,
    Retry,
    VirtualClock,
)
from mitigate.chaos import Failure, Outage, Run, experiment
from mitigate.chaos.experiment import ExperimentResult, spec_of
from mitigate.chaos.runner import Runner, Suite
from mitigate.clock import default_clock
from mitigate.runscope import current_scope

CATALOG = """\
service: svc
policies:
  dep.call:
    retry: {max: 2, backoff: "100ms"}
    breaker: {trip: "3 fail / 30s", reset: 10s}
"""


def _catalog(tmp_path: Path) -> Path:
    path = tmp_path / "svc.yaml"
    path.write_text(CATALOG)
    return path


def _run(fn: object, **kwargs: object) -> ExperimentResult:
    spec = spec_of(fn)
    assert spec is not None
    suite = Suite(service="svc", root=Path("."), experiments=[spec])
    return Runner(**kwargs).run_one(suite, spec)  # type: ignore[arg-type]


async def _fail() -> None:
    raise ConnectionError("should not be reached while the outage holds")


async def _ok() -> str:
    return "ok"


def test_a_fault_reaches_a_catalog_the_service_loaded_itself(tmp_path: Path) -> None:
    path = _catalog(tmp_path)
    seen: dict[str, object] = {}

    @experiment("svc.own-catalog", failure_modes=["svc.fm.1"])
    async def own_catalog(run: Run) -> None:
        catalog = Catalog.load(path)  # no clock, no observers: the service's own lookup
        pipeline = catalog.policy("dep.call")
        seen["clock"] = catalog.clock is run.clock and pipeline.clock is run.clock
        async with run.fault(Outage("dep.call"), duration=5):
            outcome = await run.call("call", pipeline.acall, _ok)
        run.expect("the outage reached the service's pipeline", not outcome.ok)
        await run.expect_event("breaker.opened", within=5)

    result = _run(own_catalog)
    assert result.verdict == "verified", result.reason
    assert seen["clock"] is True
    assert {"retry", "breaker"} <= set(result.mitigated_by)
    assert result.pipelines == ["dep.call"]


def test_a_fault_reaches_a_pipeline_built_in_code_with_its_own_observers() -> None:
    own = Recorder()

    @experiment("svc.in-code", failure_modes=["svc.fm.1"])
    async def in_code(run: Run) -> None:
        pipeline = Pipeline("dep.call", Retry(3, schedule=(0.5,)), observers=[own])
        run.expect("on the run's clock", pipeline.clock is run.clock)
        await run.inject(Failure("dep.call", times=2), duration=60)
        outcome = await run.call("call", pipeline.acall, _ok)
        await run.expect_event("retry.scheduled", target="dep.call", within=5)
        run.expect("retried through the injected failures", outcome.value == "ok")
        run.expect("two retries", run.recorder.count("retry.scheduled") == 2)
        run.expect("the service's observer saw them too", own.count("retry.scheduled") == 2)

    result = _run(in_code)
    assert result.verdict == "verified", result.reason
    assert result.clock == "virtual"


def test_the_run_reaches_tasks_and_threads_started_in_it() -> None:
    @experiment("svc.threads")
    async def threads(run: Run) -> None:
        built_in_thread = await asyncio.to_thread(lambda: Pipeline("dep.call").clock)
        built_in_task = await asyncio.create_task(asyncio.sleep(0, Pipeline("dep.call").clock))
        run.expect("thread", built_in_thread is run.clock)
        run.expect("task", built_in_task is run.clock)

    result = _run(threads)
    assert result.verdict == "verified", result.reason


def test_the_mutation_check_removes_a_self_loaded_catalog_policy(tmp_path: Path) -> None:
    path = _catalog(tmp_path)

    @experiment("svc.mutated", failure_modes=["svc.fm.1"])
    async def mutated(run: Run) -> None:
        pipeline = Catalog.load(path).policy("dep.call")
        run.detected("a probe")
        run.expect("the breaker is there", bool(pipeline.strategies))

    spec = spec_of(mutated)
    assert spec is not None
    suite = Suite(service="svc", root=Path("."), experiments=[spec])
    assert Runner().run_one(suite, spec).verdict == "verified"
    without = Runner().run_one(suite, spec, passthrough=frozenset({"dep.call"}))
    assert without.verdict == "failed" and without.mutation == "dep.call"


def test_a_component_without_a_clock_takes_the_run_clock() -> None:
    @experiment("svc.defaults")
    async def defaults(run: Run) -> None:
        run.expect("default_clock is the run's", default_clock() is run.clock)
        catalog = Catalog.from_text("service: svc\n")
        run.expect("a catalog's clock and detector", catalog.clock is run.clock)
        clock = Pipeline("dep.call").clock
        run.require("a pipeline's clock is the run's", clock is run.clock)
        start = run.clock.now()
        await clock.asleep(3600)  # an hour, in virtual time
        run.expect("virtual time moved", run.clock.now() - start == 3600)

    result = _run(defaults)
    assert result.verdict == "verified", result.reason


def test_real_time_in_a_virtual_run_fails_loudly() -> None:
    captured = RealClock()  # built outside any run: allowed

    @experiment("svc.real-clock")
    async def real_clock(run: Run) -> None:
        RealClock()

    @experiment("svc.real-clock-passed")
    async def passed(run: Run) -> None:
        Pipeline("dep.call", Breaker(3, 30, 10), clock=captured)

    @experiment("svc.real-clock-catalog")
    async def catalog(run: Run) -> None:
        Catalog.from_text("service: svc\n", clock=captured)

    for fn, where in ((real_clock, "RealClock()"), (passed, "dep.call"), (catalog, "svc")):
        result = _run(fn)
        assert result.verdict == "error"
        assert "[MITIGATE.CONFIG.REAL_CLOCK]" in result.reason and where in result.reason


def test_a_real_time_run_may_use_the_real_clock() -> None:
    @experiment("svc.real")
    async def real(run: Run) -> None:
        run.expect("real clock allowed", isinstance(RealClock(), RealClock))
        run.expect("default is the run's", default_clock() is run.clock)

    result = _run(real, real_time=True)
    assert result.verdict == "verified", result.reason


def test_outside_a_run_nothing_changes_and_nothing_is_read_per_call() -> None:
    assert current_scope() is None
    assert isinstance(default_clock(), RealClock)
    outside = Pipeline("dep.call", Retry(1, schedule=(0,)), clock=VirtualClock())
    assert outside.injector is None and not outside.observers

    @experiment("svc.outside")
    async def uses_outside(run: Run) -> None:
        # Built before the run: the run's fault does not reach it (looked up at build
        # time, never per call), which is why services build inside the run.
        async with run.fault(Outage("dep.call"), duration=1):
            outcome = await run.call("call", outside.acall, _ok)
        run.expect("untouched", outcome.value == "ok")

    assert _run(uses_outside).verdict == "verified"
    assert current_scope() is None
    assert outside.injector is None


def test_an_explicit_injector_wins() -> None:
    from mitigate.chaos import FaultInjector

    @experiment("svc.explicit")
    async def explicit(run: Run) -> None:
        mine = FaultInjector(clock=run.clock)
        pipeline = Pipeline("dep.call", injector=mine)
        run.expect("its own injector", pipeline.injector is mine)
        run.expect("others get the run's", Pipeline("other").injector is run.injector)

    assert _run(explicit).verdict == "verified"


def test_config_error_code_is_documented() -> None:
    with pytest.raises(ConfigError) as info:
        from mitigate.runscope import RunScope, run_scope

        with run_scope(RunScope(clock=VirtualClock(), virtual=True)):
            RealClock()
    assert info.value.code == "MITIGATE.CONFIG.REAL_CLOCK"
    text = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    assert "MITIGATE.CONFIG.REAL_CLOCK" in text


def test_a_fault_reaches_a_bus_built_inside_the_run(tmp_path: Path) -> None:
    from mitigate import InprocBus, Message, SqliteStore

    @experiment("svc.bus")
    async def bus_publish(run: Run) -> None:
        store = await SqliteStore.open(tmp_path / "bus.db")  # no clock: the run's
        run.rollback(store.aclose)
        bus = InprocBus(store)  # no injector, no observers: the run's
        run.expect("the store is on the run's clock", store.clock is run.clock)
        async with run.fault(Failure("bus.publish", times=1)):
            outcome = await run.call("publish", bus.publish, Message("a.b", b"x", id="m1"))
        run.expect("the publish fault acted", not outcome.ok)
        run.expect("the run saw it", run.recorder.count("fault.injected") == 1)

    result = _run(bus_publish)
    assert result.verdict == "verified", result.reason
