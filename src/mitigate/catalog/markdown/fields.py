"""Recognise field labels ("Cause:", "**Mitigation:**", "Blast radius") whatever a team calls them.

Every team names the same things differently: a failure's *trigger* is its cause, root
cause or why; its *detection* is a signal, alert or monitor. A label is matched against a
synonym table (exact, then after dropping filler words, then by close spelling), never
against one document's wording. A label that is not recognised stays text: "Publish saga
compensation: discard package" is a mitigation step, not a field.

>>> match_label("Root cause")
'trigger'
>>> match_label("**Customer experience**")
'user_impact'
>>> match_label("Mitgation")
'mitigation'
>>> match_label("Publish saga compensation") is None
True
>>> split_label("Detection: lag > 30 s")
('detection', 'lag > 30 s')

.. versionadded:: 0.1
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

__all__ = [
    "FAILURE_FIELDS",
    "POLICY_FIELDS",
    "match_label",
    "match_labels",
    "normalise_label",
    "split_inline_run",
    "split_label",
]

# Canonical failure-mode field -> the phrases teams use for it (normalised, lower case).
FAILURE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "identifier", "key", "ref", "reference id", "fm id"),
    "number": ("#", "no", "nr", "number", "num", "n", "row", "seq"),
    "title": (
        "failure mode",
        "failure",
        "failure scenario",
        "scenario",
        "title",
        "name",
        "mode",
        "issue",
        "risk",
        "problem",
        "incident",
        "fault",
        "what fails",
        "event",
        "failure name",
        "summary",
        "hazard",
        "threat",
    ),
    "category": ("category", "class", "classification", "type", "area", "kind", "group"),
    "component": ("component", "dependency", "system", "subsystem", "service", "module"),
    "trigger": (
        "trigger",
        "triggers",
        "cause",
        "causes",
        "root cause",
        "likely cause",
        "possible causes",
        "why",
        "origin",
        "source",
        "precondition",
        "when",
        "triggered by",
        "caused by",
        "failure cause",
        "when it occurs",
        "when it happens",
        "definition",
    ),
    "symptom": (
        "symptom",
        "symptoms",
        "what happens",
        "observed",
        "observation",
        "signs",
        "manifestation",
        "presentation",
        "failure symptom",
        "what you see",
    ),
    "detection": (
        "detection",
        "detect",
        "detected by",
        "how detected",
        "how to detect",
        "signal",
        "signals",
        "alert",
        "alerts",
        "alerting",
        "monitoring",
        "monitor",
        "indicator",
        "indicators",
        "metric",
        "metrics",
        "alarm",
        "observability",
        "detection signal",
        "detection rule",
        "sli",
        "telemetry",
        "operational signal",
        "operational signals",
        "operator checks",
        "evidence to capture",
    ),
    "blast_radius": (
        "blast radius",
        "scope",
        "affected",
        "radius",
        "who is affected",
        "reach",
        "affected scope",
        "affected users",
        "blast",
    ),
    "user_impact": (
        "impact",
        "user impact",
        "customer impact",
        "customer experience",
        "user experience",
        "ux",
        "what users see",
        "effect",
        "effects",
        "consequence",
        "consequences",
        "business impact",
        "user visible effect",
        "visible effect",
        "operational impact",
    ),
    "mitigation": (
        "mitigation",
        "mitigations",
        "automatic mitigation",
        "auto mitigation",
        "automated mitigation",
        "containment",
        "contain",
        "mitigation strategy",
        "automatic response",
        "automated response",
        "auto remediation",
        "self healing",
        "countermeasure",
        "countermeasures",
        "defence",
        "defense",
        "protection",
        "safeguard",
        "safeguards",
        "handling",
        "strategy",
        "resilience",
        "mitigation steps",
        "auto recovery",
        "automatic recovery",
        "behavior",
        "behaviour",
        "expected behavior",
        "expected behaviour",
        "system response",
        "system behavior",
        "system behaviour",
        "compensation",
    ),
    "response": ("response", "reaction", "action", "actions", "remediation"),
    "manual": (
        "manual mitigation",
        "manual response",
        "manual steps",
        "manual action",
        "manual recovery",
        "operator action",
        "operator response",
        "operator steps",
        "on call action",
        "human response",
        "escalation",
        "playbook steps",
        "recovery steps",
        "manual remediation",
        "recovery",
        "user action",
        "restore",
        "resolution",
        "fix",
    ),
    "runbook": (
        "runbook",
        "runbooks",
        "playbook",
        "runbook anchor",
        "runbook link",
        "operator runbook",
        "procedure",
        "sop",
        "docs",
        "documentation",
    ),
    "severity": ("severity", "sev", "priority", "criticality", "level", "impact level"),
    "rto": (
        "rto",
        "recovery time",
        "time to recover",
        "recovery time objective",
        "mttr",
        "target recovery",
        "restore time",
        "time to restore",
    ),
    "rpo": ("rpo", "recovery point", "data loss window", "recovery point objective"),
    "verification": (
        "verification",
        "verify",
        "test",
        "tests",
        "testing",
        "chaos test",
        "experiment",
        "chaos experiment",
        "validation",
        "how tested",
        "proof",
        "game day",
        "evidence",
    ),
    "accepted_risk": ("accepted risk", "residual risk", "risk acceptance", "known risk"),
    "likelihood": ("likelihood", "probability", "frequency"),
    "owner": ("owner", "owners", "team", "owning team", "responsible"),
    "notes": ("notes", "note", "comment", "comments", "remarks", "description"),
    "details": ("details", "other details", "more"),
    "experiments": ("experiments", "experiment ids", "chaos experiments"),
    "rules": ("detection rules", "rules", "rule ids", "alert rules"),
    "policies": ("mitigated by", "policies", "policy", "automatic policies", "policy refs"),
    "source": ("source", "provenance", "drafted from"),
}

# Canonical policy-table column -> phrases (retry, breaker, fallback, timeout tables).
POLICY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "identifier", "key"),
    "target": (
        "target",
        "operation",
        "op",
        "dependency",
        "call",
        "name",
        "service",
        "downstream",
        "endpoint",
        "resource",
        "component",
        "client",
        "integration",
        "what",
        "action",
        "step",
        "policy",
        "upstream",
    ),
    "max": (
        "max",
        "max retries",
        "retries",
        "retry count",
        "count",
        "retry limit",
        "n",
        "maximum",
        "maximum retries",
        "number of retries",
        "retries after first",
    ),
    "attempts": (
        "attempts",
        "max attempts",
        "tries",
        "max tries",
        "maximum attempts",
        "number of attempts",
        "total attempts",
        "calls",
    ),
    "backoff": (
        "backoff",
        "back off",
        "schedule",
        "delay",
        "delays",
        "wait",
        "waits",
        "interval",
        "intervals",
        "backoff schedule",
        "strategy",
        "retry delay",
        "spacing",
    ),
    "budget": (
        "budget",
        "total budget",
        "deadline",
        "total",
        "total time",
        "time budget",
        "overall timeout",
        "total timeout",
        "give up after",
        "max duration",
    ),
    "timeout": ("timeout", "attempt timeout", "per attempt timeout", "call timeout"),
    "trip": (
        "trip",
        "trips",
        "trip after",
        "trip threshold",
        "threshold",
        "open after",
        "opens after",
        "opens when",
        "failure threshold",
        "failures",
        "open when",
        "trip condition",
        "trigger",
        "trip when",
        "error threshold",
        "open on",
    ),
    "window": ("window", "sliding window", "period", "rolling window", "within"),
    "reset": (
        "reset",
        "reset after",
        "reset timeout",
        "cooldown",
        "cool down",
        "open for",
        "open duration",
        "half open after",
        "wait in open",
        "recovery",
        "retry after",
        "stays open",
        "sleep window",
        "break duration",
        "open time",
    ),
    "minimum_calls": ("minimum calls", "min calls", "minimum throughput", "volume threshold"),
    "half_open_probes": ("half open probes", "probes", "trial calls", "half open calls"),
    "max_concurrent": (
        "max concurrent",
        "concurrency",
        "max in flight",
        "in flight",
        "parallelism",
        "slots",
        "concurrent calls",
    ),
    "max_queued": ("max queued", "queue", "queue size", "queued", "waiting", "max waiting"),
    "limit": ("limit", "rate limit", "quota", "allowance", "requests per minute", "allowed rate"),
    "rate": ("rate", "permits"),
    "per": ("per", "period", "interval per"),
    "burst": ("burst", "burst size"),
    "algorithm": ("algorithm",),
    "primary": ("primary", "primary path", "normal", "normal path", "main", "preferred", "from"),
    "fallback": (
        "fallback",
        "fall back",
        "fallback path",
        "alternative",
        "degraded mode",
        "degraded",
        "secondary",
        "backup",
        "then",
        "to",
        "instead",
        "degraded path",
        "backup path",
        "alternative path",
        "falls back to",
    ),
    "user_sees": (
        "user sees",
        "users see",
        "user experience",
        "ux",
        "what user sees",
        "meanwhile",
        "user sees meanwhile",
        "shown to user",
        "user message",
        "impact",
        "customer experience",
        "what users see",
        "what customers see",
        "customer sees",
        "customers see",
        "visible to users",
    ),
    "notes": ("notes", "note", "comment", "comments", "why", "reason", "rationale"),
}

_FILLER = {
    "the",
    "a",
    "an",
    "of",
    "for",
    "to",
    "on",
    "how",
    "what",
    "is",
    "are",
    "and",
    "primary",
    "main",
    "key",
    "likely",
    "possible",
    "expected",
    "typical",
    "suggested",
    "recommended",
    "immediate",
    "short-term",
    "long-term",
    "initial",
    "potential",
    "known",
}
_LABEL = re.compile(
    r"^\s*(?:\*\*|__)?(?P<label>[#A-Za-z][\w &/+()'.-]{0,48}?)\s*(?:\*\*|__)?\s*:"
    r"(?:\s*(?:\*\*|__)(?=\s|$))?\s*(?P<value>.*)$",
    re.DOTALL,
)


def normalise_label(label: str) -> str:
    """Lower-case a label and drop markup, brackets and punctuation.

    >>> normalise_label("**Mitigation & Response:**")
    'mitigation and response'
    >>> normalise_label("Detection (how we know)")
    'detection'
    """
    text = re.sub(r"[*_`]", "", label).strip().rstrip(":").strip()
    text = re.sub(r"\([^)]*\)", " ", text)
    text = re.sub(r"\s*[&+/]\s*", " and ", text)
    text = re.sub(r"[^\w#\s-]", " ", text.lower())
    text = text.replace("-", " ") if text.replace("-", "").strip() else text
    return re.sub(r"\s+", " ", text).strip()


def _index(vocabulary: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {
        normalise_label(phrase): name for name, phrases in vocabulary.items() for phrase in phrases
    }


_INDEXES: dict[int, dict[str, str]] = {}


def _lookup(vocabulary: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    key = id(vocabulary)
    if key not in _INDEXES:
        _INDEXES[key] = _index(vocabulary)
    return _INDEXES[key]


def match_label(
    label: str, vocabulary: Mapping[str, tuple[str, ...]] = FAILURE_FIELDS, *, fuzzy: bool = True
) -> str | None:
    """The canonical field a label names, or ``None`` when it names none.

    >>> match_label("Trip threshold", POLICY_FIELDS)
    'trip'
    >>> match_label("Signals observed") is None
    True
    """
    fields = match_labels(label, vocabulary, fuzzy=fuzzy)
    return fields[0] if len(fields) == 1 else None


def match_labels(
    label: str, vocabulary: Mapping[str, tuple[str, ...]] = FAILURE_FIELDS, *, fuzzy: bool = True
) -> tuple[str, ...]:
    """All fields a label names: "Mitigation & Response" names two.

    >>> match_labels("Mitigation & Response")
    ('mitigation', 'response')
    >>> match_labels("Detection / Alerting")
    ('detection',)
    """
    norm = normalise_label(label)
    if not norm:
        return ()
    index = _lookup(vocabulary)
    if norm in index:
        return (index[norm],)
    if " and " in norm:
        parts = [match_label(part, vocabulary, fuzzy=fuzzy) for part in norm.split(" and ")]
        if None in parts:
            return ()
        return tuple(dict.fromkeys(part for part in parts if part is not None))
    words = [word for word in norm.split() if word not in _FILLER]
    if words and len(norm.split()) <= 4:
        stripped = " ".join(words)
        if stripped in index:
            return (index[stripped],)
    if fuzzy and len(norm) >= 5:
        close = difflib.get_close_matches(norm, list(index), n=1, cutoff=0.86)
        if close:
            return (index[close[0]],)
    return ()


def split_label(
    text: str, vocabulary: Mapping[str, tuple[str, ...]] = FAILURE_FIELDS
) -> tuple[str, str] | None:
    """Split "Label: value" when the label names a field; ``None`` otherwise.

    >>> split_label("**Mitigation:** retry with backoff")
    ('mitigation', 'retry with backoff')
    >>> split_label("Explicit compensation: catalog unregister") is None
    True
    """
    match = _LABEL.match(text)
    if match is None:
        return None
    name = match_label(match["label"], vocabulary)
    if name is None:
        return None
    return name, match["value"].strip()


# " - Blast radius:" inside a line, or "<br>**Response:**"; the label is checked afterwards.
_RUN_BREAK = re.compile(
    r"(?:<br\s*/?>\s*(?:[-–—•]\s+)?|\s[-–—•]\s+|(?<=[.;])\s+)"
    r"(?=(?:\*\*|__)?[A-Za-z][\w &/+()'-]{0,40}?(?:\*\*|__)?\s*:)"
)


def split_inline_run(text: str) -> list[str]:
    """Split "Detection: a. - Blast radius: b" into one piece per recognised label.

    A break is taken only where a known field label follows, so hyphens and colons
    inside ordinary text are left alone.

    >>> split_inline_run("Detection: lag > 30 s. - Blast radius: one tenant - Owner team: x")
    ['Detection: lag > 30 s.', 'Blast radius: one tenant - Owner team: x']
    >>> split_inline_run("**Mitigation:** retry.<br>**Response:** page on-call.")
    ['**Mitigation:** retry.', '**Response:** page on-call.']
    """
    pieces: list[str] = []
    start = 0
    for match in _RUN_BREAK.finditer(text):
        following = text[match.end() :]
        label = _LABEL.match(following)
        if label is None or match_label(label["label"]) is None:
            continue
        if match.group(0).strip() == "" and not _strong(label["label"]):
            continue  # a sentence break only counts before a clear field label
        pieces.append(text[start : match.start()].strip())
        start = match.end()
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


_STRONG = {
    "trigger",
    "symptom",
    "detection",
    "blast_radius",
    "user_impact",
    "mitigation",
    "manual",
    "runbook",
    "severity",
    "response",
}


def _strong(label: str) -> bool:
    return match_label(label) in _STRONG
