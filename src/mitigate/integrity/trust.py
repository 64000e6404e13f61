"""Device trust: count tamper reports per device and revoke trust after ``threshold``.

Reports arrive with an id, so a report re-sent by a retried sync is counted once. When a
device reaches ``threshold`` reports (inside ``window`` seconds, when a window is set) it
is revoked: :class:`~mitigate.DeviceTrustRevoked` goes to the observers (an admin alert),
and :meth:`DeviceTrust.require_trusted` refuses it with ``MITIGATE.INTEGRITY.DEVICE_REVOKED``
until an operator calls :meth:`DeviceTrust.restore`. The seed leaves the threshold open,
so it has no default: the catalog sets it.

>>> from mitigate.clock import VirtualClock
>>> trust = DeviceTrust(threshold=2, clock=VirtualClock())
>>> trust.report("tablet-9", report_id="r1", subject="course", reason="digest")
1
>>> trust.report("tablet-9", report_id="r1", subject="course", reason="digest")  # re-sent
1
>>> trust.report("tablet-9", report_id="r2", subject="course", reason="digest")
2
>>> trust.is_trusted("tablet-9")
False
>>> trust.require_trusted("tablet-9")
Traceback (most recent call last):
...
mitigate.DeviceRevokedError: [MITIGATE.INTEGRITY.DEVICE_REVOKED] device \
tablet-9: revoked after 2 tamper reports; device trust was revoked; an operator must review \
and restore it

.. versionadded:: 0.1
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from mitigate.clock import Clock, default_clock
from mitigate.errors import ConfigError
from mitigate.integrity.errors import DeviceRevokedError
from mitigate.observe.events import DeviceTrustRevoked, TamperDetected
from mitigate.observe.observers import Observer, Observers

__all__ = ["DeviceTrust"]

# Report ids remembered per device for de-duplication (a sync re-sends a handful at most).
_SEEN_PER_DEVICE = 1024


@dataclass(slots=True)
class _Device:
    reports: deque[float] = field(default_factory=deque)
    seen: OrderedDict[str, None] = field(default_factory=OrderedDict)
    revoked: bool = False


class DeviceTrust:
    """Per-device tamper counter with revocation (server side)."""

    def __init__(
        self,
        *,
        threshold: int,
        window: float | None = None,
        clock: Clock | None = None,
        observers: Iterable[Observer] = (),
        target: str = "device.trust",
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise ConfigError(target, f"threshold must be an integer >= 1, not {threshold!r}")
        if window is not None and not window > 0:
            raise ConfigError(target, f"window must be > 0 seconds, not {window!r}")
        self.threshold = threshold
        self.window = window
        self.clock = clock or default_clock()
        self.observers = observers if isinstance(observers, Observers) else Observers(observers)
        self.target = target
        self._devices: dict[str, _Device] = {}
        self._lock = threading.Lock()

    def report(self, device: str, *, report_id: str, subject: str = "", reason: str = "") -> int:
        """Count one tamper report (once per ``report_id``); returns the device's count."""
        now = self.clock.now()
        revoked_now = False
        with self._lock:
            state = self._devices.setdefault(device, _Device())
            if report_id in state.seen:
                return self._count(state, now)
            state.seen[report_id] = None
            if len(state.seen) > _SEEN_PER_DEVICE:
                state.seen.popitem(last=False)
            state.reports.append(now)
            count = self._count(state, now)
            if count >= self.threshold and not state.revoked:
                state.revoked = revoked_now = True
        if self.observers:
            self.observers.emit(
                TamperDetected(
                    target=self.target, at=now, subject=subject, reason=reason, device=device
                )
            )
            if revoked_now:
                self.observers.emit(
                    DeviceTrustRevoked(target=self.target, at=now, device=device, tampers=count)
                )
        return count

    def tampers(self, device: str) -> int:
        with self._lock:
            state = self._devices.get(device)
            return 0 if state is None else self._count(state, self.clock.now())

    def is_trusted(self, device: str) -> bool:
        state = self._devices.get(device)
        return state is None or not state.revoked

    def require_trusted(self, device: str) -> None:
        """Raise :class:`DeviceRevokedError` for a revoked device."""
        state = self._devices.get(device)
        if state is not None and state.revoked:
            raise DeviceRevokedError(
                f"device {device}", f"revoked after {len(state.reports)} tamper reports"
            )

    def restore(self, device: str) -> None:
        """An operator reviewed the device: trust it again and start counting afresh."""
        with self._lock:
            state = self._devices.get(device)
            if state is not None:
                state.revoked = False
                state.reports.clear()

    def revoked(self) -> list[str]:
        return sorted(d for d, s in self._devices.items() if s.revoked)

    def _count(self, state: _Device, now: float) -> int:
        if self.window is not None:
            while state.reports and state.reports[0] <= now - self.window:
                state.reports.popleft()
        return len(state.reports)
