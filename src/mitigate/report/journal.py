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
from mitigate.chaos.mutate import Mutant, mitigation_verdicts, verdicts_for

__all__ = ["journal", "write_journal"]

SCHEMA = 1


def journal(
    results: Sequence[ExperimentResult],
    *,
    mutants: Sequence[Mutant] = (),
    backend: str | None = None,
) -> dict[str, Any]:
    """The journal as JSON-ready data. With ``mutants`` (``--mutate``), every result row
    says under ``mitigations`` whether each mitigation of its failure modes was shown
    necessary (``killed``, with the experiments that ``caught_by`` it) or not
    (``survived``), and ``mitigations`` at the top lists them all."""
    summary = {v: sum(r.verdict == v for r in results) for v in ("verified", "failed", "error")}
    out: dict[str, Any] = {"schema": SCHEMA, "summary": summary}
    if backend is not None:
        out["backend"] = backend
    verdicts = mitigation_verdicts(mutants)
    rows = []
    for r in results:
        row = r.to_json()
        if mutants and r.mutation is None:
            row["mitigations"] = [v.to_json() for v in verdicts_for(r, verdicts)]
        rows.append(row)
    out["results"] = rows
    if mutants:
        out["mutants"] = [m.to_json() for m in mutants]
        out["mitigations"] = [v.to_json() for v in verdicts]
    return out


def write_journal(
    path: Path,
    results: Sequence[ExperimentResult],
    *,
    mutants: Sequence[Mutant] = (),
    backend: str | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = journal(results, mutants=mutants, backend=backend)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
