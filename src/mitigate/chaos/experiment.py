"""Experiments declared in Python, and the result every experiment ends with.

A service's ``experiments.py`` (next to its ``catalog.yaml``) marks coroutine functions
with :func:`experiment`; the runner finds them by id. An id that is also an entry of the
catalog's ``experiments`` takes its title, fault and failure modes from there.

>>> @experiment("shop.fm.1", failure_modes=["shop.fm.1"], title="Gateway down")
... async def gateway_down(run):
...     pass
>>> spec = spec_of(gateway_down)
>>> spec.id, spec.kind, spec.failure_modes
('shop.fm.1', 'failure_mode', ('shop.fm.1',))

A module may also give one :func:`workload`: a coroutine doing one unit of the
service's work, which the catalog's declarative experiments drive while their fault is
attached (see ``docs/verify.md``).

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from mitigate.chaos.probes import Check
from mitigate.chaos.timeline import Timeline

if TYPE_CHECKING:
    from mitigate.chaos.run import Run

__all__ = [
    "ExperimentFn",
    "ExperimentResult",
    "ExperimentSpec",
    "Kind",
    "Verdict",
    "WorkloadFn",
    "experiment",
    "spec_of",
    "workload",
    "workload_of",
]

Kind = Literal["failure_mode", "principle", "chaos"]
Verdict = Literal["verified", "failed", "untested", "error"]
ExperimentFn = Callable[["Run"], Awaitable[None]]
WorkloadFn = Callable[["Run", int], Awaitable[None]]
F = TypeVar("F", bound=Callable[..., Any])

_SPEC_ATTR = "__mitigate_experiment__"
_WORKLOAD_ATTR = "__mitigate_workload__"


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """What the runner needs to know about an experiment before running it."""

    id: str
    title: str = ""
    failure_modes: tuple[str, ...] = ()
    fault: str = ""
    """How the fault reads in a report (``outage of payments.charge for 30s``)."""
    fn: ExperimentFn | None = field(default=None, compare=False, repr=False)
    principles: tuple[str, ...] = ()
    """Principles of the catalog this experiment proves (``edge.principle.1``)."""

    @property
    def kind(self) -> Kind:
        if self.failure_modes:
            return "failure_mode"
        return "principle" if self.principles else "chaos"


def experiment(
    id: str,
    *,
    title: str = "",
    failure_modes: Iterable[str] = (),
    fault: str = "",
    principles: Iterable[str] = (),
) -> Callable[[F], F]:
    """Mark a coroutine function ``async def name(run: Run) -> None`` as the experiment
    ``id``. It passes when it returns with every recorded check passed."""

    def mark(fn: F) -> F:
        spec = ExperimentSpec(
            id,
            title or (fn.__doc__ or "").strip().split("\n")[0],
            tuple(failure_modes),
            fault,
            fn,
            tuple(principles),
        )
        setattr(fn, _SPEC_ATTR, spec)
        return fn

    return mark


def spec_of(obj: object) -> ExperimentSpec | None:
    """The spec :func:`experiment` attached to ``obj``, if any."""
    spec = getattr(obj, _SPEC_ATTR, None)
    return spec if isinstance(spec, ExperimentSpec) else None


def workload(fn: F) -> F:
    """Mark ``async def name(run: Run, i: int) -> None`` as the service's unit of work."""
    setattr(fn, _WORKLOAD_ATTR, True)
    return fn


def workload_of(obj: object) -> bool:
    return getattr(obj, _WORKLOAD_ATTR, False) is True


