"""The failure audit (principle 2, "no silent failures"): every failure path of the
service leaves a structured log record, a metric increment and its event.

``report(runtime, event)`` is how the service emits a failure event: the event goes to the
observers (the catalog's detection rules), a record to the ``services.theme.failures`` log
(the event's name and fields as ``extra``) and one to ``theme_failures_total{event}``.
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from typing import Any

from prometheus_client import CollectorRegistry, Counter

__all__ = ["FAILURES", "report"]

FAILURES = "theme_failures_total"
SWITCH = "theme.switch.failure-audit"
log = logging.getLogger("services.theme.failures")
_counters: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def _counter(registry: CollectorRegistry) -> Counter:
    found = _counters.get(registry)
    if found is None:
        found = Counter(FAILURES, "failure events by name", ["event"], registry=registry)
        _counters[registry] = found
    return found


def report(runtime: Any, event: Any) -> None:
    """Emit a failure ``event`` with its log record and metric increment."""
    if runtime.switches.enabled(SWITCH):
        fields = {
            f.name: getattr(event, f.name)
            for f in dataclasses.fields(event)
            if f.name not in ("at",) and isinstance(getattr(event, f.name), str | int | float)
        }
        log.warning(
            "failure %s %s", event.name, fields, extra={"event": event.name, "fields": fields}
        )
        _counter(runtime.registry).labels(event=event.name).inc()
    runtime.emit(event)
