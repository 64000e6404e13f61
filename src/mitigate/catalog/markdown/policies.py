"""Turn rows of retry, breaker, fallback, timeout, bulkhead and rate-limit tables into specs.

A row arrives as ``{field: cell text}`` with canonical field names (see
:data:`~mitigate.catalog.markdown.fields.POLICY_FIELDS`); the result is a plain dict
ready for the pydantic spec. Numbers in the seeds' notation are kept exactly as written
("exp cap 30s", "10 fail / 30s"); words around them ("15 min total") move to the
description so the value itself stays a valid duration.

>>> retry_fields({"max": "5", "backoff": "exp cap 30s", "budget": "15 min total"})
{'max': 5, 'backoff': 'exp cap 30s', 'budget': '15 min', 'description': 'budget: 15 min total'}
>>> breaker_fields({"trip": "5 failures within 30 s", "reset": "60s"})
{'failures': 5, 'window': '30 s', 'reset': '60s'}
>>> fallback_fields({"primary": "CDN", "fallback": 'Queue; learner sees "preparing…"'})
{'primary': 'CDN', 'fallback': 'Queue', 'user_sees': 'preparing…'}

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import re
from typing import Any

from mitigate.catalog.markdown.text import DURATION_UNITS, clean, leading_duration

__all__ = [
    "POLICY_KINDS",
    "breaker_fields",
    "bulkhead_fields",
    "fallback_fields",
    "parse_policy_bullet",
    "rate_limit_fields",
    "retry_fields",
    "table_kind",
]

POLICY_KINDS = ("retry", "breaker", "fallback", "timeouts", "bulkheads", "rate_limits", "policies")

_INT = re.compile(r"\d+")
_EMPTY = {"", "-", "—", "–", "n/a", "na", "none", "—.", "tbd", "?"}
_SEED_TRIP = re.compile(r"^\s*\d+\s*(?:fail\w*)?\s*/\s*\d+(?:\.\d+)?\s*[a-z]+\s*$", re.I)
_TRIP_WORDS = re.compile(
    rf"(?P<n>\d+)\s*(?:consecutive\s+)?(?:fail\w*|errors?|timeouts?|exceptions?|5xx)?\s*"
    rf"(?:/|in|within|per|over|inside)\s*(?:a\s+|the\s+last\s+)?"
    rf"(?P<w>\d+(?:\.\d+)?\s*{DURATION_UNITS})(?![A-Za-z])",
    re.I,
)
_RATE_TRIP = re.compile(
    rf"(?P<p>\d+(?:\.\d+)?)\s*%(?:[^0-9]*?(?:over|in|within|/)\s*(?:a\s+|the\s+last\s+)?"
    rf"(?P<w>\d+(?:\.\d+)?\s*{DURATION_UNITS})(?![A-Za-z]))?",
    re.I,
)
_USER_SEES = re.compile(
    r"^(?P<fallback>.*?)[;,(]\s*(?:the\s+)?(?:\w+\s+)?(?:users?|learners?|customers?|clients?|"
    r"visitors?|patients?|authors?|people)\s+(?:sees?|gets?|is shown|are shown)\s*:?\s*"
    r"(?P<sees>.*?)\)?\s*$",
    re.I,
)


def _empty(text: str | None) -> bool:
    return text is None or clean(text).lower() in _EMPTY


def _int(text: str) -> int | None:
    match = _INT.search(text)
    return int(match.group(0)) if match else None


def _duration(text: str, field: str, out: dict[str, Any], notes: list[str]) -> None:
    """Store a leading duration kept as written; a bare number is seconds."""
    value = clean(text)
    if _empty(value):
        return
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        out[field] = float(value) if "." in value else int(value)
        return
    found = leading_duration(value)
    if found is None:
        notes.append(f"{field}: {value}")
        return
    out[field] = found[0]
    if found[1]:
        notes.append(f"{field}: {value}")


def _finish(out: dict[str, Any], row: dict[str, str], notes: list[str]) -> dict[str, Any]:
    for key in ("id", "source"):
        if not _empty(row.get(key)):
            out[key] = clean(row[key]).strip("`")
    description = [clean(row["description"])] if not _empty(row.get("description")) else []
    if not _empty(row.get("notes")):
        description.append(clean(row["notes"]))
    description += notes
    if description:
        out["description"] = "; ".join(description)
    return out


def retry_fields(row: dict[str, str]) -> dict[str, Any]:
    """RetrySpec fields from a table row (``max``/``attempts``, ``backoff``, ``budget``).

    A column of *attempts* counts the first call too, so it becomes ``max`` = attempts - 1
    (``max`` counts retries after the first attempt, as the seeds' tables do).

    >>> retry_fields({"attempts": "4", "backoff": "50ms, 200ms, 500ms", "budget": "1s"})
    {'max': 3, 'backoff': '50ms, 200ms, 500ms', 'budget': '1s'}
    """
    out: dict[str, Any] = {}
    notes: list[str] = []
    if not _empty(row.get("max")):
        out["max"] = _int(row["max"])
    elif not _empty(row.get("attempts")):
        attempts = _int(row["attempts"])
        out["max"] = None if attempts is None else max(attempts - 1, 0)
    if out.get("max") is None:
        out.pop("max", None)
    if not _empty(row.get("backoff")):
        out["backoff"] = clean(row["backoff"])
    for field in ("budget", "base", "cap"):
        if not _empty(row.get(field)):
            _duration(row[field], field, out, notes)
    if not _empty(row.get("max_retries")):
        out["max_retries"] = _int(row["max_retries"])
    if not _empty(row.get("schedule")):
        out["schedule"] = [_number_or_text(part) for part in row["schedule"].split(",")]
    if not _empty(row.get("factor")):
        out["factor"] = float(clean(row["factor"]))
    if not _empty(row.get("jitter")):
        out["jitter"] = clean(row["jitter"]).lower()
    if not _empty(row.get("honor_retry_after")):
        out["honor_retry_after"] = clean(row["honor_retry_after"]).lower() in {"yes", "true", "y"}
    return _finish(out, row, notes)


def breaker_fields(row: dict[str, str]) -> dict[str, Any]:
    """BreakerSpec fields: ``trip`` kept in the seeds' notation, else failures + window.

    >>> breaker_fields({"trip": "10 fail / 30s", "reset": "60s"})
    {'trip': '10 fail / 30s', 'reset': '60s'}
    >>> breaker_fields({"failures": "5 errors", "window": "1 min", "reset": "2 min"})
    {'failures': 5, 'window': '1 min', 'reset': '2 min'}
    """
    out: dict[str, Any] = {}
    notes: list[str] = []
    trip = clean(row.get("trip", ""))
    if not _empty(trip):
        words = _TRIP_WORDS.search(trip)
        rate = _RATE_TRIP.search(trip)
        if rate is not None:
            out["failure_rate"] = float(rate["p"]) / 100.0
            if rate["w"]:
                out["window"] = clean(rate["w"])
            notes.append(f"trip: {trip}")
        elif _SEED_TRIP.match(trip):
            out["trip"] = trip
        elif words is not None:
            out["failures"] = int(words["n"])
            out["window"] = clean(words["w"])
            if words.group(0).strip() != trip:
                notes.append(f"trip: {trip}")
        elif _int(trip) is not None and (
            not _empty(row.get("window")) or re.search(r"fail|error|timeout|5xx", trip, re.I)
        ):
            out["failures"] = _int(trip)
            if not re.fullmatch(r"\d+", trip):
                notes.append(f"trip: {trip}")
        else:
            notes.append(f"trip: {trip}")
    if not _empty(row.get("failures")):
        out["failures"] = _int(row["failures"])
    if not _empty(row.get("window")) and "window" not in out:
        _duration(row["window"], "window", out, notes)
    if not _empty(row.get("reset")):
        _duration(row["reset"], "reset", out, notes)
    if not _empty(row.get("minimum_calls")):
        out["minimum_calls"] = _int(row["minimum_calls"])
    if not _empty(row.get("half_open_probes")):
        out["half_open_probes"] = _int(row["half_open_probes"])
    return _finish(out, row, notes)


def fallback_fields(row: dict[str, str]) -> dict[str, Any]:
    """FallbackSpec fields; "X; users see Y" in the fallback cell gives ``user_sees``."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    primary = clean(row.get("primary", "") or row.get("target", ""))
    fallback = clean(row.get("fallback", ""))
    if "user_sees" not in row:
        split = _USER_SEES.match(fallback)
        if split is not None and split["fallback"].strip():
            fallback = split["fallback"].strip()
            out_sees = split["sees"].strip().strip("\"'“”")
            out["user_sees_draft"] = out_sees
    if not primary or _empty(fallback):
        return {}  # a fallback needs both sides; the importer reports the row
    out["primary"] = primary
    out["fallback"] = fallback
    if not _empty(row.get("user_sees")):
        out["user_sees"] = clean(row["user_sees"])
    elif "user_sees_draft" in out:
        out["user_sees"] = out["user_sees_draft"]
    out.pop("user_sees_draft", None)
    if not _empty(row.get("policy")):
        out["policy"] = clean(row["policy"]).strip("`")
    if not _empty(row.get("value")):
        out["value"] = json.loads(clean(row["value"]).strip("`"))
    if not _empty(row.get("max_age")):
        _duration(row["max_age"], "max_age", out, notes)
    return _finish(out, row, notes)


def bulkhead_fields(row: dict[str, str]) -> dict[str, Any]:
    """BulkheadSpec fields (``max_concurrent``, ``max_queued``)."""
    out: dict[str, Any] = {}
    for field in ("max_concurrent", "max_queued"):
        if not _empty(row.get(field)):
            out[field] = _int(row[field])
    return _finish(out, row, [])


def rate_limit_fields(row: dict[str, str]) -> dict[str, Any]:
    """RateLimitSpec fields: ``limit`` ("60/min") or rate + per."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    if not _empty(row.get("limit")):
        out["limit"] = clean(row["limit"])
    if not _empty(row.get("rate")):
        out["rate"] = float(clean(row["rate"]))
    if not _empty(row.get("per")):
        _duration(row["per"], "per", out, notes)
    if not _empty(row.get("burst")):
        out["burst"] = _int(row["burst"])
    if not _empty(row.get("algorithm")):
        out["algorithm"] = clean(row["algorithm"])
    return _finish(out, row, notes)


def _number_or_text(text: str) -> float | str:
    value = clean(text)
    return float(value) if re.fullmatch(r"\d+(?:\.\d+)?", value) else value


def table_kind(columns: set[str]) -> str | None:
    """Which policy table a set of mapped columns describes, if any.

    >>> table_kind({"target", "trip", "reset"}), table_kind({"primary", "fallback"})
    ('breaker', 'fallback')
    """
    if columns & {"trip", "reset"} or {"failures", "window"} <= columns:
        return "breaker"
    if columns & {"max", "attempts", "backoff", "max_retries", "schedule"}:
        return "retry"
    if "fallback" in columns and columns & {"primary", "target"}:
        return "fallback"
    if columns & {"max_concurrent", "max_queued"}:
        return "bulkheads"
    if columns & {"limit", "rate", "per"}:
        return "rate_limits"
    if "timeout" in columns and "target" in columns:
        return "timeouts"
    return None


# Bullet forms: "KMS sign: max 3, backoff 50ms, 200ms, 500ms, budget 1s" and the like.
_BULLET_TARGET = re.compile(
    r"^\s*(?:\*\*|`)?(?P<target>[^:*`]{1,60}?)(?:\*\*|`)?\s*[:—–]\s+(?P<rest>.+)$"
)
_B_MAX = re.compile(
    r"\b(?:max(?:imum)?|up to)\s*(?:of\s*)?(?P<n>\d+)|(?P<m>\d+)\s*(?:retries|retry)\b", re.I
)
_B_ATTEMPTS = re.compile(r"(?P<n>\d+)\s*(?:attempts|tries)\b", re.I)
_B_BACKOFF = re.compile(
    rf"(?:backoff|back-off|delays?|schedule|waits?)\s*[:=]?\s*(?P<v>exp[^;]*?|\d+(?:\.\d+)?\s*{DURATION_UNITS}"
    rf"(?:\s*,\s*\d+(?:\.\d+)?\s*{DURATION_UNITS})*)(?=\s*(?:[;]|,\s*(?:budget|total|deadline|within)|$))",
    re.I,
)
_B_BUDGET = re.compile(
    rf"(?:budget|total|deadline|within|give up after)\s*(?:of\s*)?[:=]?\s*"
    rf"(?P<v>\d+(?:\.\d+)?\s*{DURATION_UNITS})(?![A-Za-z])",
    re.I,
)
_B_RESET = re.compile(
    rf"(?:reset|resets|cool\s*down|cooldown|stays open|open for|half-open after|retry after)"
    rf"\s*(?:after|for)?\s*[:=]?\s*(?P<v>\d+(?:\.\d+)?\s*{DURATION_UNITS})(?![A-Za-z])",
    re.I,
)
_B_ARROW = re.compile(
    r"^(?P<primary>.+?)\s*(?:→|->|=>|⇒|falls? back to|degrades? to)\s*(?P<fallback>.+)$", re.I
)


def parse_policy_bullet(kind: str, text: str) -> tuple[str, dict[str, str]] | None:
    """Read one bullet of a retry, breaker or fallback list into (target, row).

    >>> parse_policy_bullet("retry", "Ledger write: up to 4 retries, backoff 100ms, 1s, budget 5s")
    ('Ledger write', {'max': '4', 'backoff': '100ms, 1s', 'budget': '5s'})
    >>> parse_policy_bullet("breaker", "Card network: opens after 8 errors in 20s, reset 45s")
    ('Card network', {'trip': '8 errors in 20s', 'reset': '45s'})
    >>> parse_policy_bullet("fallback", "Live rates → cached rates")
    ('Live rates', {'primary': 'Live rates', 'fallback': 'cached rates'})
    """
    if kind == "fallback":
        arrow = _B_ARROW.match(clean(text))
        if arrow is None:
            return None
        primary = arrow["primary"].strip(" *`")
        return primary, {"primary": primary, "fallback": arrow["fallback"].strip()}
    head = _BULLET_TARGET.match(clean(text))
    if head is None:
        return None
    target, rest = head["target"].strip(), head["rest"]
    row: dict[str, str] = {}
    if kind == "retry":
        attempts = _B_ATTEMPTS.search(rest)
        maximum = _B_MAX.search(rest)
        if maximum is not None:
            row["max"] = maximum["n"] or maximum["m"]
        elif attempts is not None:
            row["attempts"] = attempts["n"]
        backoff = _B_BACKOFF.search(rest)
        if backoff is not None:
            row["backoff"] = backoff["v"].strip(" ,")
        budget = _B_BUDGET.search(rest)
        if budget is not None:
            row["budget"] = budget["v"]
    elif kind == "breaker":
        trip = _TRIP_WORDS.search(rest)
        if trip is not None:
            row["trip"] = clean(trip.group(0))
        reset = _B_RESET.search(rest)
        if reset is not None:
            row["reset"] = reset["v"]
    return (target, row) if row else None
