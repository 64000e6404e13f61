"""Read a retry policy written in prose: "up to 6 attempts over 5 min", "max 3 attempts
with backoff", "retried with exponential backoff (1s, 3s, 9s)", "retries 4 times".

Only a sentence that gives a number of attempts or retries drafts a policy; "retried with
backoff" alone says too little to build one and stays text.

>>> retry_from_prose("Writes are retried up to 6 attempts over 5 min, then parked.")
{'max': 5, 'budget': '5m'}
>>> retry_from_prose("The run is requeued, max 3 attempts with backoff.")
{'max': 2}
>>> retry_from_prose("Each failed attempt is retried with exponential backoff (1s, 3s, 9s).")
{'max': 3, 'backoff': '1s, 3s, 9s'}
>>> retry_from_prose("The subscriber reconnects.") is None
True

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ASSUMED_BACKOFF", "retry_from_prose"]

_UNIT = r"(?:ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)"
_DURATION = rf"(\d+(?:\.\d+)?)\s*({_UNIT})\b"
_ATTEMPTS = re.compile(
    r"\b(?:up to|max(?:imum)?(?: of)?|at most|no more than)\s+(\d+)\s+(attempts|tries|retries)\b"
    rf"(?:\s+(?:over|within|in)\s+{_DURATION})?",
    re.I,
)
_TIMES = re.compile(r"\bretr(?:y|ies|ied)\s+(?:up to\s+)?(\d+)\s+times\b", re.I)
_LIST = re.compile(rf"\(\s*({_DURATION}(?:\s*,\s*{_DURATION})+)\s*\)", re.I)
_UNITS = {"ms": "ms", "s": "s", "m": "m", "h": "h"}


def _unit(word: str) -> str:
    word = word.lower()
    if word.startswith("ms") or word.startswith("milli"):
        return "ms"
    return _UNITS.get(word[0], "s")


def _duration(number: str, unit: str) -> str:
    return f"{number}{_unit(unit)}"


def retry_from_prose(text: str) -> dict[str, Any] | None:
    """RetrySpec fields (table notation) for the retry a sentence describes, or ``None``."""
    out: dict[str, Any] = {}
    attempts = _ATTEMPTS.search(text)
    schedule = _LIST.search(text)
    delays = (
        [_duration(m[1], m[2]) for m in re.finditer(_DURATION, schedule[1], re.I)]
        if schedule is not None
        else []
    )
    if attempts is not None:
        count = int(attempts[1])
        retries = count if attempts[2].lower() == "retries" else count - 1
        out["max"] = max(retries, 0)
        if attempts[3]:
            out["budget"] = _duration(attempts[3], attempts[4])
    elif (times := _TIMES.search(text)) is not None:
        out["max"] = int(times[1])
    elif delays and re.search(r"\bretr(?:y|ies|ied)\b", text, re.I):
        out["max"] = len(delays)  # one retry per listed delay
    if "max" not in out:
        return None
    if delays:
        out["backoff"] = ", ".join(delays)
    return out


ASSUMED_BACKOFF = "exp 1s–30s"
"""The delays a draft takes when the prose gives none (the description says so)."""
