"""Events, observers and the integrations that read them (metrics, logs, traces, detection).

``OpenTelemetryObserver`` needs the ``otel`` extra and is imported only when asked for.
"""

from typing import TYPE_CHECKING, Any

from mitigate.observe.detection import Detector, Rule
from mitigate.observe.events import *  # noqa: F403
from mitigate.observe.events import __all__ as _events_all
from mitigate.observe.logs import StructlogObserver, json_logger
from mitigate.observe.metrics import PrometheusObserver
from mitigate.observe.observers import Observer, Observers, Recorder
from mitigate.observe.service_events import *  # noqa: F403
from mitigate.observe.service_events import __all__ as _service_events_all

if TYPE_CHECKING:
    from mitigate.observe.otel import OpenTelemetryObserver

__all__ = [
    *_events_all,
    *_service_events_all,
    "Detector",
    "Observer",
    "Observers",
    "OpenTelemetryObserver",
    "PrometheusObserver",
    "Recorder",
    "Rule",
    "StructlogObserver",
    "json_logger",
]


def __getattr__(name: str) -> Any:
    # OpenTelemetry is an optional extra: import it only when asked for.
    if name == "OpenTelemetryObserver":
        from mitigate.observe.otel import OpenTelemetryObserver

        return OpenTelemetryObserver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
