"""The JSON journal of a verification run: every result with its checks and timeline,
so a report can be rendered again later or compared across runs.

>>> from mitigate.chaos.experiment import ExperimentResult
>>> data = journal([ExperimentResult("shop", "shop.fm.1", "t", "chaos", "failed")])
>>> data["results"][0]["verdict"], data["summary"]
('failed', {'verified': 0, 'failed': 1, 'error': 0})

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mitigate.chaos.experiment import ExperimentResult

__all__ = ["journal", "write_journal"]

SCHEMA = 1


def journal(results: Sequence[ExperimentResult], *, mutants: Sequence[Any] = ()) -> dict[str, Any]:
    summary = {v: sum(r.verdict == v for r in results) for v in ("verified", "failed", "error")}
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "summary": summary,
        "results": [r.to_json() for r in results],
    }
    if mutants:
        out["mutants"] = [m.to_json() for m in mutants]
    return out


def write_journal(
    path: Path, results: Sequence[ExperimentResult], *, mutants: Sequence[Any] = ()
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(journal(results, mutants=mutants), indent=2, default=str) + "\n")
