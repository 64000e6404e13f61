"""Experiments on the runner: rollbacks always run; probes before, during and after."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mitigate import AlertRaised, ConfigError
from mitigate.chaos import Failure, Outage, Run, experiment
from mitigate.chaos.experiment import ExperimentSpec, spec_of
from mitigate.chaos.runner import Runner, Suite, discover


def _suite(*fns: object) -> Suite:
    specs = [spec_of(fn) for fn in fns]
    return Suite(service="unit", root=Path("."), experiments=[s for s in specs if s])


def _run(fn: object) -> tuple[Runner, object]:
    spec = spec_of(fn)
    assert spec is not None
    return Runner(), spec


def test_rollbacks_run_when_the_experiment_raises_mid_way() -> None:
    undone: list[str] = []

    @experiment("unit.raises")
    async def raises(run: Run) -> None:
        run.rollback(lambda: undone.append("sync"))

        async def async_undo() -> None:
            await run.clock.asleep(1)
            undone.append("async")

        run.rollback(async_undo)
        run.injector.add(Failure("a.b"))
        await run.wait(5)
        raise RuntimeError("the experiment broke half-way")

    result = Runner().run_one(_suite(raises), spec_of(raises))  # type: ignore[arg-type]
    assert undone == ["async", "sync"]  # last registered first
    assert result.verdict == "error"
    assert "RuntimeError: the experiment broke half-way" in result.reason
    assert result.rollbacks == 2


def test_a_failing_rollback_does_not_stop_the_others() -> None:
    undone: list[str] = []

    @experiment("unit.bad_rollback")
    async def bad_rollback(run: Run) -> None:
        run.rollback(lambda: undone.append("first"))
        run.rollback(lambda: 1 / 0)
        run.expect("holds", True)

    result = Runner().run_one(_suite(bad_rollback), spec_of(bad_rollback))  # type: ignore[arg-type]
    assert undone == ["first"]
    assert result.verdict == "error"
    assert "rollback failed: ZeroDivisionError" in result.reason


def test_rollbacks_run_on_keyboard_interrupt_and_it_propagates() -> None:
    undone: list[str] = []

    @experiment("unit.interrupt")
    async def interrupted(run: Run) -> None:
        run.rollback(lambda: undone.append("restored"))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Runner().run_one(_suite(interrupted), spec_of(interrupted))  # type: ignore[arg-type]
    assert undone == ["restored"]


async def test_rollbacks_run_when_the_experiment_is_cancelled() -> None:
    undone: list[str] = []
    started = asyncio.Event()

    @experiment("unit.cancelled")
    async def cancelled(run: Run) -> None:
        async def undo() -> None:
            await asyncio.sleep(0)  # a rollback may await even while cancelling
            undone.append("restored")

        run.rollback(undo)
        started.set()
        await asyncio.Event().wait()

    spec = spec_of(cancelled)
    assert spec is not None
    task = asyncio.create_task(Runner(real_time=True).arun_one(_suite(cancelled), spec))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert undone == ["restored"]


def test_steady_state_failure_stops_before_any_fault() -> None:
    @experiment("unit.unsteady")
    async def unsteady(run: Run) -> None:
        await run.steady("service healthy", lambda: False)
        async with run.fault(Outage("a.b"), duration=10):
            pass

    result = Runner().run_one(_suite(unsteady), spec_of(unsteady))  # type: ignore[arg-type]
    assert result.verdict == "failed"
    assert "steady state does not hold: service healthy" in result.reason
    assert result.timeline is not None and result.timeline.windows == []


def test_an_experiment_that_checks_nothing_is_an_error() -> None:
    @experiment("unit.empty")
    async def empty(run: Run) -> None:
        await run.wait(1)

    result = Runner().run_one(_suite(empty), spec_of(empty))  # type: ignore[arg-type]
    assert result.verdict == "error"
    assert "checked nothing" in result.reason


def test_probes_before_during_after_with_detection_and_recovery() -> None:
    state = {"up": True}

    @experiment("unit.phases", failure_modes=["unit.fm.1"])
    async def phases(run: Run) -> None:
        await run.steady("up before", lambda: state["up"])
        async with run.fault(Outage("dep.call"), duration=30):
            state["up"] = False
            await run.wait(4)
            run.recorder(AlertRaised(target="dep.call", at=run.clock.now(), rule="dep-down"))
            run.expect("down during", not state["up"])
            await run.wait(1)
        await run.expect_event("alert.raised", within=5)
        run.rollback(lambda: state.update(up=True))

        async def heal() -> None:
            await run.clock.asleep(7)
            state["up"] = True

        healing = asyncio.create_task(heal())
        await run.recovered("up again", lambda: state["up"], within=10)
        await healing

    result = Runner().run_one(_suite(phases), spec_of(phases))  # type: ignore[arg-type]
    assert result.verdict == "verified", result.reason
    assert [c.phase for c in result.checks] == ["steady", "during", "after", "after"]
    assert result.detected_s == 4.0
    assert result.recovered_s == pytest.approx(7.0, abs=0.11)
    assert result.kind == "failure_mode"
    assert result.timeline is not None and result.timeline.windows[0].end == 30.0


def test_a_missed_detection_fails_the_experiment() -> None:
    @experiment("unit.undetected")
    async def undetected(run: Run) -> None:
        async with run.fault(Outage("dep.call"), duration=10):
            pass
        await run.expect_event("alert.raised", within=5)

    result = Runner().run_one(_suite(undetected), spec_of(undetected))  # type: ignore[arg-type]
    assert result.verdict == "failed"
    assert "alert.raised within 5s: never seen" in result.reason


def test_ledger_measures_loss_and_duplicates() -> None:
    @experiment("unit.ledger")
    async def ledger(run: Run) -> None:
        for key in range(10):
            run.ledger.sent(key)
        for key in [*range(8), 3]:
            run.ledger.received(key)
        run.expect_no_loss()

    result = Runner().run_one(_suite(ledger), spec_of(ledger))  # type: ignore[arg-type]
    assert (result.lost, result.duplicated, result.verdict) == (2, 1, "failed")


def test_uncovered_failure_modes_are_reported_unverified() -> None:
    @experiment("unit.ok", failure_modes=["unit.fm.1"])
    async def ok(run: Run) -> None:
        run.detected("the probe saw it")
        run.expect("fine", True)

    suite = _suite(ok)
    suite.failure_modes = {"unit.fm.1": "covered", "unit.fm.2": "nobody tests me"}
    suite.covers = {"unit.fm.1": ["unit.ok"]}
    results = Runner().run_suite(suite)
    verdicts = {r.id: (r.kind, r.verdict) for r in results}
    assert verdicts == {
        "unit.ok": ("failure_mode", "verified"),
        "unit.fm.2": ("failure_mode", "untested"),
    }
    assert results[1].reason == "no experiment names this failure mode"


def test_spec_without_function_reports_why() -> None:
    suite = Suite(service="unit", root=Path("."), problems={"unit.x": "no @workload"})
    result = Runner().run_one(suite, ExperimentSpec("unit.x"))
    assert (result.verdict, result.reason) == ("error", "no @workload")


def test_discover_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        discover([tmp_path / "missing"])
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ConfigError, match=r"not a catalog\.yaml"):
        discover([tmp_path / "notes.txt"])
    with pytest.raises(ConfigError, match=r"no catalog\.yaml or experiments module"):
        discover([tmp_path])
    with pytest.raises(ConfigError, match="no service found"):
        discover([], cwd=tmp_path)


def test_discover_finds_a_python_only_service(tmp_path: Path) -> None:
    service = tmp_path / "examples" / "tiny"
    service.mkdir(parents=True)
    (service / "experiments.py").write_text(
        "from mitigate.chaos import experiment\n"
        "@experiment('tiny.1', failure_modes=['tiny.fm.1'])\n"
        "async def one(run):\n"
        "    run.detected('a probe')\n"
        "    run.expect('holds', True)\n"
    )
    suites = discover([], cwd=tmp_path)
    assert [(s.service, [e.id for e in s.experiments]) for s in suites] == [("tiny", ["tiny.1"])]
    assert suites[0].covers == {"tiny.fm.1": ["tiny.1"]}
    assert Runner().run_suite(suites[0])[0].verdict == "verified"
