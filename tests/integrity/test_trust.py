"""Per-device tamper counter and trust revocation (content.fm.1.3)."""

from __future__ import annotations

import pytest

from mitigate.clock import VirtualClock
from mitigate.errors import ConfigError
from mitigate.integrity.errors import DeviceRevokedError
from mitigate.integrity.trust import DeviceTrust
from mitigate.observe.events import DeviceTrustRevoked, Severity
from mitigate.observe.observers import Recorder


def test_revoked_after_threshold_with_an_admin_event(virtual_clock: VirtualClock) -> None:
    recorder = Recorder()
    trust = DeviceTrust(threshold=3, clock=virtual_clock, observers=[recorder])
    for i in range(2):
        trust.report("d1", report_id=f"r{i}", subject="course", reason="digest")
        trust.require_trusted("d1")
    assert recorder.of(DeviceTrustRevoked) == []
    trust.report("d1", report_id="r2", subject="course", reason="digest")
    with pytest.raises(DeviceRevokedError) as info:
        trust.require_trusted("d1")
    assert info.value.code == "MITIGATE.INTEGRITY.DEVICE_REVOKED"
    revoked = recorder.of(DeviceTrustRevoked)
    assert [(e.device, e.tampers, e.severity) for e in revoked] == [("d1", 3, Severity.CRITICAL)]
    trust.report("d1", report_id="r3")
    assert len(recorder.of(DeviceTrustRevoked)) == 1  # one alert, not one per report
    assert trust.is_trusted("d2")
    assert trust.revoked() == ["d1"]


def test_a_resent_report_counts_once(virtual_clock: VirtualClock) -> None:
    trust = DeviceTrust(threshold=2, clock=virtual_clock)
    for _ in range(5):
        trust.report("d1", report_id="same")
    assert trust.tampers("d1") == 1
    assert trust.is_trusted("d1")


def test_window_forgets_old_reports(virtual_clock: VirtualClock) -> None:
    trust = DeviceTrust(threshold=2, window=3600, clock=virtual_clock)
    trust.report("d1", report_id="a")
    virtual_clock.advance(3600)
    trust.report("d1", report_id="b")
    assert trust.tampers("d1") == 1 and trust.is_trusted("d1")
    virtual_clock.advance(10)
    trust.report("d1", report_id="c")
    assert not trust.is_trusted("d1")


def test_operator_restores_trust(virtual_clock: VirtualClock) -> None:
    trust = DeviceTrust(threshold=1, clock=virtual_clock)
    trust.report("d1", report_id="a")
    assert not trust.is_trusted("d1")
    trust.restore("d1")
    assert trust.is_trusted("d1") and trust.tampers("d1") == 0


@pytest.mark.parametrize("threshold", [0, -1, True, 1.5])
def test_threshold_must_be_a_positive_integer(threshold: object) -> None:
    with pytest.raises(ConfigError):
        DeviceTrust(threshold=threshold)  # type: ignore[arg-type]
