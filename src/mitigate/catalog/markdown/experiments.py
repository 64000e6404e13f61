"""Read a chaos-experiment sentence into the fields of an Experiment.

"Kill KMS for 30s mid-publish → verify retry + recovery" says which fault (a timed kill
is an outage window), where (``kms``), for how long, when, and what must hold. The
reading uses the sentence's shape (a fault verb, a target noun, "for <duration>", "mid-"
or "during", "verify ..."), not any one document's wording.

>>> fields = experiment_fields("Kill KMS for 30s mid-publish → verify retry + recovery.")
>>> for key, value in fields.items():
...     print(f"{key}: {value!r}")
title: 'Kill KMS for 30s mid-publish'
fault: 'outage'
target: 'kms'
duration: '30s'
when: 'mid-publish'
verify: ['retry + recovery']
>>> experiment_fields("Partition content ↔ catalog for 60s → verify compensation")["peer"]
'catalog'
>>> experiment_fields("AI-gateway 10s latency spike (verify UX degradation)")["latency"]
'10s'

.. versionadded:: 0.1
"""

from __future__ import annotations

import re
from typing import Any

from mitigate.catalog.markdown.text import DURATION_UNITS, clean, slug

__all__ = ["experiment_fields", "fault_kind"]

_DUR = rf"\d+(?:\.\d+)?\s*{DURATION_UNITS}(?![A-Za-z])"
_VERIFY = re.compile(
    r"\s*(?:[→⇒]|->|=>|[;,:]|—|–)\s*(?:then\s+)?(?:verify|verifies|expect|expects|check|assert|"
    r"ensure|confirm)\b:?\s*(?P<v>.*)$"
    r"|\s*\(\s*(?:verify|expect|check|assert|ensure|confirm)\b:?\s*(?P<p>[^)]*)\)\s*\.?\s*$",
    re.I,
)
# Fault words, most specific first: "10s latency spike" is latency even if "kill" follows.
_FAULTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("partition", re.compile(r"\bpartition\w*|\bnetwork split|\bisolate\b|↔|<->", re.I)),
    ("drop", re.compile(r"\bdrop\w*|\bpacket loss|\blose\s+\d|\bdiscard\w*", re.I)),
    ("corrupt", re.compile(r"\bcorrupt\w*|\bbit[- ]?flip\w*|\btamper\w*|\bgarble\w*", re.I)),
    ("latency", re.compile(r"\blatency|\bslow\w*|\bdelay\w*|\bjitter\b|\blag\b", re.I)),
    ("failover", re.compile(r"\bfail[- ]?over\b|\bswitchover\b|\bpromot\w*", re.I)),
    (
        "kill",
        re.compile(r"\bkill\w*|\bterminat\w*|\bcrash\w*|\bevict\w*|\brestart\w*|\bOOM\b", re.I),
    ),
    (
        "outage",
        re.compile(
            r"\boutage\b|\bdown\b|\bunavailab\w*|\bblack-?hole\w*|\bshut\w*|\bunreachable\b|"
            r"\bstop\w*|\bdisabl\w*|\btake\s+\w+\s+offline|\boffline\b",
            re.I,
        ),
    ),
    (
        "error",
        re.compile(
            r"\bfail\w*|\berror\w*|\b5xx\b|\bexception\w*|\breject\w*|\bthrottl\w*|\b[45]\d\d\b",
            re.I,
        ),
    ),
)
_STOP = {
    "a",
    "an",
    "the",
    "of",
    "random",
    "each",
    "every",
    "all",
    "some",
    "one",
    "at",
    "to",
    "on",
    "in",
    "into",
    "for",
    "inject",
    "injects",
    "injecting",
    "with",
    "from",
    "between",
    "and",
    "primary",
    "its",
    "any",
    "single",
    "whole",
    "entire",
    "both",
}
_VERBS = {
    "add",
    "adds",
    "take",
    "takes",
    "return",
    "returns",
    "inject",
    "introduce",
    "make",
    "force",
    "simulate",
    "cause",
    "trigger",
    "induce",
    "send",
    "fill",
    "spike",
    "spikes",
    "burst",
    "remove",
    "delete",
    "flood",
    "saturate",
    "exhaust",
    "revoke",
    "expire",
    "rotate",
    "pause",
    "freeze",
    "block",
    "cut",
    "break",
    "flip",
    "mid",
    "node",
    "pod",
    "instance",
}
_WHEN = re.compile(
    r"\b(?P<w>mid-[\w-]+|(?:during|while|whilst|amid)\s+[^,;()→]+?)(?=\s*(?:[,;(→]|$))", re.I
)
_FOR = re.compile(rf"\bfor\s+(?:a\s+|the\s+)?(?P<d>{_DUR})", re.I)
_LATENCY = re.compile(
    rf"(?P<d>{_DUR})\s+(?:of\s+)?(?:added\s+)?(?:latency|delay|lag|slowdown)"
    rf"|(?:latency|delay|lag)\s+(?:of\s+|by\s+)?(?P<e>{_DUR})",
    re.I,
)
_RATE = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*%")
_PAIR = re.compile(r"(?P<a>[\w.-]+)\s*(?:↔|<->|<=>|/|and|from)\s*(?P<b>[\w.-]+)", re.I)


