"""Read the notation of the seeds' retry and breaker tables into policies.

Retry rows have three columns: "Max", "Backoff", "Budget". **"Max" counts retries after
the first attempt** (the tables list three delays for max 3), so max 3 means up to 4
attempts. Backoff is a list of delays (the last one repeats: the AI call's single "1s"
with max 2 waits 1s twice), ``exp a–b`` (exponential from base ``a``, doubling, capped
at ``b``) or ``exp cap c`` (capped at ``c``; the base is not in the row, so it must come
from the caller or the catalog's defaults, never from a guess). The budget is the total
time over all attempts and waits; words like "total" and notes in parentheses are
allowed ("15 min total", "15min (saga timeout)").

>>> retry = parse_retry(max="3", backoff="50ms, 200ms, 500ms", budget="1s")
>>> retry.max_retries, retry.delays(), retry.budget
(3, (0.05, 0.2, 0.5), 1.0)
>>> parse_retry(max="5", backoff="exp, cap 30s", budget="15min (saga timeout)", base="4s").delays()
(4.0, 8.0, 16.0, 30.0, 30.0)
>>> breaker = parse_breaker(trip="10 fail / 30s", reset="60s")
>>> breaker.failures, breaker.window, breaker.reset
(10, 30.0, 60.0)

A bad string is refused with the offending token marked:

>>> parse_retry(max="5", backoff="exp 100ms–10z", budget="30s")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mitigate.errors.NotationError: [MITIGATE.CONFIG.NOTATION] backoff 'exp 100ms–10z': '10z' is ...
    exp 100ms–10z
              ^^^

.. versionadded:: 0.1
"""

from __future__ import annotations

import math
import re
from typing import Final

from mitigate.errors import ConfigError, DurationError, NotationError, TooLargeError
from mitigate.policy.breaker import Breaker
from mitigate.policy.retry import DEFAULT_FACTOR, Jitter, Retry

__all__ = ["format_duration", "parse_breaker", "parse_duration", "parse_retry"]

MAX_RETRIES: Final = 1000
"""Most retries a row may give: a schedule holds one delay per retry."""
MAX_FAILURES: Final = 1_000_000
"""Most failures a breaker row may count before it trips."""
_DURATION_HINT: Final = "write e.g. 200ms, 5s, 2m"

