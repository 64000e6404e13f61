"""The JSON journal of a verification run: when and where it ran, every result with its
checks and timeline, and the mutation results, so a report can be rendered again later
(``mitigate report JOURNAL``) or compared across runs.

>>> from mitigate.chaos.experiment import ExperimentResult
>>> data = journal([ExperimentResult("shop", "shop.fm.1", "t", "chaos", "failed")])
>>> data["results"][0]["verdict"], data["summary"]
('failed', {'verified': 0, 'failed': 1, 'untested': 0, 'error': 0})

.. versionadded:: 0.1
"""

from __future__ import annotations

import json
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mitigate.chaos.experiment import RESOLUTION_DIGITS, ExperimentResult
from mitigate.chaos.mutate import MitigationVerdict, Mutant, mitigation_verdicts, verdicts_for
from mitigate.clock import machine_clock
from mitigate.errors import ConfigError

__all__ = [
    "VERDICTS",
    "Journal",
    "RunInfo",
    "journal",
    "now_iso",
    "read_journal",
    "write_journal",
]

SCHEMA = 2
VERDICTS = ("verified", "failed", "untested", "error")


@dataclass(slots=True)
class RunInfo:
    """Where and when a run happened. Times are the machine's (UTC), not virtual time."""

    started_at: str = ""
    ended_at: str = ""
    duration_s: float | None = None
    version: str = ""
    git_sha: str | None = None
    seed: int = 0
    platform: str = ""
    python: str = ""
    backend: str = "embedded"
    clock: str = "virtual"
    interrupted: bool = False
    only: list[str] = field(default_factory=list)

    @classmethod
    def here(cls, *, seed: int = 0, backend: str = "embedded", clock: str = "virtual") -> RunInfo:
        return cls(
            version=_version(),
            git_sha=_git_sha(),
            seed=seed,
            platform=platform.platform(),
            python=platform.python_version(),
            backend=backend,
            clock=clock,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "version": self.version,
            "git_sha": self.git_sha,
            "seed": self.seed,
            "platform": self.platform,
            "python": self.python,
            "backend": self.backend,
            "clock": self.clock,
            "interrupted": self.interrupted,
            "only": self.only,
        }


def now_iso() -> str:
    """The machine's time, for the journal's start and end (never experiment time)."""
    wall = machine_clock().wall()
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds")


@dataclass(slots=True)
class Journal:
    """A journal read back: its run, results and mitigation verdicts."""

    run: dict[str, Any]
    results: list[ExperimentResult]
    verdicts: list[MitigationVerdict]


def journal(
    results: Sequence[ExperimentResult],
    *,
    mutants: Sequence[Mutant] = (),
    backend: str | None = None,
    info: RunInfo | None = None,
) -> dict[str, Any]:
    """The journal as JSON-ready data. With ``mutants`` (``--mutate``), every result row
    says under ``mitigations`` whether each mitigation of its failure modes was shown
    necessary (``killed``, with the experiments that ``caught_by`` it) or not
    (``survived``), and ``mitigations`` at the top lists them all. Floats are rounded to
    the virtual clock's resolution (a microsecond)."""
    baseline = [r for r in results if r.mutation is None]
    summary = {v: sum(r.verdict == v for r in baseline) for v in VERDICTS}
    out: dict[str, Any] = {"schema": SCHEMA, "summary": summary}
    if info is not None:
        out["run"] = info.to_json()
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
    rounded: dict[str, Any] = _rounded(out)
    return rounded


def write_journal(
    path: Path,
    results: Sequence[ExperimentResult],
    *,
    mutants: Sequence[Mutant] = (),
    backend: str | None = None,
    info: RunInfo | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = journal(results, mutants=mutants, backend=backend, info=info)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def read_journal(path: Path) -> Journal:
    """A saved journal; a missing or unreadable file is a :class:`ConfigError`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        results = [ExperimentResult.from_json(row) for row in data["results"]]
        verdicts = [MitigationVerdict.from_json(v) for v in data.get("mitigations", [])]
    except FileNotFoundError as exc:
        raise ConfigError(str(path), "no such journal", code="MITIGATE.CONFIG.JOURNAL") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            str(path),
            f"not a mitigate journal ({type(exc).__name__}: {exc})",
            hint="give the verify.json that `mitigate verify` wrote",
            code="MITIGATE.CONFIG.JOURNAL",
        ) from exc
    run = data.get("run") or {"backend": data.get("backend", "embedded")}
    return Journal(run=run, results=results, verdicts=verdicts)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, RESOLUTION_DIGITS)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mitigate")
    except PackageNotFoundError:
        return "unknown"


def _git_sha() -> str | None:
    """The checkout's commit when run inside one; None otherwise (never an error)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.strip()
    return sha if done.returncode == 0 and len(sha) == 40 else None
