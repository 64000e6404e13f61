"""The log PII scanner: protected keys and phone/email-shaped values are found and
redacted in place; dates, ids and numbers are not findings; each line is scanned once."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from services.comms.log_scan import LogScanner

import mitigate


class _On:
    def enabled(self, name: str) -> bool:
        return True


def _scanner(folder: Path, events: list[Any], notices: list[tuple[Any, ...]]) -> LogScanner:
    async def notice(*args: Any) -> None:
        notices.append(args)

    runtime = SimpleNamespace(clock=mitigate.VirtualClock(), switches=_On(), emit=events.append)
    return LogScanner(runtime, folder=folder, switch="s", notice=notice)


async def test_finds_redacts_and_moves_on(tmp_path: Path) -> None:
    log = tmp_path / "comms.jsonl"
    clean = {"event": "x", "at": "2026-12-04T22:10:00Z", "id": "d-0123456789abcdef", "n": 15550123}
    lines = [
        clean,
        {"event": "y", "patientName": "Ada Lovelace"},
        {"event": "z", "note": "call +1 555 0123 or ada@example.org"},
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    events: list[Any] = []
    notices: list[tuple[Any, ...]] = []
    scanner = _scanner(tmp_path, events, notices)
    found = await scanner.scan()
    assert [(f["line"], f["paths"]) for f in found] == [(2, ["patientName"]), (3, ["note"])]
    text = log.read_text()
    assert "Ada Lovelace" not in text and "555 0123" not in text and "example.org" not in text
    assert json.loads(text.splitlines()[0]) == clean
    assert [e.line for e in events] == [2, 3] and len(notices) == 2
    with log.open("a") as out:
        out.write(json.dumps({"event": "w", "email": "bob@example.org"}) + "\n")
    again = await scanner.scan()
    assert [(f["line"], f["paths"]) for f in again] == [(4, ["email"])]
