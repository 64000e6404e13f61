"""``python -m services.edge.kv_lint CATALOG``: refuse a catalog that puts a strongly
consistent operation on KV (edge.fm.2.3b). Exit 0 when accepted, 1 with one line per
refusal naming the catalog entry."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from .domain.consistency import refusals

__all__ = ["lint_catalog", "main"]

ROW = "edge.fm.2.3b"


def lint_catalog(path: Path, *, switches: Any = None) -> list[str]:
    """The refusals of the catalog at ``path`` (``switches``: the mutation can turn the
    lint off, and then it accepts anything)."""
    if switches is not None and not switches.enabled("edge.switch.kv-lint"):
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for row in data.get("failure_modes") or ():
        if row.get("id") == ROW:
            details = {str(k): str(v) for k, v in (row.get("details") or {}).items()}
            return [f"{path.name}: {ROW}: {why}" for why in refusals(details)]
    return []


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m services.edge.kv_lint CATALOG", file=sys.stderr)
        return 2
    found = lint_catalog(Path(args[0]))
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
