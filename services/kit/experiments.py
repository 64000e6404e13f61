"""What every service's experiment harness needs from a run (``mitigate.chaos.Run``):
the service's runtime on the run's clock, policies, switches, observers and injector, and
the recorder's events since a moment."""

from __future__ import annotations

from typing import Any

from .runtime import AllOn, Runtime

__all__ = ["alerts", "events_since", "observers_for", "run_runtime"]


def observers_for(run: Any) -> list[Any]:
    """The run's observers and its catalog's detector: what the service itself emits
    (saga.stuck, its own events) reaches the detection rules, as in production."""
    catalog = getattr(run, "catalog", None)
    return [*run.observers, *([catalog.detector] if catalog is not None else [])]


async def run_runtime(run: Any, settings: Any, *, policy: Any = None) -> Runtime:
    """The service's runtime for this run: ``--mutate`` reaches its policies and switches,
    faults its pipelines, and its events the run's recorder. ``policy`` replaces the
    run's pipelines (a second worker process has breakers of its own)."""
    return await Runtime.open(
        settings,
        clock=run.clock,
        policy=policy or run.policy,
        switches=getattr(run, "switches", None) or AllOn(),
        observers=observers_for(run),
        injector=run.injector,
    )


def events_since(run: Any, name: str, target: str, since: float) -> list[Any]:
    """The recorder's ``name`` events of ``target`` at or after ``since``."""
    return [e for e in run.recorder.named(name, target) if e.at >= since]


def alerts(run: Any, rule: str) -> list[Any]:
    """The ``alert.raised`` events of one detection rule in this run."""
    return [e for e in run.recorder.named("alert.raised") if getattr(e, "rule", "") == rule]
