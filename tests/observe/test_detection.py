"""Detection rules over the event stream, on a virtual clock."""

from __future__ import annotations

import asyncio
import threading

import pytest

from mitigate.clock import VirtualClock
from mitigate.errors import ConfigError
from mitigate.observe.detection import Detector, Rule
from mitigate.observe.events import (
    AlertRaised,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    BreakerOpened,
    Event,
    FallbackUsed,
    Severity,
)
from mitigate.observe.observers import Recorder


def failed(clock: VirtualClock, target: str = "sms.send") -> AttemptFailed:
    return AttemptFailed(target=target, at=clock.now(), attempt=1)


def started(clock: VirtualClock, target: str = "sms.send") -> AttemptStarted:
    return AttemptStarted(target=target, at=clock.now(), attempt=1)


def alerts(recorder: Recorder) -> list[AlertRaised]:
    return [e for e in recorder.events if isinstance(e, AlertRaised)]


def test_count_fires_on_the_sixth_event_inside_the_window(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    # "virtual_session.failed count > 5 in 5 min"
    rule = Rule("vc", kind="count", event="attempt.failed", op=">", threshold=5, window=300)
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    for _ in range(5):
        detector(failed(virtual_clock))
        virtual_clock.advance(59)
    assert alerts(recorder) == []
    detector(failed(virtual_clock))  # 6 events within 295 s
    [alert] = alerts(recorder)
    assert (alert.rule, alert.value, alert.threshold, alert.target) == ("vc", 6.0, 5.0, "sms.send")
    assert alert.at == virtual_clock.now() == 295.0


def test_count_spread_over_more_than_the_window_never_fires(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    rule = Rule("vc", kind="count", event="attempt.failed", op=">", threshold=5, window=300)
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    for _ in range(20):
        detector(failed(virtual_clock))
        virtual_clock.advance(61)  # at most 5 events in any 300 s
    assert alerts(recorder) == []
    assert detector.value("vc") == 5.0


def test_an_event_exactly_one_window_old_no_longer_counts(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    rule = Rule("two", kind="count", event="attempt.failed", op=">=", threshold=2, window=30)
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    detector(failed(virtual_clock))
    virtual_clock.advance(30)
    detector(failed(virtual_clock))
    assert alerts(recorder) == []
    virtual_clock.advance(29.9)
    detector(failed(virtual_clock))
    assert [a.value for a in alerts(recorder)] == [2.0]


def test_fires_once_then_rearms_after_clearing(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    rule = Rule("open", kind="count", event="breaker.opened", op=">", threshold=0, window=60)
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    opened = BreakerOpened(target="kms.sign", at=0.0, failures=10)
    detector(opened)
    detector(opened)
    assert len(alerts(recorder)) == 1
    assert detector.firing() == ["open"]
    virtual_clock.advance(60)
    assert detector.evaluate() == []  # the window emptied: the alert clears
    assert detector.firing() == []
    detector(opened)
    assert len(alerts(recorder)) == 2
    assert detector.fired("open") == 2


def test_error_ratio_over_a_window(virtual_clock: VirtualClock, recorder: Recorder) -> None:
    # "per-adapter error rate > 20% 5 min"
    rule = Rule(
        "sms.errors",
        kind="ratio",
        event="attempt.failed",
        of=("attempt.started",),
        op=">",
        threshold=0.2,
        window=300,
        target="sms.*",
        min_count=10,
    )
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    detector(started(virtual_clock))
    detector(failed(virtual_clock))
    assert alerts(recorder) == []  # 1 of 1: too few calls to judge
    for _ in range(9):
        detector(started(virtual_clock))
    detector(failed(virtual_clock))
    assert alerts(recorder) == []  # 2 of 10 = 20 %, not above
    assert detector.value("sms.errors") == pytest.approx(0.2)
    detector(failed(virtual_clock))  # 3 of 10
    [alert] = alerts(recorder)
    assert alert.value == pytest.approx(0.3)
    assert alert.target == "sms.send"


def test_ratio_is_judged_per_target(virtual_clock: VirtualClock, recorder: Recorder) -> None:
    # a failing primary is not hidden by a healthy backup (Prometheus: sum by (target))
    rule = Rule(
        "errors",
        kind="ratio",
        event="attempt.failed",
        of=("attempt.started",),
        op=">",
        threshold=0.2,
        window=300,
        min_count=5,
    )
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    for _ in range(20):
        detector(started(virtual_clock, target="sms.backup"))
    for _ in range(5):
        detector(started(virtual_clock, target="sms.primary"))
        detector(failed(virtual_clock, target="sms.primary"))
    [alert] = alerts(recorder)
    # fires at 4 failures in 5 calls: judged once min_count calls are in the window
    assert (alert.target, alert.value) == ("sms.primary", 0.8)
    assert detector.value("errors", "sms.backup") == 0.0


def test_target_filter_ignores_other_targets(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    rule = Rule(
        "kms",
        kind="count",
        event="attempt.failed",
        op=">",
        threshold=1,
        window=60,
        target="kms.sign",
    )
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    for _ in range(5):
        detector(failed(virtual_clock, target="objects.put"))
    assert alerts(recorder) == []
    detector(failed(virtual_clock, target="kms.sign"))
    detector(failed(virtual_clock, target="kms.sign"))
    assert [a.target for a in alerts(recorder)] == ["kms.sign"]


def test_rate_is_events_per_second(virtual_clock: VirtualClock, recorder: Recorder) -> None:
    rule = Rule("fallbacks", kind="rate", event="fallback.*", op=">", threshold=1.0, window=10)
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    for _ in range(10):
        detector(FallbackUsed(target="cdn.get", at=virtual_clock.now(), reason="5xx"))
        virtual_clock.advance(0.5)
    assert alerts(recorder) == []  # 10 in 10 s = 1/s, not above
    detector(FallbackUsed(target="cdn.get", at=virtual_clock.now(), reason="5xx"))
    assert [a.value for a in alerts(recorder)] == [pytest.approx(1.1)]


def test_gauge_with_sustained_needs_the_condition_to_hold(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    # "theme_outbox_unpublished_rows > 1 000 sustained 10 min"
    rule = Rule(
        "backlog", kind="gauge", metric="outbox_rows", op=">", threshold=1000, sustained=600
    )
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    detector.report("outbox_rows", 1500)
    virtual_clock.advance(300)
    detector.report("outbox_rows", 900)  # dips: the sustain timer restarts
    virtual_clock.advance(10)
    detector.report("outbox_rows", 1200)
    virtual_clock.advance(599)
    assert detector.evaluate() == []
    virtual_clock.advance(1)
    [alert] = detector.evaluate()
    assert (alert.rule, alert.value, alert.at) == ("backlog", 1200.0, 910.0)
    assert alerts(recorder) == [alert]


def test_gauge_from_an_event_field(virtual_clock: VirtualClock, recorder: Recorder) -> None:
    rule = Rule(
        "slow", kind="gauge", event="attempt.failed", field="duration", op=">=", threshold=2.0
    )
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    detector(AttemptFailed(target="a", at=0.0, duration=1.0))
    detector(AttemptFailed(target="a", at=0.0, duration=2.5))
    assert [a.value for a in alerts(recorder)] == [2.5]


def test_age_fires_when_an_event_stops_arriving(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    # "feedback age > 10 min"
    rule = Rule(
        "feedback",
        kind="age",
        event="push.feedback",
        op=">",
        threshold=600,
        severity=Severity.ERROR,
    )
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])

    class Feedback(Event):
        name = "push.feedback"

    virtual_clock.advance(500)
    detector(Feedback(target="push", at=virtual_clock.now()))
    virtual_clock.advance(600)
    assert detector.evaluate() == []
    virtual_clock.advance(1)
    [alert] = detector.evaluate()
    assert alert.value == 601.0
    assert alert.severity is Severity.ERROR


def test_ratio_without_traffic_says_nothing(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    rule = Rule(
        "hit",
        kind="ratio",
        event="cache.hit",
        of=("cache.lookup",),
        op="<",
        threshold=0.9,
        window=60,
    )
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    assert detector.evaluate() == []  # 0 / 0 is not "below 90 %"


def test_alerts_are_not_counted_and_do_not_loop(virtual_clock: VirtualClock) -> None:
    rule = Rule("any", kind="count", event="*", op=">", threshold=0, window=60)
    seen: list[str] = []
    detector = Detector([rule], clock=virtual_clock)
    detector.observers.add(lambda e: seen.append(e.name))
    detector.observers.add(detector)  # shared fan-out: alerts come back to the detector
    detector(failed(virtual_clock))
    assert seen == ["alert.raised"]
    assert detector.value("any") == 1.0


def test_message_names_rule_signal_and_runbook(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    rule = Rule(
        "kms.open",
        kind="count",
        event="breaker.opened",
        op=">",
        threshold=0,
        window=60,
        message="KMS breaker opened",
        runbook="runbooks/kms.md",
    )
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    detector(BreakerOpened(target="kms.sign", at=0.0))
    assert alerts(recorder)[0].message == (
        "KMS breaker opened: count 1 > 0 over 60s. Runbook: runbooks/kms.md"
    )


def test_many_events_use_bounded_memory(virtual_clock: VirtualClock) -> None:
    rule = Rule("n", kind="count", event="attempt.failed", op=">", threshold=10**9, window=60)
    detector = Detector([rule], clock=virtual_clock)
    event = failed(virtual_clock)
    for _ in range(50_000):
        detector(event)
        virtual_clock.advance(0.001)
    assert detector.value("n") == 50_000
    window = detector._states["n"].tracks["sms.send"].numerator
    assert window is not None and len(window._slots) <= 1025


def test_threads_share_one_detector(virtual_clock: VirtualClock) -> None:
    rule = Rule("n", kind="count", event="attempt.failed", op=">", threshold=10**9, window=60)
    detector = Detector([rule], clock=virtual_clock)
    event = failed(virtual_clock)

    def hammer() -> None:
        for _ in range(2000):
            detector(event)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    detector.evaluate()
    assert detector.value("n") == 8000


async def test_run_evaluates_on_the_clock(autojump_clock: VirtualClock, recorder: Recorder) -> None:
    rule = Rule("quiet", kind="age", event="heartbeat", op=">", threshold=30)
    detector = Detector([rule], clock=autojump_clock, observers=[recorder])
    task = asyncio.create_task(detector.run(5))
    await autojump_clock.asleep(40)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [alert] = alerts(recorder)
    assert alert.at == 35.0  # first tick after 30 s without a heartbeat


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "count", "op": ">", "threshold": 1, "window": 10}, "needs event"),
        ({"kind": "count", "op": ">", "threshold": 1, "event": "x"}, "positive window"),
        ({"kind": "ratio", "op": ">", "threshold": 1, "event": "x", "window": 1}, "needs of"),
        ({"kind": "gauge", "op": ">", "threshold": 1}, "metric, or event and field"),
        ({"kind": "gauge", "op": "!=", "threshold": 1, "metric": "m"}, "comparator"),
    ],
)
def test_bad_rules_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Rule("r", **kwargs)  # type: ignore[arg-type]


def test_duplicate_rule_ids_are_refused(virtual_clock: VirtualClock) -> None:
    rule = Rule("r", kind="gauge", metric="m", op=">", threshold=1)
    with pytest.raises(ConfigError, match="share this id"):
        Detector([rule, rule], clock=virtual_clock)


def test_a_named_alert_counts_for_the_rule_that_names_it_but_plain_alerts_never_do(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    # A saga monitor's own alert (saga.stuck) can feed a catalog rule; the detector's
    # plain alert.raised coming back through shared observers never does.
    from mitigate.observe.events import SagaStuck

    stuck = Rule("stuck", kind="count", event="saga.stuck", op=">", threshold=0, window=300)
    every = Rule("all", kind="count", event="*", op=">", threshold=0, window=300)
    detector = Detector([stuck, every], clock=virtual_clock, observers=[recorder])
    detector(AlertRaised(target="t", at=0.0, rule="other", message="m"))
    assert alerts(recorder) == []
    detector(SagaStuck(target="publish", at=0.0, rule="saga.stuck", message="building"))
    assert sorted(a.rule for a in alerts(recorder)) == ["all", "stuck"]


def test_an_event_in_both_parts_of_a_ratio_counts_in_both_before_the_check(
    virtual_clock: VirtualClock, recorder: Recorder
) -> None:
    # failures / (failures + successes) > 5 %: 6 of 120 is 5 % (quiet), not 6 of 119
    rule = Rule(
        "rate", kind="ratio", event="attempt.failed",
        of=("attempt.failed", "attempt.succeeded"), op=">", threshold=0.05, window=3600,
    )  # fmt: skip
    detector = Detector([rule], clock=virtual_clock, observers=[recorder])
    for _ in range(114):
        detector(AttemptSucceeded(target="sms.send", at=virtual_clock.now(), attempt=1))
    for _ in range(6):
        detector(failed(virtual_clock))
    assert alerts(recorder) == []
    detector(failed(virtual_clock))  # 7 of 121
    [alert] = alerts(recorder)
    assert alert.value == pytest.approx(7 / 121)
