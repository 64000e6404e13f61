"""The canonical FAILURE_MODES.md layout: section titles, table columns and value codecs.

``render`` writes this layout and ``import`` reads it back, so both use the same column
lists and the same codec per value type; a value survives the trip because its encoder
and decoder sit side by side here.

>>> DURATION.encode("1s"), DURATION.encode(1.5), DURATION.encode("30")
('1s', '1.5', '"30"')
>>> DURATION.decode('"30"'), DURATION.decode("1.5"), DURATION.decode("1s")
('30', 1.5, '1s')
>>> NAMES.encode(["kms.sign", "content.retry.1"])
'`kms.sign`, `content.retry.1`'
>>> TEXT.decode(TEXT.encode("a | b\\nc"))
'a | b\\nc'

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BOOL",
    "BREAKER_COLUMNS",
    "BUDGET_BULLETS",
    "BULKHEAD_COLUMNS",
    "DURATION",
    "EXPERIMENT_BULLETS",
    "FAILURE_BULLETS",
    "FALLBACK_COLUMNS",
    "FLOAT",
    "INT",
    "JSON",
    "MARKER",
    "META_BULLETS",
    "METRIC_COLUMNS",
    "NAMES",
    "POLICY_COLUMNS",
    "POLICY_PARTS",
    "PRINCIPLE_COLUMNS",
    "RATE_LIMIT_COLUMNS",
    "RETRY_COLUMNS",
    "RULE_COLUMNS",
    "SECTION_TITLES",
    "SWITCH_COLUMNS",
    "TEXT",
    "Codec",
    "Column",
    "unescape",
]

MARKER = "<!-- mitigate:catalog v1 -->"
"""First line of a rendered document: the importer reads it field by field, without
drafting anything (no ids from numbers, no rules from detection text)."""

SECTION_TITLES = {
    "principles": "Principles",
    "failure_modes": "Failure modes",
    "policies": "Policies",
    "retry": "Retry / backoff",
    "breaker": "Circuit breakers",
    "bulkheads": "Bulkheads",
    "rate_limits": "Rate limits",
    "fallback": "Fallbacks",
    "switches": "Switches",
    "metrics": "Metrics",
    "rules": "Detection rules",
    "chaos": "Chaos experiments",
    "budget": "Error budget",
    "runbooks": "Runbook index",
}


def escape(text: str) -> str:
    r"""Make text safe inside a table cell or a one-line bullet.

    >>> escape("a | b\nc")
    'a \\| b<br>c'
    """
    text = re.sub(r"\\(?=[\\|])", r"\\\\", text)  # a backslash before \ or | is doubled
    return text.replace("|", "\\|").replace("\n", "<br>")


def unescape(text: str) -> str:
    r"""Undo :func:`escape` (cells are split on bare pipes before this runs).

    >>> unescape("a<br>b<br/>c")
    'a\nb\nc'
    """
    text = re.sub(r"<br\s*/?>", "\n", text)
    return re.sub(r"\\([\\|])", r"\1", text)


@dataclass(frozen=True, slots=True)
class Codec:
    """How one value type is written into a cell or bullet, and read back."""

    name: str
    encode: Callable[[Any], str]
    decode: Callable[[str], Any]


def _quoted(text: str) -> bool:
    return len(text) >= 2 and text.startswith('"') and text.endswith('"')


def _enc_text(value: Any) -> str:
    text = str(value)
    if text != text.strip() or not text or _quoted(text) or "<br" in text.lower() or "\r" in text:
        # Exact form for text a cell or bullet would change (outer spaces, a literal <br>):
        # a JSON string, with "<" escaped so no <br> appears in it.
        return escape(json.dumps(text, ensure_ascii=False).replace("<", "\\u003c"))
    return escape(text)


def _dec_text(cell: str) -> str:
    if _quoted(cell):
        try:
            decoded: str = json.loads(unescape(cell))
        except ValueError:
            return unescape(cell)
        return decoded
    return unescape(cell)


def _enc_number(value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _dec_number(cell: str) -> int | float:
    return int(cell) if re.fullmatch(r"-?\d+", cell) else float(cell)


def _enc_duration(value: Any) -> str:
    if isinstance(value, int | float):
        return _enc_number(value)
    text = str(value)
    if re.fullmatch(r"-?\d+(?:\.\d+)?", text) or text.startswith('"') or not text:
        return json.dumps(text)  # a string that would read back as a number stays a string
    return escape(text)


def _dec_duration(cell: str) -> float | str:
    if cell.startswith('"') and cell.endswith('"') and len(cell) >= 2:
        decoded: str = json.loads(cell)
        return decoded
    if re.fullmatch(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", cell):
        return float(cell)
    return unescape(cell)


def _enc_names(value: Any) -> str:
    return ", ".join(f"`{name}`" for name in value) if value else "[]"


def _dec_names(cell: str) -> list[str]:
    if cell == "[]":
        return []
    return [part.strip().strip("`") for part in cell.split(",") if part.strip().strip("`")]


def _enc_durations(value: Any) -> str:
    return ", ".join(_enc_duration(item) for item in value)


def _dec_durations(cell: str) -> list[float | str]:
    return [_dec_duration(part.strip()) for part in cell.split(",") if part.strip()]


def _enc_json(value: Any) -> str:
    return "`" + escape(json.dumps(value, ensure_ascii=False, sort_keys=True)) + "`"


def _dec_json(cell: str) -> Any:
    body = cell[1:-1] if cell.startswith("`") and cell.endswith("`") else cell
    return json.loads(unescape(body))


def _enc_code(value: Any) -> str:
    return f"`{value}`"


def _dec_code(cell: str) -> str:
    return cell.strip("`")


TEXT = Codec("text", _enc_text, _dec_text)
INT = Codec("int", _enc_number, lambda cell: int(cell))
FLOAT = Codec("float", _enc_number, lambda cell: float(cell))
BOOL = Codec("bool", lambda value: "yes" if value else "no", lambda cell: cell.lower() == "yes")
DURATION = Codec("duration", _enc_duration, _dec_duration)
DURATIONS = Codec("durations", _enc_durations, _dec_durations)
NAMES = Codec("names", _enc_names, _dec_names)
JSON = Codec("json", _enc_json, _dec_json)
CODE = Codec("code", _enc_code, _dec_code)


@dataclass(frozen=True, slots=True)
class Column:
    """One model field shown as a table column (or a bullet label)."""

    header: str
    field: str
    codec: Codec = TEXT


def _columns(*specs: tuple[str, str, Codec] | tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


POLICY_COLUMNS = _columns(
    ("Target", "target", CODE),
    ("Timeout", "timeout", DURATION),
    ("Fallback", "fallback", CODE),
    ("Description", "description"),
    ("Source", "source"),
)
RETRY_COLUMNS = _columns(
    ("Target", "target", CODE),
    ("Id", "id", CODE),
    ("Max", "max", INT),
    ("Backoff", "backoff"),
    ("Budget", "budget", DURATION),
    ("Max retries", "max_retries", INT),
    ("Schedule", "schedule", DURATIONS),
    ("Base", "base", DURATION),
    ("Factor", "factor", FLOAT),
    ("Cap", "cap", DURATION),
    ("Jitter", "jitter"),
    ("Honor Retry-After", "honor_retry_after", BOOL),
    ("Description", "description"),
    ("Source", "source"),
)
BREAKER_COLUMNS = _columns(
    ("Target", "target", CODE),
    ("Id", "id", CODE),
    ("Trip", "trip"),
    ("Failures", "failures", INT),
    ("Window", "window", DURATION),
    ("Reset", "reset", DURATION),
    ("Failure rate", "failure_rate", FLOAT),
    ("Slow-call rate", "slow_call_rate", FLOAT),
    ("Slow call", "slow_call_duration", DURATION),
    ("Window calls", "window_calls", INT),
    ("Minimum calls", "minimum_calls", INT),
    ("Half-open probes", "half_open_probes", INT),
    ("Successes to close", "successes_to_close", INT),
    ("Switches", "switches", NAMES),
    ("Description", "description"),
    ("Source", "source"),
)
BULKHEAD_COLUMNS = _columns(
    ("Target", "target", CODE),
    ("Id", "id", CODE),
    ("Max concurrent", "max_concurrent", INT),
    ("Max queued", "max_queued", INT),
    ("Description", "description"),
    ("Source", "source"),
)
RATE_LIMIT_COLUMNS = _columns(
    ("Target", "target", CODE),
    ("Id", "id", CODE),
    ("Limit", "limit"),
    ("Rate", "rate", FLOAT),
    ("Per", "per", DURATION),
    ("Burst", "burst", INT),
    ("Algorithm", "algorithm"),
    ("Description", "description"),
    ("Source", "source"),
)
# Policy subsections, in document order: section kind -> (Policy attribute, its columns).
POLICY_PARTS: dict[str, tuple[str, tuple[Column, ...]]] = {
    "retry": ("retry", RETRY_COLUMNS),
    "breaker": ("breaker", BREAKER_COLUMNS),
    "bulkheads": ("bulkhead", BULKHEAD_COLUMNS),
    "rate_limits": ("rate_limit", RATE_LIMIT_COLUMNS),
}
FALLBACK_COLUMNS = _columns(
    ("Id", "id", CODE),
    ("Primary", "primary"),
    ("Fallback", "fallback"),
    ("User sees", "user_sees"),
    ("Policy", "policy", CODE),
    ("Value", "value", JSON),
    ("Max age", "max_age", DURATION),
    ("Description", "description"),
    ("Source", "source"),
)
RULE_COLUMNS = _columns(
    ("Id", "id", CODE),
    ("Signal", "signal"),
    ("Kind", "kind"),
    ("Event", "event", CODE),
    ("Of", "of", NAMES),
    ("Metric", "metric", CODE),
    ("Field", "field", CODE),
    ("Target", "target", CODE),
    ("Labels", "labels", JSON),
    ("Op", "op", CODE),
    ("Threshold", "threshold", FLOAT),
    ("Window", "window", DURATION),
    ("Sustained", "sustained", DURATION),
    ("Min count", "min_count", INT),
    ("Severity", "severity"),
    ("Runbook", "runbook", CODE),
    ("Description", "description"),
)
SWITCH_COLUMNS = _columns(
    ("Id", "id", CODE),
    ("Description", "description"),
)
METRIC_COLUMNS = _columns(
    ("Name", "name", CODE),
    ("Type", "type"),
    ("Description", "description"),
)
PRINCIPLE_COLUMNS = _columns(
    ("Id", "id", CODE),
    ("Principle", "title"),
    ("Detail", "text"),
    ("Mitigated by", "mitigated_by", NAMES),
    ("Detection rules", "detection_rules", NAMES),
    ("Experiments", "experiments", NAMES),
    ("Source", "source"),
)

# Bullets of a failure-mode section, in the order they are written.
FAILURE_BULLETS = _columns(
    ("Id", "id", CODE),
    ("Title", "title"),
    ("Category", "category"),
    ("Trigger", "trigger"),
    ("Symptom", "symptom"),
    ("Detection", "detection"),
    ("Detection rules", "detection_rules", NAMES),
    ("Blast radius", "blast_radius"),
    ("User impact", "user_impact"),
    ("Automatic mitigation", "automatic_mitigation"),
    ("Mitigated by", "mitigated_by", NAMES),
    ("Manual mitigation", "manual_mitigation"),
    ("Runbook", "runbook", CODE),
    ("Experiments", "experiments", NAMES),
    ("Severity", "severity"),
    ("Accepted risk", "accepted_risk"),
    ("Source", "source"),
)
EXPERIMENT_BULLETS = _columns(
    ("Id", "id", CODE),
    ("Title", "title"),
    ("Fault", "fault"),
    ("Target", "target", CODE),
    ("Peer", "peer", CODE),
    ("Duration", "duration", DURATION),
    ("Rate", "rate", FLOAT),
    ("Latency", "latency", DURATION),
    ("When", "when"),
    ("Failure modes", "failure_modes", NAMES),
    ("Principles", "principles", NAMES),
    ("Description", "description"),
    ("Source", "source"),
)
BUDGET_BULLETS = _columns(
    ("Id", "id", CODE),
    ("SLO", "slo"),
    ("Objective", "objective", FLOAT),
    ("Window", "window", DURATION),
    ("Burn threshold", "burn_threshold", FLOAT),
    ("Burn window", "burn_window", DURATION),
    ("Action", "action"),
    ("Event", "event", CODE),
    ("Of", "of", NAMES),
    ("Target", "target", CODE),
    ("Severity", "severity"),
    ("Source", "source"),
)
META_BULLETS = _columns(
    ("Service", "service", CODE),
    ("Title", "title"),
    ("Description", "description"),
    ("Owner", "owner"),
    ("Source", "source"),
    ("Defaults", "defaults", JSON),
    ("Real time", "real_time", NAMES),
)
