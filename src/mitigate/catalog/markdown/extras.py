"""Principles, the error-budget sentence, detection clauses and the runbook index.

>>> principle_fields("**Fail Closed:** For any security check, deny on failure.")
{'title': 'Fail Closed', 'text': 'For any security check, deny on failure.'}
>>> budget = budget_fields("If SLO (send latency) burns 30-day budget > 50% in any 7-day "
...                        "window, freeze adapter changes.")
>>> budget["slo"], budget["window"], budget["burn_threshold"], budget["burn_window"]
('send latency', '30d', '50%', '7d')
>>> budget["action"]
'freeze adapter changes'
>>> signal_clauses("Redis errors > 1 % over 5 min; readyz fails.")
['Redis errors > 1 % over 5 min']

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from typing import Any

from mitigate.catalog.markdown.text import clean, runbook_paths

__all__ = [
    "budget_fields",
    "index_entries",
    "principle_fields",
    "signal_clauses",
    "split_glued_items",
]

_GLUED = re.compile(r"(?<=[.!?])\s+[-–—•]\s+(?=[A-Z*_`\"'])")
_BOLD_TITLE = re.compile(
    r"^\s*(?:\*\*|__)(?P<t>[^*_]+?)(?:[:.]\s*)?(?:\*\*|__)\s*[:.]?\s*(?P<rest>.*)$", re.S
)
_PLAIN_TITLE = re.compile(r"^(?P<t>[A-Z][^:.!?]{1,60}?):\s+(?P<rest>\S.*)$", re.S)
_SENTENCE = re.compile(r"^(?P<t>.+?[.!?])\s+(?P<rest>[A-Z`\"'(].*)$", re.S)


def split_glued_items(text: str) -> list[str]:
    """Split list items that lost their line breaks: "One. - Two." -> two items.

    >>> split_glued_items("No silent failures. - Tenant isolation. A failure stays local.")
    ['No silent failures.', 'Tenant isolation. A failure stays local.']
    """
    return [part.strip() for part in _GLUED.split(text) if part.strip()]


def principle_fields(text: str) -> dict[str, Any]:
    """A principle's title and text: a bold lead, a "Title:" lead, or the first sentence.

    >>> principle_fields("Fail closed on writes. Reads degrade gracefully.")
    {'title': 'Fail closed on writes', 'text': 'Reads degrade gracefully.'}
    >>> principle_fields("Every call has a deadline")
    {'title': 'Every call has a deadline'}
    """
    value = clean(text)
    for pattern in (_BOLD_TITLE, _PLAIN_TITLE, _SENTENCE):
        match = pattern.match(value)
        if match is not None:
            title = match["t"].strip().rstrip(".:!?").strip()
            rest = match["rest"].strip()
            return {"title": title, "text": rest} if rest else {"title": title}
    return {"title": value.rstrip(".")}


_UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "w": 7, "wk": 7, "week": 7, "weeks": 7}
_PERIOD = r"(?P<n>\d+)\s*[- ]?\s*(?P<u>days?|d|weeks?|wk|w|hours?|h)\b"
_BUDGET_WINDOW = re.compile(_PERIOD + r"[^,;.]*?\bbudget", re.I)
_BURN_WINDOW = re.compile(r"(?:in|within|over|during)\s+(?:any|a|the|one|each)?\s*" + _PERIOD, re.I)
_BURN = re.compile(
    r"(?:>|≥|>=|more than|over|exceeds?|above|at least)\s*(?P<p>\d+(?:\.\d+)?)\s*%", re.I
)
_SLO = re.compile(
    r"\bSLOs?\b\s*(?:\((?P<p>[^)]*)\)|(?:for|of|on|:)\s+(?P<w>[^,;]+?)(?=\s+(?:burns?|uses?|exceeds?)))",
    re.I,
)
_ACTION = re.compile(r"(?:,|;|\bthen\b|→|->|:)\s*(?P<a>[^,;→]+?)\.?\s*$")


def _period(n: str, unit: str) -> str:
    unit = unit.lower()
    if unit.startswith("h"):
        return f"{n}h"
    return f"{int(n) * _UNIT_DAYS.get(unit, 1)}d"


def budget_fields(text: str) -> dict[str, Any] | None:
    """An error-budget policy sentence: SLO, budget window, burn threshold and window,
    and the action; ``None`` unless all of them are there."""
    value = clean(text)
    slo = _SLO.search(value)
    window = _BUDGET_WINDOW.search(value)
    burn = _BURN.search(value)
    action = _ACTION.search(value)
    if slo is None or window is None or burn is None or action is None:
        return None
    burn_window = _BURN_WINDOW.search(value, burn.end())
    if burn_window is None:
        return None
    return {
        "slo": (slo["p"] or slo["w"]).strip(),
        "window": _period(window["n"], window["u"]),
        "burn_threshold": f"{burn['p']}%",
        "burn_window": _period(burn_window["n"], burn_window["u"]),
        "action": action["a"].strip(),
    }


_COMPARATOR = re.compile(r"(?:>=|<=|≥|≤|>|<)\s*\d")
_CLAUSES = re.compile(r"\s*;\s*|(?<=[^\d\s])\.\s+|\n")


def signal_clauses(text: str) -> list[str]:
    """The clauses of a detection text that state a threshold (evaluable signals).

    >>> signal_clauses("rows> 1 000 sustained 10 min;lag p95 > 30 s.")
    ['rows> 1 000 sustained 10 min', 'lag p95 > 30 s']
    """
    clauses = []
    for clause in _CLAUSES.split(text):
        value = clause.strip().rstrip(".").strip()
        if _COMPARATOR.search(value):
            clauses.append(value)
    return clauses


_LINK = re.compile(r"\[(?P<t>[^\]]+)\]\((?P<p>[^)\s]+)\)")
_TITLE_AFTER = re.compile(r"^\s*`?(?P<p>[^\s`]+)`?\s*(?:[—–:-]|\s-\s)\s*(?P<t>.+)$")


def index_entries(text: str) -> list[tuple[str, str | None]]:
    """Runbook paths (and titles) listed on one line of a runbook index.

    >>> index_entries("- [DB failover](runbooks/db.md)")
    [('runbooks/db.md', 'DB failover')]
    >>> index_entries("db-failover.mdpublish-conflict.md")
    [('db-failover.md', None), ('publish-conflict.md', None)]
    >>> index_entries("`runbooks/kms.md` — KMS outage")
    [('runbooks/kms.md', 'KMS outage')]
    """
    value = text.strip().lstrip("-*+ ").strip()
    links = _LINK.findall(value)
    if links:
        return [(path, title.strip()) for title, path in links]
    paths = runbook_paths(value, anywhere=True)
    if len(paths) == 1:
        titled = _TITLE_AFTER.match(value)
        if titled is not None and titled["p"].strip("`") == paths[0]:
            return [(paths[0], titled["t"].strip())]
    return [(path, None) for path in paths]