def fault_kind(text: str) -> str:
    """The fault kind a sentence names; a kill with a duration is an outage window.

    >>> fault_kind("Kill collab pod during edit session"), fault_kind("Kill KMS for 30s")
    ('kill', 'outage')
    >>> fault_kind("Sing a song")
    'custom'
    """
    for kind, pattern in _FAULTS:
        if pattern.search(text):
            if kind == "kill" and _FOR.search(text):
                return "outage"
            return kind
    return "custom"


def _is_fault_word(token: str) -> bool:
    for _, pattern in _FAULTS:
        match = pattern.match(token)
        if match is not None and match.end() == len(token):
            return True
    return False


def _target_after(words: list[str]) -> str | None:
    """The first word that is not a verb, a fault word, a number or filler: the target."""
    for word in words:
        token = word.strip(".,;:()[]`*\"'")
        lower = token.lower()
        if (
            not token
            or lower in _STOP
            or lower in _VERBS
            or re.fullmatch(r"\d+(?:\.\d+)?%?", token)
        ):
            continue
        if re.fullmatch(_DUR, token, re.I) or _is_fault_word(token):
            continue
        return slug(token) or None
    return None


def experiment_fields(text: str) -> dict[str, Any]:
    """Experiment fields (without id and source) read from one sentence."""
    sentence = clean(text).rstrip(".")
    verify: list[str] = []
    match = _VERIFY.search(sentence)
    title = sentence
    if match is not None:
        found = (match["v"] or match["p"] or "").strip().rstrip(".")
        if found:
            verify.append(found)
        title = sentence[: match.start()].strip()
    out: dict[str, Any] = {"title": title, "fault": fault_kind(title)}
    kind = out["fault"]

    target: str | None = None
    if kind == "partition":
        pair = _PAIR.search(re.sub(r"^\s*\w+\s+|\bbetween\s+", "", title, count=1))
        if pair is not None:
            target, out["peer"] = slug(pair["a"]), slug(pair["b"])
    if target is None:
        target = _target_after(title.split())
    if target:
        out["target"] = target
    duration = _FOR.search(title)
    if duration is not None:
        out["duration"] = clean(duration["d"])
    if kind == "latency":
        latency = _LATENCY.search(title)
        if latency is not None:
            out["latency"] = clean(latency["d"] or latency["e"])
    if kind in ("drop", "error", "corrupt"):
        rate = _RATE.search(title)
        if rate is not None:
            out["rate"] = float(rate["n"]) / 100.0
    when = _WHEN.search(title)
    if when is not None:
        out["when"] = clean(when["w"])
    out["verify"] = verify
    return out
