"""The seed tables' notation: one test per row, durations, and errors that point at a token.

The rows are copied from the two seed FAILURE_MODES documents (content: 000, authoring:
001); tests never read the seeds themselves.
"""

from __future__ import annotations

import pytest

from mitigate import Breaker, ConfigError, Retry
from mitigate.policy.notation import format_duration, parse_breaker, parse_duration, parse_retry

# (operation, Max, Backoff, Budget, base from the catalog, expected delays, expected budget)
RETRY_ROWS = [
    # seed 000 (content)
    ("KMS sign", "3", "50ms, 200ms, 500ms", "1s", None, (0.05, 0.2, 0.5), 1.0),
    ("S3 upload", "5", "exp 100ms–10s", "30s", None, (0.1, 0.2, 0.4, 0.8, 1.6), 30.0),
    ("Asset fetch", "3", "500ms, 2s, 5s", "10s", None, (0.5, 2.0, 5.0), 10.0),
    ("Publish saga step", "5", "exp cap 30s", "15 min total", "4s", (4.0, 8.0, 16.0, 30.0, 30.0), 900.0),  # noqa: E501
    ("Bundle create retry", "5", "exp cap 60s", "10 min", "4s", (4.0, 8.0, 16.0, 32.0, 60.0), 600.0),  # noqa: E501
    # seed 001 (authoring)
    ("Postgres write", "3", "10ms, 50ms, 200ms", "300ms", None, (0.01, 0.05, 0.2), 0.3),
    ("AI call", "2", "1s", "5s", None, (1.0, 1.0), 5.0),
    ("Media asset check", "3", "200ms, 1s, 3s", "5s", None, (0.2, 1.0, 3.0), 5.0),
    ("Publish saga step", "5", "exp, cap 30s", "15min (saga timeout)", "4s", (4.0, 8.0, 16.0, 30.0, 30.0), 900.0),  # noqa: E501
    ("SCORM import step", "3", "5s, 30s, 2m", "10min", None, (5.0, 30.0, 120.0), 600.0),
]  # fmt: skip

# (target, Trip, Reset, failures, window, reset)
BREAKER_ROWS = [
    # seed 000 (content)
    ("KMS", "10 fail / 30s", "60s", 10, 30.0, 60.0),
    ("S3", "10 fail / 30s", "60s", 10, 30.0, 60.0),
    ("ai-gateway (for assistant config)", "5 fail / 30s", "60s", 5, 30.0, 60.0),
    # seed 001 (authoring)
    ("ai-gateway", "10 / 30s", "60s", 10, 30.0, 60.0),
    ("media-service", "5 / 30s", "60s", 5, 30.0, 60.0),
    ("catalog-service", "5 / 30s", "60s", 5, 30.0, 60.0),
    ("content-service", "5 / 30s", "60s", 5, 30.0, 60.0),
]


@pytest.mark.parametrize(
    ("operation", "max_", "backoff", "budget", "base", "delays", "seconds"),
    RETRY_ROWS,
    ids=[f"{row[0]}|{row[2]}" for row in RETRY_ROWS],
)
def test_retry_row(
    operation: str,
    max_: str,
    backoff: str,
    budget: str,
    base: str | None,
    delays: tuple[float, ...],
    seconds: float,
) -> None:
    retry = parse_retry(max=max_, backoff=backoff, budget=budget, base=base)
    assert retry.max_retries == int(max_), operation
    assert retry.max_attempts == int(max_) + 1  # "Max" counts retries after the first attempt
    assert retry.delays() == pytest.approx(delays)
    assert retry.budget == pytest.approx(seconds)
    assert retry.jitter == "none"  # no row states jitter; none is invented


@pytest.mark.parametrize(
    ("target", "trip", "reset", "failures", "window", "reset_s"),
    BREAKER_ROWS,
    ids=[row[0] for row in BREAKER_ROWS],
)
def test_breaker_row(
    target: str, trip: str, reset: str, failures: int, window: float, reset_s: float
) -> None:
    breaker = parse_breaker(trip=trip, reset=reset)
    assert (breaker.failures, breaker.window, breaker.reset) == (failures, window, reset_s)
    assert not breaker.rate_based
    assert Breaker.from_table(trip, reset) == breaker


def test_exp_range_reads_base_and_cap() -> None:
    retry = parse_retry(max="5", backoff="exp 100ms–10s", budget="30s")
    assert (retry.base, retry.cap, retry.factor) == (0.1, 10.0, 2.0)
    # an ASCII hyphen and "to" read the same as the en dash
    assert parse_retry(max="5", backoff="exp 100ms-10s", budget="30s") == retry
    assert parse_retry(max="5", backoff="exp 100ms to 10s", budget="30s") == retry


def test_exp_row_without_base_needs_one() -> None:
    with pytest.raises(ConfigError) as info:
        parse_retry(max="5", backoff="exp cap 30s", budget="15 min total")
    error = info.value
    assert error.code == "MITIGATE.CONFIG.NOTATION"
    assert "no base delay" in str(error) and "base=" in str(error)
    # the caret marks "exp"
    assert "\n    exp cap 30s\n    ^^^" in str(error)