_UNITS: Final = {
    "ms": 0.001, "msec": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip
_DURATION_RE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")
_TOKEN_RE: Final = re.compile(
    r"(?P<dur>\d+(?:\.\d+)?[a-zA-Z]+)"
    r"|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<word>[a-zA-Z]+)"
    r"|(?P<dash>[–—-]|\.\.)"
    r"|(?P<sep>[,;/])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)"
)


def parse_duration(text: str | float) -> float:
    """Read a duration as written in the seed tables, in seconds.

    >>> parse_duration("200ms")
    0.2
    >>> parse_duration("2m"), parse_duration("15 min"), parse_duration("10min")
    (120.0, 900.0, 600.0)
    >>> parse_duration("soon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.errors.DurationError: [MITIGATE.CONFIG.DURATION] 'soon' is not a duration; ...

    .. versionadded:: 0.1
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0 or math.isnan(text):
            raise DurationError(None, f"{text!r} is not a duration", hint=_DURATION_HINT)
        return float(text)
    if not isinstance(text, str):
        raise DurationError(None, f"{text!r} is not a duration", hint=_DURATION_HINT)
    match = _DURATION_RE.match(text)
    factor = _UNITS.get(match[2].lower()) if match else None
    if match is None or factor is None:
        if text.strip() == "0":
            return 0.0
        raise DurationError(None, f"{text!r} is not a duration", hint=_DURATION_HINT)
    # Round away binary noise (0.05 * 1 is exact; 0.1 * 60 is not always).
    value = round(float(match[1]) * factor, 9)
    if not math.isfinite(value):
        raise TooLargeError(None, f"{text[:40]!r} is too large for a duration")
    return value


def format_duration(seconds: float) -> str:
    """Write seconds back in the tables' notation (the shortest exact form).

    >>> [format_duration(s) for s in (0.05, 0.2, 1.0, 1.5, 60.0, 90.0, 120.0, 900.0, 7200.0)]
    ['50ms', '200ms', '1s', '1.5s', '60s', '90s', '2m', '15m', '2h']

    .. versionadded:: 0.1
    """
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000, 6):g}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size and abs(seconds / size - round(seconds / size)) < 1e-9:
            return f"{round(seconds / size)}{unit}"
    return f"{round(seconds, 6):g}s"


class _Token:
    __slots__ = ("end", "kind", "start", "text")

    def __init__(self, kind: str, text: str, start: int) -> None:
        self.kind = kind
        self.text = text
        self.start = start
        self.end = start + len(text)

    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup or "other"
        if kind == "space":
            continue
        token = _Token(kind, match[0], match.start())
        last = found[-1] if found else None
        if kind == "word" and last is not None and last.kind == "num" and token.word() in _UNITS:
            # "15 min": a number and a unit apart still make one duration.
            found[-1] = _Token("dur", text[last.start : token.end], last.start)
        else:
            found.append(token)
    return found


def _error(
    column: str,
    text: str,
    problem: str,
    hint: str,
    token: _Token | None,
    target: str | None,
    kind: type[NotationError] | type[TooLargeError] = NotationError,
) -> ConfigError:
    start, end = (token.start, token.end) if token is not None else (len(text), len(text) + 1)
    caret = " " * start + "^" * max(1, end - start)
    return kind(
        target,
        f"{column} {text!r}: {problem}",
        hint=f"{hint}\n    {text}\n    {caret}",
    )


def _duration(column: str, text: str, token: _Token, target: str | None) -> float:
    if token.kind not in ("dur", "num"):
        raise _error(
            column, text, f"{token.text!r} is not a duration", _DURATION_HINT, token, target
        )
    try:
        return parse_duration(token.text)
    except ConfigError:
        raise _error(
            column, text, f"{token.text!r} is not a duration", _DURATION_HINT, token, target
        ) from None


def _blank_notes(text: str) -> str:
    # "(saga timeout)" is a note for readers; blank it out, keeping positions for carets.
    return re.sub(r"\([^)]*\)", lambda m: " " * len(m[0]), text)


def parse_retry(
    max: str | int,
    backoff: str,
    budget: str | float | None = None,
    *,
    base: str | float | None = None,
    factor: float | None = None,
    jitter: Jitter = "none",
    target: str | None = None,
) -> Retry:
    """Build a :class:`~mitigate.Retry` from one row of a seed retry table.

    ``base`` completes rows that give no base (``"exp cap 30s"``): pass the catalog's
    default. Without it such a row is refused, saying what to add:

    >>> parse_retry(max="5", backoff="exp cap 30s", budget="15 min total")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.errors.NotationError: [MITIGATE.CONFIG.NOTATION] backoff 'exp cap 30s': ...
        exp cap 30s
        ^^^

    .. versionadded:: 0.1
    """
    retries = _parse_max(max, target)
    schedule, row_base, cap = _parse_backoff(backoff, retries, base, target)
    return Retry(
        retries,
        schedule=schedule,
        base=row_base,
        cap=cap,
        factor=DEFAULT_FACTOR if factor is None else factor,
        jitter=jitter,
        budget=_parse_budget(budget, target),
    )


def _whole(column: str, text: str, token: _Token, limit: int, target: str | None) -> int:
    # Compare digits before int(): int() of thousands of digits is refused (or slow).
    digits = token.text.lstrip("0") or "0"
    if len(digits) > len(str(limit)) or int(digits) > limit:
        raise _error(
            column,
            text,
            f"is more than {limit}",
            "give a smaller number",
            token,
            target,
            TooLargeError,
        )
    return int(digits)


def _parse_max(value: str | int, target: str | None) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise NotationError(target, f"max {value!r} is negative")
        if value > MAX_RETRIES:
            raise TooLargeError(target, f"max {value} is more than {MAX_RETRIES} retries")
        return value
    text = str(value)
    tokens = _tokens(text)
    if len(tokens) == 1 and tokens[0].kind == "num" and "." not in tokens[0].text:
        return _whole("max", text, tokens[0], MAX_RETRIES, target)
    bad = next(
        (t for t in tokens if t.kind != "num" or "." in t.text),
        tokens[1] if len(tokens) > 1 else None,
    )
    raise _error(
        "max",
        text,
        "is not a whole number of retries",
        "write the retries after the first attempt, e.g. 3",
        bad,
        target,
    )


def _parse_backoff(
    text: str, retries: int, default_base: str | float | None, target: str | None
) -> tuple[tuple[float, ...], float | None, float | None]:
    """(schedule, base, cap) from the Backoff column."""
    tokens = _tokens(text)
    column = "backoff"
    if not tokens:
        raise _error(
            column, text, "is empty", "write e.g. 50ms, 200ms or exp 100ms–10s", None, target
        )
    if tokens[0].word() in ("exp", "exponential"):
        return _parse_exponential(text, tokens, default_base, target)
    schedule: list[float] = []
    expect_delay = True
    for token in tokens:
        if expect_delay:
            schedule.append(_duration(column, text, token, target))
        elif token.kind != "sep" or token.text == "/":
            raise _error(
                column,
                text,
                f"unexpected {token.text!r}",
                "separate delays with commas",
                token,
                target,
            )
        expect_delay = not expect_delay
    if expect_delay:
        raise _error(column, text, "ends with a separator", "end with a delay", None, target)
    if len(schedule) > max(retries, 1):
        extra = [t for t in tokens if t.kind != "sep"][retries]
        raise _error(
            column,
            text,
            f"lists {len(schedule)} delays but max is {retries}",
            "give one delay per retry (the last one repeats) or raise max",
            extra,
            target,
        )
    return tuple(schedule), None, None


def _parse_exponential(
    text: str, tokens: list[_Token], default_base: str | float | None, target: str | None
) -> tuple[tuple[float, ...], float | None, float | None]:
    column = "backoff"
    rest = [t for t in tokens[1:] if t.kind != "sep" or t.text == "/"]
    base: float | None = None
    cap: float | None = None
    i = 0
    if i < len(rest) and rest[i].kind in ("dur", "num"):
        base = _duration(column, text, rest[i], target)
        i += 1
        if i < len(rest) and (rest[i].kind == "dash" or rest[i].word() == "to"):
            if i + 1 >= len(rest):
                raise _error(
                    column,
                    text,
                    "a range needs an upper bound",
                    "write e.g. exp 100ms–10s",
                    None,
                    target,
                )
            cap = _duration(column, text, rest[i + 1], target)
            i += 2
    if i < len(rest) and rest[i].word() in ("cap", "max"):
        if i + 1 >= len(rest):
            raise _error(
                column, text, "cap needs a duration", "write e.g. exp cap 30s", None, target
            )
        cap = _duration(column, text, rest[i + 1], target)
        i += 2
    if i < len(rest):
        raise _error(
            column,
            text,
            f"unexpected {rest[i].text!r}",
            "write exp 100ms–10s, exp cap 30s or exp 1s cap 30s",
            rest[i],
            target,
        )
    if base is None:
        if default_base is None:
            raise _error(
                column,
                text,
                "the row gives no base delay",
                'pass base= (the catalog\'s defaults.retry.base), e.g. base="4s"',
                tokens[0],
                target,
            )
        try:
            base = parse_duration(default_base)
        except ConfigError as exc:
            raise NotationError(
                target, f"base {default_base!r}: {exc.message}", hint=exc.hint
            ) from None
        if base <= 0:
            raise NotationError(target, f"base {default_base!r} must be above zero")
    if cap is not None and cap < base:
        raise _error(
            column,
            text,
            f"cap {format_duration(cap)} is below the base {format_duration(base)}",
            "the cap bounds the largest delay",
            tokens[-1],
            target,
        )
    return (), base, cap


def _parse_budget(value: str | float | None, target: str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_duration(value) or None
    text = str(value)
    if not text.strip() or text.strip() in ("-", "—", "none"):
        return None
    tokens = _tokens(_blank_notes(text))
    words = [t for t in tokens if t.word() not in ("total", "overall")]
    if len(words) != 1:
        bad = words[1] if len(words) > 1 else None
        raise _error(
            "budget", text, "is not one duration", "write e.g. 1s, 30s or 15 min total", bad, target
        )
    seconds = _duration("budget", text, words[0], target)
    if seconds <= 0:
        raise _error("budget", text, "must be above zero", "write e.g. 1s", words[0], target)
    return seconds


def parse_breaker(trip: str, reset: str | float, *, target: str | None = None) -> Breaker:
    """Build a :class:`~mitigate.Breaker` from one row of a seed breaker table.

    ``trip`` reads "N fail / window" (also "N / window", "N failures in window").

    >>> b = parse_breaker("5 / 30s", "60s"); b.failures, b.window, b.reset
    (5, 30.0, 60.0)
    >>> parse_breaker("10 fails / soon", "60s")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mitigate.errors.NotationError: [MITIGATE.CONFIG.NOTATION] trip '10 fails / soon': ...
        10 fails / soon
                   ^^^^

    .. versionadded:: 0.1
    """
    failures, window = _parse_trip(trip, target)
    if isinstance(reset, str):
        tokens = _tokens(_blank_notes(reset))
        if len(tokens) != 1:
            raise _error(
                "reset",
                reset,
                "is not one duration",
                _DURATION_HINT,
                tokens[1] if tokens else None,
                target,
            )
        reset_s = _duration("reset", reset, tokens[0], target)
    else:
        reset_s = parse_duration(reset)
    if reset_s <= 0:
        raise NotationError(target, f"reset {reset!r} must be above zero")
    return Breaker(failures, window, reset_s)


def _parse_trip(text: str, target: str | None) -> tuple[int, float]:
    tokens = _tokens(text)
    column = "trip"
    hint = "write e.g. 10 fail / 30s"
    if not tokens or tokens[0].kind != "num" or "." in tokens[0].text:
        # "10fail" lexes as one duration-like token: point at it all the same.
        first = tokens[0] if tokens else None
        raise _error(
            column, text, "must start with a whole number of failures", hint, first, target
        )
    failures = _whole(column, text, tokens[0], MAX_FAILURES, target)
    i = 1
    if i < len(tokens) and tokens[i].word() in (
        "fail",
        "fails",
        "failure",
        "failures",
        "errors",
        "error",
    ):
        i += 1
    if i >= len(tokens) or not (
        tokens[i].text == "/" or tokens[i].word() in ("in", "per", "within")
    ):
        raise _error(
            column, text, "needs '/ window'", hint, tokens[i] if i < len(tokens) else None, target
        )
    i += 1
    if i >= len(tokens):
        raise _error(column, text, "needs a window after '/'", hint, None, target)
    window = _duration(column, text, tokens[i], target)
    if i + 1 < len(tokens):
        raise _error(
            column, text, f"unexpected {tokens[i + 1].text!r}", hint, tokens[i + 1], target
        )
    if failures < 1 or window <= 0:
        raise _error(
            column, text, "needs at least 1 failure in a window above zero", hint, tokens[0], target
        )
    return failures, window
