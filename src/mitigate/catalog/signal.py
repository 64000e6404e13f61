"""Read a detection signal as people write it into the fields of a :class:`DetectionRule`.

Only the shape of the sentence is used (a subject, a comparator, a number with a unit,
an optional window and an optional "sustained for"), never a particular document's
wording, so signals from any team's document read the same way. What cannot be read is
left out: a rule without ``kind`` is documentation only, and lint says so.

>>> parse_signal("virtual_session.failed count > 5 in 5 min")
{'op': '>', 'threshold': 5.0, 'window': '5 min', 'kind': 'count', 'event': 'virtual_session.failed'}
>>> parse_signal("per-adapter error rate > 20% 5 min")["kind"]
'ratio'
>>> parse_signal("relay liveness fails")
{}

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_signal"]

_UNIT = r"(?:ms|msec|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)"
_DURATION = rf"\d+(?:\.\d+)?\s*{_UNIT}"
_NUMBER = r"\d{1,3}(?:[ ,\u202f]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_COMPARE = re.compile(
    rf"(?P<op>>=|<=|≥|≤|>|<)\s*(?P<num>{_NUMBER})\s*"
    rf"(?P<unit>%|x\b|×|{_UNIT}\b)?",
    re.IGNORECASE,
)
_SUSTAINED = re.compile(rf"\b(?:sustained(?:\s+for)?|for)\s+(?P<d>{_DURATION})\b", re.IGNORECASE)
_WINDOW = re.compile(
    rf"(?:\b(?:over|in|within|per|during)\s+(?:the\s+last\s+|a\s+)?)?(?P<d>{_DURATION})\b",
    re.IGNORECASE,
)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[._][A-Za-z0-9]+)+")
_OPS = {"≥": ">=", "≤": "<="}
_ERROR_WORDS = ("error", "fail", "5xx")


def parse_signal(text: str) -> dict[str, Any]:
    """The :class:`~mitigate.catalog.model.DetectionRule` fields ``text`` gives.

    Thresholds come back in natural units: a percentage as a fraction, a duration in
    seconds. Windows and sustain times are kept as written.

    >>> parse_signal("lag > 30 s")
    {'op': '>', 'threshold': 30.0, 'kind': 'gauge', 'metric': 'lag'}
    >>> parse_signal("theme_outbox_unpublished_rows > 1 000 sustained 10 min")["sustained"]
    '10 min'
    >>> parse_signal("cache hit ratio < 90%")
    {'op': '<', 'threshold': 0.9}
    """
    match = _COMPARE.search(text)
    if not match:
        return {}
    out: dict[str, Any] = {}
    out["op"] = _OPS.get(match["op"], match["op"])
    unit = (match["unit"] or "").lower()
    number = float(re.sub(r"[ ,\u202f]", "", match["num"]))
    out["threshold"] = _in_natural_units(number, unit)

    rest = text[match.end() :]
    sustained = _SUSTAINED.search(rest)
    if sustained:
        out["sustained"] = _tidy(sustained["d"])
        rest = rest[: sustained.start()] + rest[sustained.end() :]
    window = _WINDOW.search(rest)
    if window:
        out["window"] = _tidy(window["d"])

    subject = text[: match.start()].strip()
    out.update(_subject(subject, unit, has_window=window is not None))
    return out


def _in_natural_units(number: float, unit: str) -> float:
    if unit == "%":
        return number / 100.0
    if unit in ("", "x", "×"):
        return number
    if unit.startswith(("ms", "milli")):
        return number * 0.001
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    return number * scale[unit[0]]


def _tidy(duration: str) -> str:
    return re.sub(r"\s+", " ", duration.strip())


def _subject(subject: str, unit: str, *, has_window: bool) -> dict[str, Any]:
    words = subject.lower().split()
    if not words:
        return {}
    identifier = _IDENTIFIER.search(subject)
    name = identifier[0] if identifier else None
    last = words[-1]
    # Relative thresholds ("10x baseline") and quantiles need a baseline or a histogram:
    # leave them to the author.
    if unit in ("x", "×") or any(w in ("p50", "p90", "p95", "p99") for w in words):
        return {}
    if last == "count" and name and has_window:
        return {"kind": "count", "event": name}
    if last == "age":
        event = name or _slug(" ".join(words[:-1]))
        return {"kind": "age", "event": event} if event else {}
    if last in ("rate", "ratio") or unit == "%":
        is_error = any(w.startswith(_ERROR_WORDS) for w in words)
        if unit == "%" and is_error and has_window:
            return {"kind": "ratio", "event": "attempt.failed", "of": ["attempt.started"]}
        if last == "rate" and unit == "" and name and has_window:
            return {"kind": "rate", "event": name}
        return {}
    if unit == "%" or has_window:
        return {}
    # A short plain subject ("lag", "scan queue") names a gauge; a long one is prose.
    metric = name or (_slug(subject) if len(words) <= 3 else "")
    return {"kind": "gauge", "metric": metric} if metric else {}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
