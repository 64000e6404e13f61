"""Events, observers and the integrations that read them (metrics, logs, detection)."""

from mitigate.observe.events import *  # noqa: F403
from mitigate.observe.events import __all__ as _events_all
from mitigate.observe.observers import Observer, Observers, Recorder

__all__ = [*_events_all, "Observer", "Observers", "Recorder"]