def test_row_base_wins_over_the_catalog_default() -> None:
    retry = parse_retry(max="5", backoff="exp 100ms–10s", budget="30s", base="4s")
    assert retry.base == 0.1


def test_single_delay_repeats_for_every_retry() -> None:
    assert parse_retry(max="2", backoff="1s", budget="5s").delays() == (1.0, 1.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("200ms", 0.2),
        ("1s", 1.0),
        ("2m", 120.0),
        ("15 min", 900.0),
        ("10 min", 600.0),
        ("15min", 900.0),
        ("1.5s", 1.5),
        ("2 minutes", 120.0),
        ("1h", 3600.0),
        ("0", 0.0),
        (2.5, 2.5),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "10", "-1s", "5 parsecs", "", "1s 2s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(text)
    assert info.value.code == "MITIGATE.CONFIG.DURATION"
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("backoff", "token"),
    [
        ("50ms, 2zz, 500ms", "2zz"),
        ("exp 100ms–10z", "10z"),
        ("exp 100ms–10s fast", "fast"),
        ("50ms; 200ms 500ms", "500ms"),
        ("exp 10s–1s", "1s"),
        ("50ms, 200ms, 500ms, 1s", "1s"),  # four delays for max 3
    ],
)
def test_bad_backoff_points_at_the_token(backoff: str, token: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_retry(max="3", backoff=backoff, budget="1s", target="kms.sign")
    text = str(info.value)
    assert info.value.code == "MITIGATE.CONFIG.NOTATION"
    assert text.startswith("[MITIGATE.CONFIG.NOTATION] kms.sign: backoff ")
    shown, caret = text.splitlines()[-2:]
    start = caret.index("^")
    assert shown[start : start + len(token)] == token
    assert caret.strip() == "^" * len(token)


@pytest.mark.parametrize(
    ("trip", "token"),
    [
        ("10 fail / soon", "soon"),
        ("ten fail / 30s", "ten"),
        ("10 fail 30s", "30s"),
        ("10 / 30s x", "x"),
    ],
)
def test_bad_trip_points_at_the_token(trip: str, token: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_breaker(trip=trip, reset="60s")
    shown, caret = str(info.value).splitlines()[-2:]
    start = caret.index("^")
    assert shown[start : start + len(token)] == token


def test_bad_max_and_budget() -> None:
    with pytest.raises(ConfigError, match="whole number"):
        parse_retry(max="three", backoff="1s", budget="5s")
    with pytest.raises(ConfigError, match="not one duration"):
        parse_retry(max="2", backoff="1s", budget="5s 10s")
    with pytest.raises(ConfigError, match="not one duration"):
        parse_breaker(trip="5 / 30s", reset="a minute")


def test_budget_words_and_notes_are_allowed() -> None:
    assert parse_retry(max="5", backoff="exp cap 30s", budget="15 min total", base=4).budget == 900
    assert (
        parse_retry(max="5", backoff="exp cap 30s", budget="15min (saga timeout)", base=4).budget
        == 900
    )
    assert parse_retry(max="1", backoff="1s", budget=None).budget is None


@pytest.mark.parametrize(
    ("max_", "backoff", "budget"),
    [
        ("3", "50ms, 200ms, 500ms", "1s"),
        ("3", "5s, 30s, 2m", "10m"),
        ("5", "exp 100ms–10s", "30s"),
        ("2", "1s", "5s"),
    ],
)
def test_tables_render_back_unchanged(max_: str, backoff: str, budget: str) -> None:
    assert Retry.from_table(max_, backoff, budget).to_table() == (max_, backoff, budget)


def test_format_duration_round_trips() -> None:
    for seconds in (0.01, 0.05, 0.3, 1.0, 2.5, 30.0, 60.0, 120.0, 600.0, 900.0, 7200.0):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


# -- error codes live on the error classes (item 8) ------------------------------------------


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: parse_duration("soon"), "MITIGATE.CONFIG.DURATION"),
        (lambda: parse_retry("5", "exp 100ms–10z"), "MITIGATE.CONFIG.NOTATION"),
        (lambda: parse_breaker("10 fails / soon", "60s"), "MITIGATE.CONFIG.NOTATION"),
        (lambda: parse_breaker("10 / 30s", "0s"), "MITIGATE.CONFIG.NOTATION"),
        (lambda: Retry(2), "MITIGATE.CONFIG.INVALID"),
    ],
    ids=["duration", "retry", "breaker", "reset", "option"],
)
def test_policy_errors_carry_their_class_code(make: object, code: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()  # type: ignore[operator]
    assert info.value.code == code
    assert type(info.value).code == code  # the class says it; no call site refines it


def test_policy_code_passes_no_error_code_at_call_sites() -> None:
    import re
    from pathlib import Path

    import mitigate.policy

    folder = Path(mitigate.policy.__file__).parent
    passing = [
        f"{path.name}:{n}"
        for path in sorted(folder.glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bcode=", line)
    ]
    assert passing == []
