"""The service's own log: every event at WARNING or above as one JSON line in
``<data_dir>/logs/comms.jsonl``, stamped with the service clock (what the PII scanner
of comms.fm.11 reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mitigate

__all__ = ["JsonLog"]

_LOUD = {mitigate.Severity.WARNING, mitigate.Severity.ERROR, mitigate.Severity.CRITICAL}


class JsonLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._out = path.open("a", buffering=1)  # line-buffered: a line is whole or absent

    def __call__(self, event: Any) -> None:
        severity = event.severity or event.default_severity
        if severity not in _LOUD or self._out.closed:
            return
        fields = event.fields()
        fields["severity"] = severity.value
        self.write(fields)

    def write(self, entry: dict[str, Any]) -> None:
        self._out.write(json.dumps(entry, sort_keys=True, default=str) + "\n")

    def close(self) -> None:
        self._out.close()