@dataclass(slots=True)
class ExperimentResult:
    """The verdict of one experiment and the measurements behind it."""

    service: str
    id: str
    title: str
    kind: Kind
    verdict: Verdict
    failure_modes: tuple[str, ...] = ()
    fault: str = ""
    reason: str = ""
    principles: tuple[str, ...] = ()
    """Principles of the catalog the row proves."""
    detected_s: float | None = None
    detected_by: list[str] = field(default_factory=list)
    """Ids of the detection rules that fired during the run."""
    recovered_s: float | None = None
    lost: int | None = None
    duplicated: int | None = None
    mitigated_by: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    timeline: Timeline | None = None
    rollbacks: int = 0
    clock: str = "virtual"
    mutation: str | None = None
    """Under ``--mutate``: the policy replaced by a pass-through for this run."""
    traceback: str = ""
    pipelines: list[str] = field(default_factory=list)
    """Targets whose pipelines the experiment used."""
    switches: list[str] = field(default_factory=list)
    """Switches the service consulted during the run (``run.switches.enabled``)."""
    backend: str = "embedded"
    """The backends the run used (``mitigate verify --backend``)."""
    source: str = ""
    """Where the row comes from: the catalog entry's ``source`` (a seed line), else the
    catalog's own ``source``."""
    elapsed_s: float | None = None
    """Machine time the run took (not virtual time), for progress and the journal."""

    def why(self) -> str:
        """One line saying why the verdict is what it is.

        >>> r = ExperimentResult("s", "s.fm.1", "t", "chaos", "verified", detected_s=1.5,
        ...                      detected_by=["s.rule.x"], mitigated_by=["retry"])
        >>> r.checks = [Check("holds", True, "during", 0.0)]
        >>> r.why()
        'detected by s.rule.x in 1.5s; mitigated by retry; 1 check held'
        """
        if self.verdict != "verified":
            return self.reason or self.verdict
        parts = []
        if self.detected_by:
            parts.append(f"detected by {', '.join(self.detected_by)}")
        if self.detected_s is not None:
            parts[-1:] = [
                (parts[-1] + " in " if parts else "detected in ") + _secs(self.detected_s)
            ]
        if self.mitigated_by:
            parts.append(f"mitigated by {', '.join(self.mitigated_by)}")
        held = len(self.checks)
        parts.append(f"{held} check{'s' if held != 1 else ''} held")
        return "; ".join(parts)

    def short_why(self) -> str:
        """:meth:`why` for an 80-column table: the first detection rule (without the
        service's prefix) and how many more, the delay, the mitigations.

        >>> r = ExperimentResult("s", "s.fm.1", "t", "chaos", "verified", detected_s=325.0,
        ...                      detected_by=["s.rule.x", "s.alert.y"], mitigated_by=["retry"])
        >>> r.short_why()
        'rule.x +1 in 325s; retry'
        """
        if self.verdict != "verified" or not (self.detected_by or self.detected_s is not None):
            return self.why()
        said = "detected"
        if self.detected_by:
            first = self.detected_by[0].removeprefix(f"{self.service}.")
            more = len(self.detected_by) - 1
            said = first + (f" +{more}" if more else "")
        if self.detected_s is not None:
            said += f" in {_secs(self.detected_s)}"
        return "; ".join([said, *([", ".join(self.mitigated_by)] if self.mitigated_by else [])])

    def summary(self) -> dict[str, Any]:
        """The machine-readable row of ``mitigate verify --json``."""
        return {
            "service": self.service,
            "id": self.id,
            "kind": self.kind,
            "verdict": self.verdict,
            "why": self.why(),
            "detected_s": _round(self.detected_s),
            "recovered_s": _round(self.recovered_s),
            "lost": self.lost,
            "duplicated": self.duplicated,
        }

    def to_json(self) -> dict[str, Any]:
        start = self.timeline.start if self.timeline is not None else 0.0
        out = self.summary()
        out.update(
            title=self.title,
            failure_modes=list(self.failure_modes),
            principles=list(self.principles),
            fault=self.fault,
            reason=self.reason,
            mitigated_by=self.mitigated_by,
            detected_by=self.detected_by,
            checks=[
                {
                    "name": c.name,
                    "passed": c.passed,
                    "phase": c.phase,
                    "at": _round(c.at),
                    "after_s": _round(c.at - start),
                    "detail": c.detail,
                }
                for c in self.checks
            ],
            timeline=self.timeline.to_json() if self.timeline is not None else None,
            rollbacks=self.rollbacks,
            clock=self.clock,
            mutation=self.mutation,
            pipelines=self.pipelines,
            switches=self.switches,
            backend=self.backend,
            source=self.source,
            elapsed_s=_round(self.elapsed_s, 3),
        )
        return out

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> ExperimentResult:
        """A result read back from a journal row (``mitigate report JOURNAL``)."""
        timeline = row.get("timeline")
        return cls(
            service=row["service"],
            id=row["id"],
            title=row.get("title", ""),
            kind=row.get("kind", "chaos"),
            verdict=row["verdict"],
            failure_modes=tuple(row.get("failure_modes", ())),
            fault=row.get("fault", ""),
            reason=row.get("reason", ""),
            principles=tuple(row.get("principles", ())),
            detected_s=row.get("detected_s"),
            detected_by=list(row.get("detected_by", [])),
            recovered_s=row.get("recovered_s"),
            lost=row.get("lost"),
            duplicated=row.get("duplicated"),
            mitigated_by=list(row.get("mitigated_by", [])),
            checks=[
                Check(c["name"], c["passed"], c["phase"], c["at"], c.get("detail", ""))
                for c in row.get("checks", [])
            ],
            timeline=Timeline.from_json(timeline) if timeline else None,
            rollbacks=row.get("rollbacks", 0),
            clock=row.get("clock", "virtual"),
            mutation=row.get("mutation"),
            pipelines=list(row.get("pipelines", [])),
            switches=list(row.get("switches", [])),
            backend=row.get("backend", "embedded"),
            source=row.get("source", ""),
            elapsed_s=row.get("elapsed_s"),
        )


# Virtual time is exact to the microsecond; nothing finer is meaningful in a journal.
RESOLUTION_DIGITS = 6


def _round(value: float | None, digits: int = RESOLUTION_DIGITS) -> float | None:
    return None if value is None else round(value, digits)


def _secs(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.3g}s"
