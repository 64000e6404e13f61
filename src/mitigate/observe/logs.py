"""Structured logs from events: an observer that writes each decision as one log line.

Every event becomes one structlog call at the event's severity, with the event's dotted
name as the message and its fields as keys (``target``, ``at``, ``attempt``, ``error``,
and its own fields such as ``delay`` or ``reason``). With :func:`json_logger` each line
is one JSON object.

>>> import io, json
>>> from mitigate.observe.events import RetryScheduled
>>> out = io.StringIO()
>>> log = StructlogObserver(json_logger(out))
>>> log(RetryScheduled(target="kms.sign", at=1.5, attempt=1, delay=0.05))
>>> line = json.loads(out.getvalue())
>>> line["event"], line["level"], line["target"], line["delay"]
('retry.scheduled', 'info', 'kms.sign', 0.05)

.. versionadded:: 0.1
"""

from __future__ import annotations

import sys
from typing import Any, Final, TextIO

import structlog

from mitigate.observe.events import Event, Severity

__all__ = ["StructlogObserver", "json_logger"]

_METHODS: Final = {
    Severity.DEBUG: "debug",
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.ERROR: "error",
    Severity.CRITICAL: "critical",
}


def json_logger(stream: TextIO | None = None) -> Any:
    """A structlog logger that writes one JSON object per line to ``stream`` (stderr by
    default), with the level and an ISO timestamp; independent of global structlog
    configuration."""
    return structlog.wrap_logger(
        structlog.PrintLogger(stream if stream is not None else sys.stderr),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
    )


class StructlogObserver:
    """An observer that logs every event through structlog.

    ``logger`` is any structlog logger (by default ``structlog.get_logger("mitigate")``,
    which follows your structlog configuration); ``min_severity`` drops quieter events
    (attempt started/succeeded are DEBUG).

    .. versionadded:: 0.1
    """

    __slots__ = ("_logger", "_skip")

    def __init__(self, logger: Any = None, *, min_severity: Severity = Severity.DEBUG) -> None:
        self._logger = logger if logger is not None else structlog.get_logger("mitigate")
        order = list(Severity)
        self._skip = frozenset(order[: order.index(min_severity)])

    def __call__(self, event: Event) -> None:
        severity = event.severity or event.default_severity
        if severity in self._skip:
            return
        fields = event.fields()
        name = fields.pop("name")
        fields.pop("severity", None)
        fields["severity"] = severity.value
        getattr(self._logger, _METHODS[severity])(name, **fields)
