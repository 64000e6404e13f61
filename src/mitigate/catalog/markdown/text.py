"""Small readers for values found in documents: runbook paths, durations, target names.

>>> runbook_paths("none in standard case; runbooks/db-failover.mdfor confirmation steps.")
['runbooks/db-failover.md']
>>> leading_duration("15 min total")
('15 min', 'total')
>>> target_name("ai-gateway (for assistant config)")
('ai-gateway', 'for assistant config')
>>> target_name("KMS sign")
('kms.sign', '')

.. versionadded:: 0.1
"""

from __future__ import annotations

import re

__all__ = [
    "DURATION_UNITS",
    "clean",
    "draft_title",
    "leading_duration",
    "runbook_paths",
    "slug",
    "strip_emphasis",
    "target_name",
]

DURATION_UNITS = (
    r"(?:ms|msec|millis(?:econds?)?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)"
)
_LEADING_DURATION = re.compile(rf"^\s*(\d+(?:\.\d+)?\s*{DURATION_UNITS})(?![A-Za-z])\s*(.*)$", re.S)
# A path ending in .md (or a URL): stops at the first ".md", so "x.mdfor" yields "x.md".
_PATH = re.compile(r"https?://[^\s)\]>]+|(?:[\w.-]+/)*[\w.-]+?\.md", re.IGNORECASE)
_RUNBOOKISH = re.compile(r"runbook|playbook|^https?://", re.IGNORECASE)


def clean(text: str) -> str:
    """Collapse whitespace and trim.

    >>> clean("  a \\n b ")
    'a b'
    """
    return re.sub(r"\s+", " ", text).strip()


def strip_emphasis(text: str) -> str:
    """Drop bold/italic/code wrapping around a whole value.

    >>> strip_emphasis("**Uncaught Exception**")
    'Uncaught Exception'
    """
    value = text.strip()
    for mark in ("**", "__", "`", "*", "_"):
        if len(value) > 2 * len(mark) and value.startswith(mark) and value.endswith(mark):
            inner = value[len(mark) : -len(mark)]
            if mark not in inner:
                value = inner.strip()
    return value


def runbook_paths(text: str, *, anywhere: bool = False) -> list[str]:
    """Paths of runbooks named in ``text``.

    Without ``anywhere`` only paths that look like runbooks (a ``runbooks/`` folder, a
    playbook, a URL) count, so a mitigation that mentions ``README.md`` is not a runbook.

    >>> runbook_paths("see [runbook](https://wiki/ops/db) or runbooks/a.md")
    ['https://wiki/ops/db', 'runbooks/a.md']
    >>> runbook_paths("db-failover.mdpublish-conflict.md", anywhere=True)
    ['db-failover.md', 'publish-conflict.md']
    """
    found: list[str] = []
    for match in _PATH.finditer(text):
        path = match.group(0).rstrip(".,;:)]>'\"`")
        if not anywhere and not _RUNBOOKISH.search(path):
            continue
        if path not in found:
            found.append(path)
    return found


def leading_duration(text: str) -> tuple[str, str] | None:
    """A duration at the start of ``text`` (kept as written) and what follows it.

    >>> leading_duration("15min (saga timeout)")
    ('15min', '(saga timeout)')
    >>> leading_duration("soon") is None
    True
    """
    match = _LEADING_DURATION.match(text)
    if match is None:
        return None
    return match[1].strip(), match[2].strip()


def slug(text: str) -> str:
    """Lower-case words joined by dashes.

    >>> slug("Publish Saga / step 2!")
    'publish-saga-step-2'
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


def target_name(text: str) -> tuple[str, str]:
    """A target name (``area.operation``) for a row label, and any bracketed note.

    A label already written as a name (``kms.sign``, ``media-service``) is kept. Otherwise
    the last word is the operation and the words before it the area.

    >>> target_name("Publish saga step")
    ('publish-saga.step', '')
    >>> target_name("`kms.sign`")
    ('kms.sign', '')
    """
    value = strip_emphasis(text.strip())
    note = ""
    bracket = re.search(r"\s*\(([^)]*)\)\s*", value)
    if bracket is not None:
        note = bracket[1].strip()
        value = (value[: bracket.start()] + " " + value[bracket.end() :]).strip()
    value = value.strip("` ")
    if _NAME.match(value):
        return value, note
    words = [slug(word) for word in value.split()]
    words = [word for word in words if word]
    if not words:
        return slug(text) or "unnamed", note
    if len(words) == 1:
        return words[0], note
    return "-".join(words[:-1]) + "." + words[-1], note


def draft_title(text: str, *, limit: int = 70) -> str:
    """A short title drafted from a sentence (a symptom or a cause).

    >>> draft_title("Block references media asset that was deleted.")
    'Block references media asset that was deleted'
    >>> draft_title("WebSocket drops; client reconnects to new pod with stale state.")
    'WebSocket drops'
    """
    value = clean(strip_emphasis(text))
    for stop in ("; ", ". ", " — ", " - ", ": "):
        head = value.split(stop, 1)[0]
        if len(head) >= 8:
            value = head
            break
    value = value.rstrip(" .;,:")
    if len(value) > limit:
        cut = value[:limit].rsplit(" ", 1)[0]
        value = cut.rstrip(" .;,:")
    return value
