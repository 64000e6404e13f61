"""What happened during one experiment, in clock time: fault windows, calls and their
outcomes, and the policy events (breaker state, retries, fallbacks, alerts).

The runner fills it; reports draw it.

>>> t = Timeline(start=0.0)
>>> t.window(2.0, 5.0, "outage of kms.sign")
>>> t.call(2.5, 2.6, "error", "sign")
>>> t.end = 10.0
>>> t.to_json()["windows"]
[{'start': 2.0, 'end': 5.0, 'label': 'outage of kms.sign'}]

.. versionadded:: 0.1
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mitigate.observe.events import Event

__all__ = ["CallRecord", "EventRecord", "FaultWindow", "Status", "Timeline"]

Status = Literal["ok", "degraded", "error"]

# Events a timeline keeps (the rest, such as every attempt start, would drown the picture).
KEPT_EVENTS = frozenset(
    {
        "retry.scheduled",
        "retry.exhausted",
        "budget.exhausted",
        "breaker.opened",
        "breaker.half_opened",
        "breaker.closed",
        "breaker.rejected",
        "fallback.used",
        "timeout.fired",
        "bulkhead.full",
        "ratelimit.hit",
        "alert.raised",
        "fault.injected",
    }
)


@dataclass(frozen=True, slots=True)
class FaultWindow:
    start: float
    end: float | None
    label: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    start: float
    end: float
    status: Status
    name: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class EventRecord:
    at: float
    name: str
    target: str
    detail: str = ""


@dataclass(slots=True)
class Timeline:
    start: float
    end: float | None = None
    windows: list[FaultWindow] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)

    def window(self, start: float, end: float | None, label: str) -> None:
        self.windows.append(FaultWindow(start, end, label))

    def close_window(self, label: str, end: float) -> None:
        for i in range(len(self.windows) - 1, -1, -1):
            w = self.windows[i]
            if w.label == label and w.end is None:
                self.windows[i] = FaultWindow(w.start, end, w.label)
                return

    def call(
        self, start: float, end: float, status: Status, name: str = "", detail: str = ""
    ) -> None:
        self.calls.append(CallRecord(start, end, status, name, detail))

    def observe(self, event: Event) -> None:
        """An observer: keep the events a timeline shows."""
        if event.name in KEPT_EVENTS:
            self.events.append(EventRecord(event.at, event.name, event.target, _detail(event)))

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "windows": [asdict(w) for w in self.windows],
            "calls": [asdict(c) for c in self.calls],
            "events": [asdict(e) for e in self.events],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Timeline:
        return cls(
            start=data["start"],
            end=data.get("end"),
            windows=[FaultWindow(**w) for w in data.get("windows", [])],
            calls=[CallRecord(**c) for c in data.get("calls", [])],
            events=[EventRecord(**e) for e in data.get("events", [])],
        )


def _detail(event: Event) -> str:
    skip = {"name", "target", "at", "attempt", "severity", "error"}
    parts = [f"{k}={v}" for k, v in event.fields().items() if k not in skip and v not in ("", None)]
    if event.error is not None:
        parts.append(f"error={type(event.error).__name__}")
    return ", ".join(parts)
