"""Reading detection signals as people write them."""

from __future__ import annotations

import pytest

from mitigate.catalog.model import DetectionRule
from mitigate.catalog.signal import parse_signal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "per-adapter error rate > 20% 5 min",
            {
                "op": ">",
                "threshold": 0.2,
                "window": "5 min",
                "kind": "ratio",
                "event": "attempt.failed",
                "of": ["attempt.started"],
            },
        ),
        ("lag > 30 s", {"op": ">", "threshold": 30.0, "kind": "gauge", "metric": "lag"}),
        (
            "feedback age > 10 min",
            {"op": ">", "threshold": 600.0, "kind": "age", "event": "feedback"},
        ),
        (
            "virtual_session.failed count > 5 in 5 min",
            {
                "op": ">",
                "threshold": 5.0,
                "window": "5 min",
                "kind": "count",
                "event": "virtual_session.failed",
            },
        ),
        (
            "theme_outbox_unpublished_rows > 1 000 sustained 10 min",
            {
                "op": ">",
                "threshold": 1000.0,
                "sustained": "10 min",
                "kind": "gauge",
                "metric": "theme_outbox_unpublished_rows",
            },
        ),
        (
            "scan queue > 1000 for 15 min",
            {
                "op": ">",
                "threshold": 1000.0,
                "sustained": "15 min",
                "kind": "gauge",
                "metric": "scan_queue",
            },
        ),
        ("skew > 500 ms", {"op": ">", "threshold": 0.5, "kind": "gauge", "metric": "skew"}),
        (
            "queue depth ≥ 50",
            {"op": ">=", "threshold": 50.0, "kind": "gauge", "metric": "queue_depth"},
        ),
        (
            "Redis client errors > 1 % over 5 min",
            {
                "op": ">",
                "threshold": 0.01,
                "window": "5 min",
                "kind": "ratio",
                "event": "attempt.failed",
                "of": ["attempt.started"],
            },
        ),
        (
            "webhook.retry rate > 2 over 1 min",
            {
                "op": ">",
                "threshold": 2.0,
                "window": "1 min",
                "kind": "rate",
                "event": "webhook.retry",
            },
        ),
        # Readable numbers but no evaluable form: kept for the author, no kind.
        ("cache hit ratio < 90%", {"op": "<", "threshold": 0.9}),
        ("RPS > 10x baseline", {"op": ">", "threshold": 10.0}),
        ("theme_outbox_lag_seconds p95 > 30 s", {"op": ">", "threshold": 30.0}),
        ("an alert when a saga sits in building > 5 min", {"op": ">", "threshold": 300.0}),
        # Prose.
        ("relay liveness fails", {}),
        ("token verify fail rate spike", {}),
        ("", {}),
    ],
)
def test_signals(text: str, expected: dict[str, object]) -> None:
    assert parse_signal(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "per-adapter error rate > 20% 5 min",
        "lag > 30 s",
        "feedback age > 10 min",
        "virtual_session.failed count > 5 in 5 min",
        "scan queue > 1000 for 15 min",
        "cache hit ratio < 90%",
        "relay liveness fails",
    ],
)
def test_parsed_fields_make_a_valid_rule(text: str) -> None:
    rule = DetectionRule(id="r", signal=text, **parse_signal(text))
    assert rule.signal == text
