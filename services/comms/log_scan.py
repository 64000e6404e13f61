"""The periodic PII scanner of the service's own logs (comms.fm.11, second detection).

The service writes its log as JSON lines under ``<data_dir>/logs``. Every run reads what
was appended since the last one and looks, in every line, for protected keys with a
value (the push payload's list: ``patientName``, ``messageText``, ``phone``...) and for
values shaped like a phone number or an email address. A finding is redacted in place
(the value replaced, the line kept), raises ``comms.log_pii_found`` naming the file,
line and path (never the value) and an internal-ops notice. The dispatch log is not
scanned: it is the delivery record, which holds recipients by design (and is erased per
subject, comms.fm.15).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import mitigate
from mitigate.guard import REDACTED, find_protected, redact

from .domain.privacy import PUSH_PROTECTED

__all__ = ["LogPiiFound", "LogScanner"]

log = logging.getLogger("services.comms.log_scan")

_SHAPES = {
    # E.164-looking numbers only (a leading +): dates and ids are digits and dashes too.
    "phone": re.compile(r"(?<![\w.])\+\d[\d ()-]{6,}\d"),
    "email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LogPiiFound(mitigate.Event):
    """Protected data found in a log line (target ``logs.<file>``); the value is not here."""

    name: ClassVar[str] = "comms.log_pii_found"
    default_severity: ClassVar[mitigate.Severity] = mitigate.Severity.CRITICAL
    file: str = ""
    line: int = 0
    paths: tuple[str, ...] = ()


def _shaped(value: Any, path: str = "") -> list[str]:
    """Paths of string values that look like a phone number or an email address."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _shaped(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _shaped(v, f"{path}[{i}]")]
    if isinstance(value, str) and any(s.search(value) for s in _SHAPES.values()):
        return [path or "$"]
    return []


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        for shape in _SHAPES.values():
            value = shape.sub(REDACTED, value)
    return value


class LogScanner:
    def __init__(self, runtime: Any, *, folder: Path, switch: str, notice: Any) -> None:
        self.runtime = runtime
        self.clock = runtime.clock
        self.folder = folder
        self.switch = switch
        self.notice = notice  # async (tenant, code, subject, message, runbook)
        self.offsets: dict[str, int] = {}
        self.findings: list[dict[str, Any]] = []

    def _on(self) -> bool:
        return bool(self.runtime.switches.enabled(self.switch))

    async def scan(self) -> list[dict[str, Any]]:
        """Scan what the logs gained since the last run; redact and report each finding."""
        if not self._on() or not self.folder.is_dir():
            return []
        found: list[dict[str, Any]] = []
        for path in sorted(self.folder.glob("*.jsonl")):
            found += self._scan_file(path)
        for finding in found:
            await self._report(finding)
        self.findings += found
        return found

    def _scan_file(self, path: Path) -> list[dict[str, Any]]:
        """The new lines' findings; the file rewritten with those lines redacted."""
        text = path.read_text()
        start = self.offsets.get(path.name, 0)
        if start > len(text):
            start = 0  # rotated or truncated: scan it whole
        lines = text[start:].splitlines(keepends=True)
        found: list[dict[str, Any]] = []
        kept: list[str] = []
        number = text[:start].count("\n")
        for raw in lines:
            number += 1
            try:
                entry = json.loads(raw)
            except ValueError:
                kept.append(raw)
                continue
            paths = sorted(set(find_protected(entry, PUSH_PROTECTED)) | set(_shaped(entry)))
            if not paths:
                kept.append(raw)
                continue
            kept.append(json.dumps(_scrub(redact(entry, PUSH_PROTECTED)), sort_keys=True) + "\n")
            found.append({"file": path.name, "line": number, "paths": paths})
        if found:
            # Rewritten in place, not replaced: the writer appends to this same inode.
            path.write_text(text[:start] + "".join(kept))
            text = path.read_text()
        self.offsets[path.name] = len(text)
        return found

    async def _report(self, finding: dict[str, Any]) -> None:
        self.runtime.emit(
            LogPiiFound(
                target=f"logs.{finding['file']}",
                at=self.clock.now(),
                file=finding["file"],
                line=finding["line"],
                paths=tuple(finding["paths"]),
            )
        )
        await self.notice(
            "-",
            "COMMS.LOG.PII",
            f"{finding['file']}:{finding['line']}",
            f"protected data in the service log ({', '.join(finding['paths'])}); redacted",
            "runbooks/push-phi-leak.md",
        )

    async def run(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            await self.clock.asleep(every)
            try:
                await self.scan()
            except Exception:
                log.exception("log PII scan failed; the next run retries")
